"""The rendered redis.conf in a real `redis-server`: filled past its `maxmemory`, it evicts
(`allkeys-lru`) and stays small enough that a persistence fork copying the whole dataset would
still fit in the container's memory limit (the OOM kill this ceiling prevents)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from components.config.quantities import memory_bytes
from components.data.redis import FORK_SHARE, NO_FORK_SHARE, maxmemory_bytes, redis_conf
from tests.data.test_nats_server import free_port
from tests.support import STACKS, config_file, program
from tools.offline import StackRun

PASSWORD = "testpassword"
TEST_LIMIT = "256Mi"
"""The container limit the test's server is sized for: below every stack's (512Mi, 1Gi), where the
server's fixed overhead weighs most, and small enough to fill quickly."""


def command(connection: socket.socket, *words: str) -> bytes:
    """One RESP command, its raw reply."""
    payload = f"*{len(words)}\r\n" + "".join(f"${len(w.encode())}\r\n{w}\r\n" for w in words)
    connection.sendall(payload.encode())
    return connection.recv(1 << 20)


def info(connection: socket.socket) -> dict[str, str]:
    connection.sendall(b"*1\r\n$4\r\nINFO\r\n")
    reply = b""
    while True:
        reply += connection.recv(1 << 20)
        header, _, body = reply.partition(b"\r\n")
        if len(body) >= int(header[1:]):
            break
    return dict(
        line.split(":", 1) for line in body.decode().splitlines() if ":" in line and line[0] != "#"
    )


def status_bytes(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field}")


def peak_rss(pid: int) -> int:
    """The process' resident high-water mark, bytes."""
    return status_bytes(pid, "VmHWM")


def rss(pid: int) -> int:
    """The process' resident memory now, bytes."""
    return status_bytes(pid, "VmRSS")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[socket.socket, subprocess.Popen[bytes]]]:
    """redis-server on the rendered config (persistence on, sized for `TEST_LIMIT`), on loopback,
    its auth file written as the container's command writes it."""
    redis = program("redis-server")
    port = free_port()
    conf = redis_conf(True, TEST_LIMIT)
    conf = conf.replace("bind 0.0.0.0", "bind 127.0.0.1").replace("port 6379", f"port {port}")
    conf = conf.replace("dir /data", f"dir {tmp_path}")
    conf = conf.replace("/run/redis/auth.conf", str(tmp_path / "auth.conf"))
    (tmp_path / "auth.conf").write_text(f"requirepass {PASSWORD}\n")
    (tmp_path / "redis.conf").write_text(conf)
    process = subprocess.Popen(
        [redis, str(tmp_path / "redis.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        end = time.monotonic() + 10
        while True:
            try:
                connection = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                assert time.monotonic() < end, "redis-server did not listen"
                time.sleep(0.1)
        with connection:
            assert command(connection, "AUTH", PASSWORD) == b"+OK\r\n"
            yield connection, process
    finally:
        process.terminate()
        process.wait(timeout=10)


def fill(connection: socket.socket, total: int, size: int = 16 * 1024) -> None:
    """`total` bytes of values, pipelined in batches."""
    value = "v" * size
    for batch in range(total // size // 100 + 1):
        payload = "".join(
            f"*3\r\n$3\r\nSET\r\n${len(key)}\r\n{key}\r\n${size}\r\n{value}\r\n"
            for key in (f"key:{batch}:{index}" for index in range(100))
        )
        connection.sendall(payload.encode())
        replies = b""
        while replies.count(b"\r\n") < 100:
            replies += connection.recv(1 << 16)
        assert b"-" not in replies.replace(b"+OK\r\n", b""), replies[:200]


def wait_for_rewrite(connection: socket.socket) -> None:
    end = time.monotonic() + 30
    while info(connection)["aof_rewrite_in_progress"] != "0":
        assert time.monotonic() < end, "the AOF rewrite did not finish"
        time.sleep(0.1)


def test_redis_evicts_before_its_memory_limit(
    server: tuple[socket.socket, subprocess.Popen[bytes]],
) -> None:
    connection, process = server
    limit, ceiling = memory_bytes(TEST_LIMIT), maxmemory_bytes(TEST_LIMIT, True)
    assert int(info(connection)["maxmemory"]) == ceiling
    fill(connection, 2 * limit)  # twice the container's limit: without eviction, an OOM kill
    stats = info(connection)
    assert int(stats["evicted_keys"]) > 0
    assert int(stats["used_memory"]) <= ceiling * 1.05
    # Never near the limit while twice the limit went in (without a ceiling: an OOM kill).
    assert peak_rss(process.pid) < limit
    # The AOF rewrite forks: under writes the child may come to copy every page the server holds,
    # so twice the server's resident memory at the fork must fit in the limit. (Filling may have
    # started an automatic rewrite; one more runs on the full dataset.)
    wait_for_rewrite(connection)
    assert 2 * rss(process.pid) <= limit
    assert command(connection, "BGREWRITEAOF").startswith(b"+")
    wait_for_rewrite(connection)
    assert info(connection)["aof_last_bgrewrite_status"] == "ok"


def test_the_ceiling_leaves_room_for_the_fork() -> None:
    assert maxmemory_bytes("512Mi", True) == int(512 * 2**20 * FORK_SHARE)
    assert 2 * FORK_SHARE <= 0.5 and NO_FORK_SHARE <= 0.7
    assert maxmemory_bytes("1Gi", False) == int(2**30 * NO_FORK_SHARE)


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_sizes_redis_from_its_limit(
    stack: str, stack_run: Callable[..., StackRun]
) -> None:
    run = stack_run(stack)
    conf = config_file(run, "redis", "redis.conf")
    redis = next(
        o
        for o in run.kubernetes_objects()
        if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "redis"
    )
    container = redis["spec"]["template"]["spec"]["containers"][0]
    limit = container["resources"]["limits"]["memory"]
    persistence = "appendonly yes" in conf
    assert f"maxmemory {maxmemory_bytes(limit, persistence)}\n" in conf
