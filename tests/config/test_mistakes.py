"""Every shape of config mistake gets one clear error naming the key, before anything exists:
silently ignored settings, secrets in plain env, overrides of what the program owns, stand-in
images where release images are required, typos and flat dotted keys."""

from __future__ import annotations

from typing import Any

import pytest

from components.config.parsing import parse_settings
from components.config.settings import SettingsError
from tools.offline import load_stack_config

DEV = {"webapp:domain": "app.example.com", "webapp:kubernetes": {"context": "kind-webapp"}}


def problems(config: dict[str, Any], stack: str = "dev") -> list[str]:
    with pytest.raises(SettingsError) as info:
        parse_settings(config, stack, check_data_lock=False)
    return info.value.problems


def api(**settings: Any) -> dict[str, Any]:
    return {**DEV, "webapp:services": {"api": settings}}


def test_replicas_while_autoscaling_is_an_error() -> None:
    (found,) = problems(api(autoscaling=True, replicas=4))
    assert found.startswith("webapp:services.api.replicas: 4 would be ignored while autoscaling")
    assert "minReplicas/maxReplicas" in found


def test_bounds_while_autoscaling_is_off_are_an_error() -> None:
    (found,) = problems(api(maxReplicas=6))
    assert found.startswith(
        "webapp:services.api.maxReplicas: would be ignored while autoscaling is off"
    )


@pytest.mark.parametrize(
    "name", ["DB_PASSWORD", "stripe_api_key", "Auth__ClientSecret", "GITHUB_TOKEN"]
)
def test_a_secret_looking_variable_is_refused_without_echoing_it(name: str) -> None:
    (found,) = problems(api(env={name: "hunter2"}))
    assert found.startswith(f"webapp:services.api.env.{name}: {name} looks like a secret")
    assert "hunter2" not in found


def test_a_catalogued_secret_variable_is_refused() -> None:
    (found,) = problems(api(env={"Database__Password": "hunter2"}))
    assert "is read from Secret webapp-database-app (key password)" in found
    assert "hunter2" not in found


def test_the_nats_url_carries_credentials_and_comes_from_its_secret() -> None:
    (found,) = problems({**DEV, "webapp:services": {"api": {"env": {"Nats__Url": "nats://x"}}}})
    assert "Nats__Url is read from Secret webapp-nats (key api-url)" in found


@pytest.mark.parametrize("service, name", [("api", "ASPNETCORE_URLS"), ("websocket", "PORT")])
def test_a_variable_the_program_sets_cannot_be_overridden(service: str, name: str) -> None:
    (found,) = problems({**DEV, "webapp:services": {service: {"env": {name: "http://+:9999"}}}})
    assert found.startswith(f"webapp:services.{service}.env.{name}: {name} is set by the program")


def test_plain_env_is_still_accepted() -> None:
    settings = parse_settings(
        api(env={"FEATURE_FLAGS": "dark-mode", "Retry__Count": 3}), "dev", check_data_lock=False
    )
    assert dict(settings.services["api"].env) == {"FEATURE_FLAGS": "dark-mode", "Retry__Count": "3"}


def test_production_refuses_every_stand_in_image() -> None:
    config = load_stack_config("production")
    del config["webapp:services"]["api"]["image"]
    (found,) = problems(config, "production")
    assert found.startswith(
        "webapp:services.api.image: missing; this stack runs release images only"
    )
    assert "pulumi config set --path 'webapp:services.api.image'" in found


def test_production_cannot_turn_release_images_off() -> None:
    config = {**load_stack_config("production"), "webapp:requireReleaseImages": False}
    assert (
        "webapp:requireReleaseImages: false is not allowed; expected true in production"
        in (problems(config, "production")[0])
    )


def test_any_stack_may_require_release_images_and_dev_keeps_its_stand_ins() -> None:
    assert (
        parse_settings(DEV, "dev", check_data_lock=False)
        .services["api"]
        .image.startswith("traefik/whoami")
    )
    found = problems({**DEV, "webapp:requireReleaseImages": True})
    assert len(found) == 5 and all("release images only" in problem for problem in found)


def test_an_unknown_key_suggests_the_closest() -> None:
    (found,) = problems({**DEV, "webapp:domian": "x"})
    assert found.startswith("webapp:domian: unknown key; did you mean domain?")
    (found,) = problems(api(maxReplica=4))
    assert "did you mean maxReplicas?" in found


def test_a_flat_dotted_key_says_how_to_set_it() -> None:
    (found,) = problems({**DEV, "webapp:services.api.image": "registry.example.com/api:1"})
    assert found.startswith("webapp:services.api.image: unknown key; to set services.api.image")
    assert "pulumi config set --path 'webapp:services.api.image' <value>" in found


def test_values_are_echoed_as_the_stack_file_spells_them() -> None:
    found = problems({**DEV, "webapp:protect": "maybe", "webapp:scheduler": {"enabled": None}})
    assert "webapp:protect: 'maybe' is not allowed; expected true or false" in found
    (found,) = problems({**DEV, "webapp:routing": {"mode": ["gateway"]}})
    assert "webapp:routing.mode: [gateway] is not allowed" in found


def test_a_single_allowed_count_says_so_and_why() -> None:
    (found,) = problems({**DEV, "webapp:redis": {"replicas": 2}})
    assert found == (
        "webapp:redis.replicas: 2 is not allowed; expected 1 (Redis runs as one instance here; "
        "use a managed Redis for replicas)"
    )


def test_production_needs_at_least_two_proxies() -> None:
    config = {**load_stack_config("production")}
    config["webapp:routing"] = {**config.get("webapp:routing", {}), "proxyMinReplicas": 1}
    (found,) = problems(config, "production")
    assert found.startswith(
        "webapp:routing.proxyMinReplicas: 1 is not allowed; expected at least 2"
    )


def test_proxy_bounds_are_ordered() -> None:
    (found,) = problems({**DEV, "webapp:routing": {"proxyMinReplicas": 3, "proxyMaxReplicas": 2}})
    assert found == (
        "webapp:routing.proxyMaxReplicas: 2 is not allowed; expected at least proxyMinReplicas (3)"
    )


@pytest.mark.parametrize(
    "value, kind",
    [
        ("postgres://webapp:hunter2@db.example.com:5432/webapp", "a URL with a password"),
        ("redis://:hunter2@redis:6379", "a URL with a password"),
        (
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "a JSON Web Token",
        ),
        ("ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "a GitHub token"),
        ("AKIA" + "ABCDEFGHIJKLMNOP", "an AWS access key id"),
        ("xoxb-" + "123456789012-abcdefABCDEF", "a Slack token"),
        ("0123456789abcdef0123456789abcdef", "a long hex string"),
        ("Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MEFCQ0RFRkdISUpLTE1O", "a long base64 string"),
    ],
)
def test_a_credential_shaped_env_value_is_refused_without_echoing_it(value: str, kind: str) -> None:
    (found,) = problems(api(env={"UPSTREAM": value}))
    assert found.startswith(
        f"webapp:services.api.env.UPSTREAM: the value (not shown) looks like {kind}"
    )
    assert "expected a non-secret value" in found
    assert value not in found and value[4:12] not in found


@pytest.mark.parametrize(
    "value",
    ["https://api.example.com/v1", "nats://nats:4222", "dark-mode,beta", "/var/lib/app/data", "3"],
)
def test_plain_env_values_are_not_taken_for_credentials(value: str) -> None:
    settings = parse_settings(api(env={"UPSTREAM": value}), "dev", check_data_lock=False)
    assert dict(settings.services["api"].env) == {"UPSTREAM": value}
