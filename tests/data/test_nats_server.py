"""The NATS config in a real `nats-server`: `-t` on every stack's config, and live servers started
by the test that refuse anonymous clients, clients outside their subjects and unauthenticated
routes, with the environment the StatefulSet really gives them (passwords from `webapp-nats`)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import unquote_plus, urlsplit

import pytest

from components.config.catalogue import NATS_USERS
from components.data.nats import ROUTE_TLS_DIR, password_variable
from components.data.nats_tls import ROUTE_CERTIFICATE
from components.secrets.catalogue import NATS
from tests.data.certificates import authority, leaf
from tests.support import STACKS, config_file, program
from tools.golden import variant_overrides
from tools.offline import StackRun


def server_environment(run: StackRun, pod_name: str = "nats-0") -> dict[str, str]:
    """The nats container's environment as the kubelet builds it: `secretKeyRef`s resolved from
    the stack's `webapp-nats` (mock values), `$(VAR)` expanded from the variables before it."""
    objects = run.kubernetes_objects(reveal=True)
    secret = next(
        (o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == NATS.name), None
    )
    assert secret is not None, "run a cloud: none stack (its Secrets hold the values)"
    nats = next(
        o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "nats"
    )
    container = nats["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for variable in container["env"]:
        source = variable.get("valueFrom") or {}
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            assert ref["name"] == NATS.name
            env[variable["name"]] = secret["stringData"][ref["key"]]
        elif "fieldRef" in source:
            env[variable["name"]] = pod_name
        else:
            env[variable["name"]] = re.sub(
                r"\$\(([A-Z0-9_]+)\)", lambda m: env[m.group(1)], variable["value"]
            )
    return env


def route_certificate_spec(run: StackRun) -> dict[str, Any]:
    """The rendered members' Certificate (`data.nats_tls`)."""
    return dict(run.find("Certificate", ROUTE_CERTIFICATE)["spec"])


def with_route_certificates(run: StackRun, conf: str, directory: Path) -> str:
    """`conf` reading its route certificate (when clustered) from `directory`, where a leaf for
    the rendered Certificate, signed by a CA of the test's, is written as cert-manager writes
    the Secret."""
    if ROUTE_TLS_DIR not in conf:
        return conf
    ca = authority(directory / "ca", "route-ca")
    files = leaf(directory / "route-tls", ca, route_certificate_spec(run))
    return conf.replace(ROUTE_TLS_DIR, str(files))


@pytest.mark.parametrize("stack", STACKS)
def test_nats_server_accepts_the_config(
    stack: str, stack_run: Callable[..., StackRun], tmp_path: Path
) -> None:
    nats = program("nats-server")
    run = stack_run(stack, variant_overrides(stack, "cloud-none"))
    conf = with_route_certificates(run, config_file(run, "nats", "nats.conf"), tmp_path)
    (tmp_path / "nats.conf").write_text(conf)
    result = subprocess.run(
        [nats, "-t", "-c", str(tmp_path / "nats.conf")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **server_environment(run)},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_nats_is_a_cluster_without_jetstream(stack_run: Callable[..., StackRun]) -> None:
    conf = config_file(stack_run("production"), "nats", "nats.conf")
    assert "jetstream" not in conf and "cluster {" in conf
    assert len(re.findall(r"nats://nats-\d\.nats-headless\.", conf)) == 3
    # Routes authenticate by certificate: no route user or password (one value at a time).
    assert "authorization {user: route" not in conf and "verify: true" in conf


def test_nats_server_rejects_a_broken_config(tmp_path: Path) -> None:
    nats = program("nats-server")
    (tmp_path / "nats.conf").write_text("listen: 0.0.0.0:4222\ncluster { routes: [ }\n")
    result = subprocess.run(
        [nats, "-t", "-c", str(tmp_path / "nats.conf")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0


# --- live servers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def on_ports(conf: str, client: int, monitor: int, cluster: int) -> str:
    """The deployed config, listening on loopback ports of the test's choosing."""
    conf = conf.replace("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{client}")
    conf = conf.replace("http: 0.0.0.0:8222", f"http: 127.0.0.1:{monitor}")
    return conf.replace("listen: 0.0.0.0:6222", f"listen: 127.0.0.1:{cluster}")


def wait_for_port(port: int, deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nats-server did not listen on {port}")


def talk(port: int, *lines: str) -> str:
    """Speak the NATS text protocol: the server's replies to `lines`, ending with a PING."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.recv(4096)  # INFO
        connection.sendall("".join(f"{line}\r\n" for line in (*lines, "PING")).encode())
        replies = b""
        connection.settimeout(2)
        try:
            while b"PONG" not in replies and b"-ERR 'Authorization" not in replies:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                replies += chunk
        except TimeoutError:
            pass
    return replies.decode()


def login(user: str, password: str) -> str:
    return f'CONNECT {{"verbose":true,"user":"{user}","pass":"{password}"}}'


@pytest.fixture
def dev_server(stack_run: Callable[..., StackRun], tmp_path: Path) -> Iterator[tuple[int, Any]]:
    yield from serving(stack_run("dev"), tmp_path)


def serving(run: StackRun, tmp_path: Path) -> Iterator[tuple[int, Any]]:
    """A nats-server with `run`'s config and environment (one member), on free ports."""
    nats = program("nats-server")
    client, monitor, cluster = free_port(), free_port(), free_port()
    conf = tmp_path / "nats.conf"
    conf.write_text(on_ports(config_file(run, "nats", "nats.conf"), client, monitor, cluster))
    env = server_environment(run)
    server = subprocess.Popen(
        [nats, "-c", str(conf)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(client)
        yield client, env
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_client_without_credentials_is_refused(dev_server: tuple[int, Any]) -> None:
    port, env = dev_server
    assert "-ERR 'Authorization Violation'" in talk(port, 'CONNECT {"verbose":true}')
    wrong = talk(port, login("api", env["NATS_API_PASSWORD_A"] + "x"))
    assert "-ERR 'Authorization Violation'" in wrong


def test_each_service_may_use_exactly_its_subjects(dev_server: tuple[int, Any]) -> None:
    port, env = dev_server
    api = login("api", env["NATS_API_PASSWORD_A"])
    assert "-ERR" not in talk(port, api, "PUB todos.events 2", "hi")
    outside = talk(port, api, "PUB todos.deleted 2", "hi")
    assert 'Permissions Violation for Publish to "todos.deleted"' in outside
    broadcaster = login("broadcaster", env["NATS_BROADCASTER_PASSWORD_A"])
    assert "-ERR" not in talk(port, broadcaster, "SUB todos.events broadcaster-workers 1")
    alone = talk(port, broadcaster, "SUB todos.events 1")  # outside its queue group
    assert 'Permissions Violation for Subscription to "todos.events"' in alone
    assert "Permissions Violation" in talk(port, broadcaster, "PUB todos.events 2", "hi")
    websocket = login("websocket", env["NATS_WEBSOCKET_PASSWORD_A"])
    assert "-ERR" not in talk(port, websocket, "SUB todos.events 1")
    assert "Permissions Violation" in talk(port, websocket, "PUB todos.events 2", "hi")


ROTATING = {"webapp:secretRotation": {"a": "2026-Q4", "b": "2027-Q1", "use": "b"}}
"""Mid-rotation: both generations exist, clients use b."""


def test_both_generations_of_every_user_are_accepted(
    stack_run: Callable[..., StackRun], tmp_path: Path
) -> None:
    """Each client's user of either generation logs in with that generation's password (so a pod
    on either is accepted while they roll, `config.rotation`); a generation's user does not take
    the other's password; the URL clients read (generation b) logs in."""
    run = stack_run("dev", ROTATING)
    (secret,) = [
        o
        for o in run.kubernetes_objects(reveal=True)
        if o["kind"] == "Secret" and o["metadata"]["name"] == NATS.name
    ]
    values = secret["stringData"]
    for port, env in serving(run, tmp_path):
        for user in NATS_USERS:
            a, b = env[password_variable(user, "a")], env[password_variable(user, "b")]
            assert a != b
            assert "-ERR" not in talk(port, login(user, a)), user
            assert "-ERR" not in talk(port, login(f"{user}_b", b)), user
            assert "Authorization Violation" in talk(port, login(user, b)), user
            url = urlsplit(values[f"{user}-url"])
            assert (url.username, unquote_plus(url.password or "")) == (f"{user}_b", b)
            assert "-ERR" not in talk(port, login(url.username, b)), user


def wait_routes(monitor: int, deadline: float = 10.0) -> int:
    """The number of routes the server at `monitor` reports, once it reports any."""
    import json
    import urllib.request

    end = time.monotonic() + deadline
    count = 0
    while time.monotonic() < end:
        with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/routez", timeout=2) as response:
            count = int(json.load(response)["num_routes"])
        if count:
            return count
        time.sleep(0.2)
    return count
