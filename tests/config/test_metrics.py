"""`webapp:metrics`: the metrics contract of the application images (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from components.config.metrics import PRESETS, MetricsSettings
from tests.config.test_parsing import PRODUCTION, parse, problems

BAD = [
    (
        {"requests": {"api": "micrometer"}},
        "webapp:metrics.requests.api: 'micrometer' is not allowed; expected one of "
        "prometheus-net, opentelemetry, status, none",
    ),
    (
        {"requests": {"frontend": "status"}},
        "webapp:metrics.requests.frontend: 'status' is not allowed; frontend has no metrics port "
        "(only api, broadcaster do), so it publishes none: its requests are read from the mesh "
        "or the Gateway",
    ),
    (
        {"requests": {"billing": "status"}},
        "webapp:metrics.requests.billing: unknown service; expected one of frontend, api, "
        "websocket, auth, broadcaster",
    ),
    (
        {"request": {"api": "status"}},
        "webapp:metrics.request: unknown key; did you mean requests? (allowed keys here: requests)",
    ),
]


@pytest.mark.parametrize("metrics, message", BAD)
def test_a_bad_contract_is_refused_naming_the_key_and_what_is_allowed(
    metrics: dict[str, Any], message: str
) -> None:
    assert message in problems({"webapp:metrics": metrics})


def test_the_api_publishes_prometheus_nets_middleware_by_default() -> None:
    contract = parse({}).metrics
    assert contract == MetricsSettings()
    assert contract.published("api") is PRESETS["prometheus-net"]
    assert contract.published("broadcaster") is None
    assert contract.published("frontend") is None
    chosen = parse({"webapp:metrics": {"requests": {"api": "opentelemetry"}}}).metrics
    assert chosen.published("api") is PRESETS["opentelemetry"]


def test_keda_on_requests_needs_someone_to_count_them() -> None:
    """api's KEDA trigger counts its requests: with `none` and no mesh nothing does."""
    services = {
        **PRODUCTION["webapp:services"],
        "api": {**PRODUCTION["webapp:services"]["api"], "autoscaler": "keda"},
    }
    config = {
        "webapp:services": services,
        "webapp:monitoring": {"enabled": True},
        "webapp:metrics": {"requests": {"api": "none"}},
    }
    found = problems(config, "production", PRODUCTION)
    assert any(
        problem.startswith("webapp:services.api.autoscaler: keda scales api on its requests")
        for problem in found
    ), found
    # The mesh counts them instead.
    parse({**config, "webapp:mesh": {"enabled": True}}, "production", PRODUCTION)
