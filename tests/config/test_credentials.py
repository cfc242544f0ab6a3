"""`webapp:credentials`: production never runs placeholder OAuth/SMTP credentials, values given in
config are Pulumi secrets, and `store` is only offered where a cloud store exists."""

from __future__ import annotations

from typing import Any, Collection

import pytest

from components.config.credentials import KEYS
from components.config.parsing import parse_settings
from components.config.settings import Settings, SettingsError
from tools.offline import last_registrations, load_stack_config, run_stack

SECRET = {"webapp:credentials"}


def production(**overrides: Any) -> dict[str, Any]:
    """The shipped production config (AWS) with `overrides` (None removes a key)."""
    config = load_stack_config("production")
    for key, value in overrides.items():
        name = f"webapp:{key}"
        if value is None:
            config.pop(name, None)
        else:
            config[name] = value
    return config


def parse(config: dict[str, Any], stack: str, secret_keys: Collection[str] = SECRET) -> Settings:
    return parse_settings(config, stack, secret_keys=secret_keys, check_data_lock=False)


def problems(
    config: dict[str, Any], stack: str, secret_keys: Collection[str] = SECRET
) -> list[str]:
    with pytest.raises(SettingsError) as info:
        parse(config, stack, secret_keys)
    return info.value.problems


def every_key(group: str, value: str = "real") -> dict[str, str]:
    return {key: f"{value}-{key}" for key in KEYS[group]}


def test_production_refuses_generated_placeholders_naming_each_group_and_both_ways() -> None:
    found = problems(production(credentials=None), "production")
    assert [p.split(":", 2)[1] for p in found] == [
        "credentials.oauth",
        "credentials.smtp",
        "credentials.alerting",
        # Production routes its alerts, so it needs real endpoints for them.
        "monitoring.alerting.critical, webapp",
    ]
    oauth, smtp, alerting, receivers = found
    assert oauth.startswith(
        "webapp:credentials.oauth: generated placeholders are refused in production"
    )
    # The cloud store way, spelt for this stack's cloud and name, and the Pulumi-secret way.
    assert "pulumi config set --path 'webapp:credentials.oauth' store" in oauth
    assert "webapp/production/oauth/<provider>" in oauth and "Secrets Manager" in oauth
    assert "pulumi config set --secret --path 'webapp:credentials.oauth." in oauth
    assert all(key in oauth for key in KEYS["oauth"])
    assert "webapp/production/email/smtp" in smtp
    assert "webapp/production/alerting/receivers" in alerting
    assert "webapp:credentials.alerting, which is generated placeholders" in receivers
    # `generated` spelt out is refused the same way.
    spelt = problems(
        production(credentials={"oauth": "generated", "smtp": "store", "alerting": "store"}),
        "production",
    )
    assert len(spelt) == 1 and spelt[0].startswith("webapp:credentials.oauth: generated")


def test_production_with_generated_credentials_declares_nothing() -> None:
    with pytest.raises(Exception, match="generated placeholders are refused in production"):
        run_stack("production", {"webapp:credentials": None})
    assert last_registrations() == []


def test_the_requirement_cannot_be_turned_off_in_production_and_can_be_turned_on_elsewhere() -> (
    None
):
    (found,) = problems(production(requireExternalCredentials=False), "production")
    assert found.startswith(
        "webapp:requireExternalCredentials: false is not allowed; expected true"
    )
    dev = load_stack_config("dev")
    refused = problems({**dev, "webapp:requireExternalCredentials": True}, "dev")
    assert (
        len(refused) == 3
        and "refused here (webapp:requireExternalCredentials is true)" in refused[0]
    )
    assert "Secrets Manager" not in refused[0]  # cloud none: only the Pulumi-secret way is offered
    assert parse(dev, "dev").credentials.oauth.source == "generated"  # dev keeps placeholders


def test_store_is_offered_on_both_clouds_and_refused_without_one() -> None:
    assert parse(production(), "production").credentials.oauth.source == "store"
    staging = parse(load_stack_config("staging"), "staging")
    assert staging.cloud == "azure" and staging.credentials.smtp.source == "store"
    found = problems(production(cloud="none"), "production")
    assert found[0].startswith(
        "webapp:credentials.oauth: 'store' needs a cloud secret store, and cloud is none"
    )
    azure = problems(production(cloud="azure", credentials=None), "production")
    assert "webapp-oauth-<provider>-client-id" in azure[0] and "Key Vault" in azure[0]


def test_values_from_config_must_be_complete_known_non_empty_and_secret() -> None:
    complete = {
        "oauth": every_key("oauth"),
        "smtp": every_key("smtp"),
        "alerting": every_key("alerting"),
    }
    settings = parse(production(credentials=complete), "production")
    assert settings.credentials.smtp.source == "config"
    assert dict(settings.credentials.smtp.values) == every_key("smtp")
    assert "real-password" not in repr(settings)  # never shown, not even in a repr

    partial = {
        "oauth": "store",
        "smtp": {"username": "apikey", "pasword": "s3cret", "x": ""},
        "alerting": "store",
    }
    found = problems(production(credentials=partial), "production")
    assert found == [
        "webapp:credentials.smtp: missing password (a mapping must give every key)",
        "webapp:credentials.smtp: unknown key(s) pasword, x; allowed: username, password",
    ]
    assert not any("s3cret" in p for p in found)  # values are never echoed
    empty = problems(
        production(credentials={**complete, "smtp": {"username": "", "password": 7}}), "production"
    )
    assert empty == [
        "webapp:credentials.smtp: username, password must be non-empty strings (values not shown)"
    ]

    (plain,) = problems(production(credentials=complete), "production", secret_keys=())
    assert plain.startswith("webapp:credentials: oauth, smtp, alerting values are in plain text")
    assert "pulumi config set --secret --path" in plain


def test_wrong_shapes_and_unknown_groups_are_named() -> None:
    found = problems(
        production(credentials={"oauth": 3, "smtp": "store", "alerting": "store", "smpt": "store"}),
        "production",
    )
    assert found[0] == (
        "webapp:credentials.oauth: 3 is not allowed; expected generated, store, or a mapping of "
        + ", ".join(KEYS["oauth"])
    )
    assert found[1].startswith("webapp:credentials.smpt: unknown key; did you mean smtp?")


def test_the_broadcaster_webhook_must_be_a_secret() -> None:
    config = {**production(), "webapp:broadcasterWebhookUrl": "https://hooks.example.com/T0k3n"}
    (found,) = problems(config, "production")
    assert found.startswith("webapp:broadcasterWebhookUrl: set in plain text (not shown)")
    assert (
        "T0k3n" not in found and "pulumi config set --secret webapp:broadcasterWebhookUrl" in found
    )
    settings = parse(config, "production", {"webapp:credentials", "webapp:broadcasterWebhookUrl"})
    assert settings.broadcaster_webhook_url == "https://hooks.example.com/T0k3n"


def test_alert_receivers_are_named_kinds_with_real_endpoints() -> None:
    dev = load_stack_config("dev")
    routed = {"enabled": True, "alerting": {"critical": "slack", "info": "webhook"}}
    (found,) = problems({**dev, "webapp:monitoring": routed}, "dev")
    assert found.startswith(
        "webapp:monitoring.alerting.critical, webapp:monitoring.alerting.info: the receivers' "
        "endpoints come from webapp:credentials.alerting, which is generated placeholders"
    )
    given = {"webapp:credentials": {"alerting": every_key("alerting", "https://hooks.example")}}
    settings = parse({**dev, "webapp:monitoring": routed, **given}, "dev")
    assert settings.monitoring.receivers == {
        "critical": "slack",
        "warning": "none",
        "info": "webhook",
    }
    (wrong,) = problems({**dev, "webapp:monitoring": {"alerting": {"critical": "email"}}}, "dev")
    assert wrong.startswith("webapp:monitoring.alerting.critical: 'email' is not allowed")
    assert "slack" in wrong and "pagerduty" in wrong
