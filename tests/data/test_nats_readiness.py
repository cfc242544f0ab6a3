"""NATS readiness in real nats-servers (the image's version where the pinned wheel is installed):
production's three members started with the rendered config and the pod's environment; with two
of them stopped, the survivor still answers the probes' check (`READY_PATH`) and still carries
core NATS messages between its clients, so it stays in the Service."""

from __future__ import annotations

import os
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from components.data.nats import READY_PATH
from tests.data.certificates import authority, leaf
from tests.data.test_nats_route_tls import member_conf
from tests.data.test_nats_server import (
    free_port,
    login,
    route_certificate_spec,
    server_environment,
    talk,
    wait_for_port,
    wait_routes,
)
from tests.data.test_nats_values import nats_server
from tests.support import config_file
from tools.golden import variant_overrides
from tools.offline import StackRun


def status(monitor: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{monitor}{path}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_the_probes_check_plain_messaging(stack_run: Callable[..., StackRun]) -> None:
    nats = stack_run("production").find("StatefulSet", "nats")["spec"]["template"]["spec"]
    server = nats["containers"][0]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert server[probe]["httpGet"]["path"] == READY_PATH, probe
    exporter = nats["containers"][1]
    assert exporter["readinessProbe"] == {
        "tcpSocket": {"port": "metrics"},
        "periodSeconds": 10,
        "failureThreshold": 3,
    }
    memory = {e["name"]: e.get("value") for e in server["env"]}["GOMEMLIMIT"]
    assert int(memory) == int(2**30 * 0.9)  # production's 1Gi limit


def test_a_member_whose_peers_are_down_stays_ready(
    stack_run: Callable[..., StackRun], tmp_path: Path
) -> None:
    run = stack_run("production", variant_overrides("production", "cloud-none"))
    conf = config_file(run, "nats", "nats.conf")
    ports = [(free_port(), free_port(), free_port()) for _ in range(3)]
    ca = authority(tmp_path / "ca", "route-ca")
    servers = []
    env = {}
    try:
        for index in range(3):
            env = server_environment(run, f"nats-{index}")
            tls = leaf(tmp_path / f"nats-{index}-tls", ca, route_certificate_spec(run))
            path = tmp_path / f"nats-{index}.conf"
            path.write_text(member_conf(conf, ports, index, tls))
            servers.append(
                subprocess.Popen(
                    [nats_server(), "-c", str(path)],
                    env={**os.environ, **env},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for client, _, _ in ports:
            wait_for_port(client)
        assert wait_routes(ports[0][1]) >= 1
        assert all(status(monitor, READY_PATH) == 200 for _, monitor, _ in ports)
        for member in servers[1:]:
            member.terminate()
            member.wait(timeout=10)
        client, monitor, _ = ports[0]
        assert status(monitor, READY_PATH) == 200
        # Still a message bus: the websocket service receives what api publishes.
        with socket.create_connection(("127.0.0.1", client), timeout=5) as subscriber:
            subscriber.recv(4096)  # INFO
            websocket = login("websocket", env["NATS_WEBSOCKET_PASSWORD_A"])
            subscriber.sendall(f"{websocket}\r\nSUB todos.events 1\r\nPING\r\n".encode())
            received = b""
            while b"PONG" not in received:
                received += subscriber.recv(4096)
            api = login("api", env["NATS_API_PASSWORD_A"])
            assert "-ERR" not in talk(client, api, "PUB todos.events 2", "hi")
            while b"MSG todos.events 1 2" not in received:
                received += subscriber.recv(4096)
    finally:
        for member in servers:
            member.terminate()
            member.wait(timeout=10)
