"""NATS routes over mutual TLS in real nats-servers (the image's version where the pinned wheel is
installed): production's three members, each started with the rendered nats.conf and the pod's
environment, and a route certificate made for the rendered Certificate and signed by the test's
CA (`tests.data.certificates`). A message published on one member reaches a subscriber on
another; a member presenting a certificate of another CA is refused by every member; a member
restarted with a new certificate of the same CA (a renewal, then Reloader's restart) routes again
at once, while its peers still present their old ones.

What nats-server does with the cluster `tls` block, at v2.11.8 (the image's): `server/opts.go`
`getTLSConfig` requires and verifies the peer's certificate for routes, as server and as client,
against `ca_file`; `server/client.go` `doTLSHandshake` refuses the route when the handshake fails.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from components.data.nats import ROUTE_TLS_DIR
from tests.data.certificates import Authority, authority, leaf
from tests.data.test_nats_server import (
    free_port,
    login,
    on_ports,
    route_certificate_spec,
    server_environment,
    talk,
    wait_for_port,
)
from tests.data.test_nats_values import nats_server
from tests.support import config_file
from tools.golden import variant_overrides
from tools.offline import StackRun

Ports = tuple[int, int, int]
"""A member's client, monitoring and cluster ports."""


def member_conf(conf: str, ports: list[Ports], member: int, tls: Path) -> str:
    """The rendered config for `member`: its ports on loopback, each route URL pointing at that
    peer's loopback cluster port, the route certificate read from `tls`."""
    client, monitor, cluster = ports[member]
    conf = on_ports(conf, client, monitor, cluster)
    conf = re.sub(
        r"nats://nats-(\d+)\.nats-headless\.[^:\s]+:6222",
        lambda match: f"nats://127.0.0.1:{ports[int(match.group(1))][2]}",
        conf,
    )
    assert ROUTE_TLS_DIR in conf
    return conf.replace(ROUTE_TLS_DIR, str(tls))


def peers(monitor: int) -> set[str]:
    """The names of the members the server at `monitor` has routes to (`/routez`)."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/routez", timeout=2) as response:
        return {route["remote_name"] for route in json.load(response)["routes"] or []}


def wait_peers(monitor: int, expected: set[str], deadline: float = 15.0) -> set[str]:
    end = time.monotonic() + deadline
    found = peers(monitor)
    while found != expected and time.monotonic() < end:
        time.sleep(0.2)
        found = peers(monitor)
    return found


class Cluster:
    """Production's members on loopback, each with its own route certificate directory."""

    def __init__(self, run: StackRun, directory: Path, members: int = 3) -> None:
        self.run, self.directory = run, directory
        self.conf = config_file(run, "nats", "nats.conf")
        self.spec = route_certificate_spec(run)
        self.ports = [(free_port(), free_port(), free_port()) for _ in range(members + 1)]
        self.servers: dict[int, subprocess.Popen[bytes]] = {}
        self.env = server_environment(run, "nats-0")

    def certificate(self, member: int, ca: Authority, name: str) -> Path:
        return leaf(self.directory / f"nats-{member}-{name}", ca, self.spec)

    def start(self, member: int, tls: Path) -> None:
        path = self.directory / f"nats-{member}.conf"
        path.write_text(member_conf(self.conf, self.ports, member, tls))
        env = server_environment(self.run, f"nats-{member}")
        self.servers[member] = subprocess.Popen(
            [nats_server(), "-c", str(path)],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.ports[member][0])

    def stop(self, member: int) -> None:
        server = self.servers.pop(member)
        server.terminate()
        server.wait(timeout=10)

    def monitor(self, member: int) -> int:
        return self.ports[member][1]

    def client(self, member: int) -> int:
        return self.ports[member][0]


@contextmanager
def cluster(run: StackRun, directory: Path) -> Iterator[Cluster]:
    found = Cluster(run, directory)
    try:
        yield found
    finally:
        for member in list(found.servers):
            found.stop(member)


def delivered(members: Cluster, publisher: int, subscriber: int) -> bool:
    """A message api publishes on `publisher` reaches the websocket service subscribed on
    `subscriber` (core NATS, carried over the route between them)."""
    env = members.env
    with socket.create_connection(("127.0.0.1", members.client(subscriber)), timeout=5) as sub:
        sub.recv(4096)  # INFO
        websocket = login("websocket", env["NATS_WEBSOCKET_PASSWORD_A"])
        sub.sendall(f"{websocket}\r\nSUB todos.events 1\r\nPING\r\n".encode())
        received = b""
        while b"PONG" not in received:
            received += sub.recv(4096)
        # The subscription reaches the publisher's member through the route: publish until it
        # arrives (interest propagates in milliseconds) or give up.
        sub.settimeout(0.5)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            api = login("api", env["NATS_API_PASSWORD_A"])
            assert "-ERR" not in talk(members.client(publisher), api, "PUB todos.events 2", "hi")
            try:
                received += sub.recv(4096)
            except TimeoutError:
                continue
            if b"MSG todos.events 1 2" in received:
                return True
    return False


def test_routes_over_tls_carry_messages_refuse_another_ca_and_survive_a_renewal(
    stack_run: Callable[..., StackRun], tmp_path: Path
) -> None:
    run = stack_run("production", variant_overrides("production", "cloud-none"))
    with cluster(run, tmp_path) as members:
        ca = authority(tmp_path / "ca", "route-ca")
        for member in range(3):
            members.start(member, members.certificate(member, ca, "first"))
        everyone = {f"nats-{member}" for member in range(3)}
        for member in range(3):
            assert wait_peers(members.monitor(member), everyone - {f"nats-{member}"}) == (
                everyone - {f"nats-{member}"}
            ), member
        assert delivered(members, publisher=0, subscriber=2)

        # A fourth server with the same config whose certificate another CA signed: it trusts
        # the members' CA, but they refuse it, and it never joins.
        other = authority(tmp_path / "other-ca", "other-ca")
        intruder = members.certificate(3, other, "other")
        (intruder / "ca.crt").write_bytes(ca.certificate.read_bytes())
        members.start(3, intruder)
        time.sleep(3)  # several connect attempts (a refused route is retried each second)
        assert peers(members.monitor(3)) == set()
        for member in range(3):
            assert "nats-3" not in peers(members.monitor(member)), member
        members.stop(3)

        # Renewal: member 1 restarts with a new certificate (new key) from the same CA, while
        # 0 and 2 still present their first ones; every route comes back.
        members.stop(1)
        members.start(1, members.certificate(1, ca, "renewed"))
        for member in range(3):
            expected = everyone - {f"nats-{member}"}
            assert wait_peers(members.monitor(member), expected) == expected, member
        assert delivered(members, publisher=1, subscriber=0)
        assert delivered(members, publisher=2, subscriber=1)


def test_a_member_without_a_certificate_of_the_ca_is_refused_both_ways(
    stack_run: Callable[..., StackRun], tmp_path: Path
) -> None:
    """A member trusting only another CA (a CA replaced in one go, README "NATS route
    certificates") neither accepts the others' routes nor is accepted: why a CA key change is a
    procedure of its own."""
    run = stack_run("production", variant_overrides("production", "cloud-none"))
    with cluster(run, tmp_path) as members:
        ca, other = authority(tmp_path / "ca", "route-ca"), authority(tmp_path / "o", "other")
        members.start(0, members.certificate(0, ca, "first"))
        members.start(1, members.certificate(1, other, "other"))
        time.sleep(3)
        assert peers(members.monitor(0)) == set() and peers(members.monitor(1)) == set()
