"""The rendered Redis in a real `redis-server`: the command the StatefulSet runs writes the ACL user
from the pod's environment (passwords from `webapp-redis`), and the server accepts the password of
each generation, the one clients read included, and refuses any other (`config.rotation`)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable
from urllib.parse import unquote_plus, urlsplit

import pytest

from components.secrets.catalogue import REDIS
from tests.support import config_file, program
from tools.offline import StackRun

ROTATING = {"webapp:secretRotation": {"a": "2026-Q4", "b": "2027-Q1", "use": "b"}}
"""Mid-rotation: both generations exist, clients use b."""


def _objects(run: StackRun) -> tuple[dict[str, str], dict]:
    objects = run.kubernetes_objects(reveal=True)
    (secret,) = [
        o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == REDIS.name
    ]
    (redis,) = [
        o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "redis"
    ]
    return secret["stringData"], redis["spec"]["template"]["spec"]["containers"][0]


def _environment(values: dict[str, str], container: dict) -> dict[str, str]:
    env = {}
    for variable in container["env"]:
        ref = variable["valueFrom"]["secretKeyRef"]
        assert ref["name"] == REDIS.name
        env[variable["name"]] = values[ref["key"]]
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _send(port: int, commands: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(commands.encode())
                time.sleep(0.1)
                return sock.recv(4096).decode()
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _auth(port: int, password: str) -> str:
    return _send(port, f"AUTH default {password}\r\nPING\r\n")


@pytest.mark.parametrize("overrides", [None, ROTATING], ids=["one-generation", "rotating"])
def test_the_acl_user_accepts_each_generation_and_nothing_else(
    overrides: dict | None, stack_run: Callable[..., StackRun], tmp_path: Path
) -> None:
    server = program("redis-server")
    run = stack_run("dev", overrides)
    values, container = _objects(run)
    env = _environment(values, container)
    # The container's own start command, its paths moved under tmp_path: it writes auth.conf.
    script = container["command"][2].replace("/run/redis", str(tmp_path))
    script = script.replace("exec redis-server /etc/redis/redis.conf", "true")
    subprocess.run(["sh", "-c", script], env={**os.environ, **env}, check=True)
    assert oct((tmp_path / "auth.conf").stat().st_mode & 0o777) == "0o600"
    port = _free_port()
    conf = config_file(run, "redis", "redis.conf")
    conf = re.sub(r"^bind .*$", "bind 127.0.0.1", conf, flags=re.M)
    conf = re.sub(r"^port .*$", f"port {port}", conf, flags=re.M)
    conf = conf.replace("dir /data", f"dir {tmp_path}").replace("/run/redis", str(tmp_path))
    (tmp_path / "redis.conf").write_text(conf)
    process = subprocess.Popen(
        [server, str(tmp_path / "redis.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        client = unquote_plus(urlsplit(values["url"]).password or "")
        assert client == values["password"]
        for password in (values["password-a"], values["password-b"], client):
            assert _auth(port, password).startswith("+OK\r\n+PONG"), password
        assert "WRONGPASS" in _auth(port, values["password-a"] + "x")
        assert _send(port, "PING\r\n").startswith("-NOAUTH")
        rotating = overrides is not None
        assert (values["password-a"] != values["password-b"]) is rotating
        assert client == (values["password-b"] if rotating else values["password-a"])
    finally:
        process.terminate()
        process.wait(timeout=10)
