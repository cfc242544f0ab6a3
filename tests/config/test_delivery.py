"""Delivery, KEDA and mesh settings: what each needs from the rest of the stack is checked before
anything is declared, with the key, the value and what would work."""

from __future__ import annotations

from typing import Any

import pytest

from components.config.parsing import parse_settings
from components.config.settings import SettingsError
from tests.config.test_mistakes import DEV, problems


def service(name: str, **fields: Any) -> dict[str, Any]:
    return {**DEV, "webapp:services": {name: fields}}


def with_monitoring(config: dict[str, Any]) -> dict[str, Any]:
    return {**config, "webapp:monitoring": {"enabled": True}}


def test_a_load_threshold_under_the_hpa_is_refused_two_scalers_would_fight() -> None:
    (found,) = problems(service("api", autoscaling=True, loadThreshold=80))
    assert found.startswith(
        "webapp:services.api.loadThreshold: is a KEDA trigger, and autoscaler is hpa"
    )
    assert "would fight over its replicas" in found and "set autoscaler: keda" in found


def test_an_autoscaler_while_autoscaling_is_off_is_refused() -> None:
    (found,) = problems(service("api", autoscaler="keda"))
    assert found.startswith(
        "webapp:services.api.autoscaler: would be ignored while autoscaling is off"
    )


def test_a_load_threshold_on_a_service_without_a_load_trigger_is_refused() -> None:
    (found,) = problems(
        with_monitoring(service("auth", autoscaling=True, autoscaler="keda", loadThreshold=5))
    )
    assert found.startswith("webapp:services.auth.loadThreshold: auth has no load trigger")
    assert "api, broadcaster" in found


def test_an_unknown_autoscaler_or_delivery_names_what_is_allowed() -> None:
    found = problems(service("api", autoscaling=True, autoscaler="hpa2", delivery="canery"))
    assert any("webapp:services.api.autoscaler" in p and "hpa, keda" in p for p in found), found
    assert any(
        "webapp:services.api.delivery" in p and "rolling, canary, blue-green" in p for p in found
    ), found


def test_analysis_and_load_triggers_need_a_prometheus() -> None:
    (found,) = problems(
        {
            **DEV,
            "webapp:services": {
                "frontend": {"delivery": "canary"},
                "api": {"autoscaling": True, "autoscaler": "keda"},
            },
        }
    )
    assert "webapp:services.frontend.delivery (canary: its analysis)" in found
    assert "webapp:services.api.autoscaler (keda: its load trigger)" in found
    assert "webapp:monitoring.prometheusUrl" in found
    # Either remedy works.
    parse_settings(
        with_monitoring(service("frontend", delivery="canary")), "dev", check_data_lock=False
    )
    external = {
        **service("frontend", delivery="canary"),
        "webapp:monitoring": {"prometheusUrl": "http://prometheus.observability:9090"},
    }
    settings = parse_settings(external, "dev", check_data_lock=False)
    assert settings.prometheus_url == "http://prometheus.observability:9090"


def test_keda_without_a_load_trigger_needs_no_prometheus() -> None:
    settings = parse_settings(
        service("auth", autoscaling=True, autoscaler="keda"), "dev", check_data_lock=False
    )
    assert settings.services["auth"].keda and settings.prometheus_url is None


def test_a_prometheus_url_must_be_an_http_url() -> None:
    found = problems({**DEV, "webapp:monitoring": {"prometheusUrl": "prometheus:9090"}})
    assert any(
        p.startswith("webapp:monitoring.prometheusUrl: 'prometheus:9090'")
        or "prometheusUrl" in p
        and "http(s) URL" in p
        for p in found
    ), found


def test_the_mesh_needs_the_gateway() -> None:
    found = problems(
        {**DEV, "webapp:mesh": {"enabled": True}, "webapp:routing": {"mode": "ingress"}}
    )
    assert any(
        p.startswith("webapp:mesh.enabled: true needs webapp:routing.mode gateway, not ingress")
        for p in found
    ), found


def test_the_mesh_is_not_for_a_branch_stack() -> None:
    found = problems(
        {
            **DEV,
            "webapp:mesh": {"enabled": True},
            "webapp:routing": {"sharedGateway": "webapp-staging"},
        }
    )
    assert any("webapp:routing.sharedGateway webapp-staging" in p for p in found), found


def test_an_unknown_mesh_key_is_refused() -> None:
    with pytest.raises(SettingsError) as info:
        parse_settings({**DEV, "webapp:mesh": {"enable": True}}, "dev", check_data_lock=False)
    assert any("webapp:mesh.enable" in p for p in info.value.problems)
