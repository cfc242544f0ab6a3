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


def test_in_the_mesh_each_proxied_request_names_its_upstream(
    stack_run: Callable[..., StackRun],
) -> None:
    """The sidecar routes by Host and api, websocket and auth share the frontend's ports' space:
    in the mesh (production) each location sends its upstream's mesh name and passes the public
    host on in X-Forwarded-Host; outside it (staging) the client's Host goes through."""
    meshed = config_file(stack_run("production"), "frontend-files", "nginx.conf")
    ns = "webapp-production.svc.cluster.local"
    for service in ("api", "websocket", "auth"):
        location = next(
            block for block in meshed.split("location ")[1:] if f"http://{service}.{ns}:" in block
        )
        assert f"proxy_set_header Host {service}.{ns};" in location
        assert "proxy_set_header X-Forwarded-Host $http_x_forwarded_host;" in location
    assert "proxy_set_header Host $host;" not in meshed
    plain = config_file(stack_run("staging"), "frontend-files", "nginx.conf")
    assert "proxy_set_header Host $host;" in plain and "X-Forwarded-Host" not in plain
