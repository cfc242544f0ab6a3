"""The frontend's nginx.conf, checked by a real `nginx -t`."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable

import pytest

from tests.support import STACKS, config_file, program, require
from tools.offline import StackRun


@pytest.mark.parametrize("stack", STACKS)
def test_nginx_accepts_the_frontend_config(
    stack: str, stack_run: Callable[..., StackRun], tmp_path: Path
) -> None:
    nginx = program("nginx")
    conf = config_file(stack_run(stack), "frontend-files", "nginx.conf")
    require(Path("/etc/nginx/mime.types").exists(), "nginx's mime.types is not installed")
    (tmp_path / "nginx.conf").write_text(conf)
    result = subprocess.run(
        [nginx, "-t", "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def test_nginx_rejects_a_broken_config(tmp_path: Path) -> None:
    """The check above can fail: a config with a typo is refused."""
    nginx = program("nginx")
    (tmp_path / "nginx.conf").write_text(
        "events {}\nhttp { server { listen 8080; proxy_pas http://x; } }\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
