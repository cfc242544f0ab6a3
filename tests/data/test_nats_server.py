"""The NATS config, checked by a real `nats-server -t` (single node and clustered JetStream)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from tests.support import STACKS, config_file, program
from tools.offline import StackRun


@pytest.mark.parametrize("stack", STACKS)
def test_nats_server_accepts_the_config(
    stack: str, stack_run: Callable[..., StackRun], tmp_path: Path
) -> None:
    nats = program("nats-server")
    conf = config_file(stack_run(stack), "nats", "nats.conf")
    (tmp_path / "nats.conf").write_text(conf)
    env = {**os.environ, "POD_NAME": "nats-0"}
    result = subprocess.run(
        [nats, "-t", "-c", str(tmp_path / "nats.conf")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_nats_is_a_jetstream_cluster(stack_run: Callable[..., StackRun]) -> None:
    conf = config_file(stack_run("production"), "nats", "nats.conf")
    assert "jetstream {" in conf and "cluster {" in conf
    assert conf.count("nats://nats-") == 3


def test_nats_server_rejects_a_broken_config(tmp_path: Path) -> None:
    nats = program("nats-server")
    (tmp_path / "nats.conf").write_text("listen: 0.0.0.0:4222\ncluster { routes: [ }\n")
    result = subprocess.run(
        [nats, "-t", "-c", str(tmp_path / "nats.conf")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
