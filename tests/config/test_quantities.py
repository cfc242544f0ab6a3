"""Pure validators for Kubernetes-style values."""

import pytest

from components.config import quantities as q


@pytest.mark.parametrize(
    "value, millis", [("250m", 250), ("1", 1000), ("0.5", 500), ("2.25", 2250)]
)
def test_cpu_millis(value: str, millis: int) -> None:
    assert q.cpu_millis(value) == millis


@pytest.mark.parametrize("value", ["", "1c", "-1", "m", "1.5.2", "100 m"])
def test_cpu_rejects(value: str) -> None:
    assert not q.is_cpu(value)


@pytest.mark.parametrize(
    "value, size", [("128Mi", 128 * 2**20), ("1Gi", 2**30), ("500M", 500 * 10**6), ("1024", 1024)]
)
def test_memory_bytes(value: str, size: int) -> None:
    assert q.memory_bytes(value) == size


@pytest.mark.parametrize("value", ["1GB", "Mi", "1.2.3Gi", "-5Mi", "ten"])
def test_memory_rejects(value: str) -> None:
    assert not q.is_memory(value)


def test_dns_label() -> None:
    assert q.is_dns_label("webapp-dev")
    assert not q.is_dns_label("Webapp")
    assert not q.is_dns_label("-webapp")
    assert not q.is_dns_label("a" * 64)


def test_hostname() -> None:
    assert q.is_hostname("staging.webapp.example.com")
    for bad in (
        "localhost",
        "bad domain.com",
        "*.example.com",
        "example.com.",
        "UPPER.example.com",
    ):
        assert not q.is_hostname(bad), bad


@pytest.mark.parametrize(
    "image",
    [
        "nginx",
        "nginxinc/nginx-unprivileged:1.29-alpine",
        "registry.example.com:5000/a/b:1.0",
        "ghcr.io/org/app@sha256:" + "a" * 64,
    ],
)
def test_image_accepts(image: str) -> None:
    assert q.is_image(image)


@pytest.mark.parametrize(
    "image", ["", "UPPER/case:1", "app:tag with space", "app::1", "http://registry/app:1"]
)
def test_image_rejects(image: str) -> None:
    assert not q.is_image(image)


def test_image_tag() -> None:
    assert q.image_tag("registry:5000/app:1.2.3") == "1.2.3"
    assert q.image_tag("registry:5000/app") == "latest"
    assert q.image_tag("app@sha256:" + "b" * 64) == "latest"


@pytest.mark.parametrize(
    "expr, ok",
    [
        ("0 2 * * *", True),
        ("*/15 * * * 1-5", True),
        ("0 24 * * *", False),
        ("61 * * * *", False),
        ("* * *", False),
        ("@daily", False),
        ("0 0 32 * *", False),
    ],
)
def test_cron(expr: str, ok: bool) -> None:
    assert q.is_cron(expr) is ok


@pytest.mark.parametrize(
    "image, pinned",
    [
        ("registry:5000/app:1.2.3", True),
        ("app@sha256:" + "b" * 64, True),
        ("registry:5000/app", False),  # the port is not a tag
        ("app:latest", False),
        ("app", False),
        ("UPPER/case:1", False),
    ],
)
def test_is_pinned_image(image: str, pinned: bool) -> None:
    assert q.is_pinned_image(image) is pinned
