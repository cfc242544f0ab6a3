"""Refusals read as finished sentences: no template placeholder left unformatted (`{port}`), and a
value that fails its rule says why when the rule alone would leave the user guessing (uppercase in
a hostname, a cron field out of range, an address where a block belongs, or a block where an
address belongs)."""

from __future__ import annotations

import re
from typing import Any, Callable

import pytest

from components.config import catalogue
from components.config.parsing import parse_settings
from components.config.settings import SettingsError
from tests.config import test_aws, test_azure, test_parsing
from tools.offline import load_stack_config

DEV = {"webapp:domain": "app.example.com", "webapp:kubernetes": {"context": "kind-webapp"}}
PLACEHOLDER = re.compile(r"(?<!\{)\{[A-Za-z_][A-Za-z0-9_]*(?:![rsaq])?\}(?!\})")
"""A `str.format` field nobody filled: `{port}`, `{name!r}` (not YAML's `{nested: 1}`)."""


def problems(config: dict[str, Any], stack: str = "dev") -> list[str]:
    with pytest.raises(SettingsError) as info:
        parse_settings(config, stack, check_data_lock=False)
    return info.value.problems


def _cloud(stack: str, section: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def config(changes: dict[str, Any]) -> dict[str, Any]:
        base = load_stack_config(stack)
        return {**base, section: {**base[section], **changes}}

    return config


WHY = [
    (
        {**DEV, "webapp:domain": "App.Example.com"},
        "dev",
        "DNS names are lower case here: write 'app.example.com'",
    ),
    ({**DEV, "webapp:domain": "app.example.com."}, "dev", "(no trailing dot)"),
    ({**DEV, "webapp:domain": "https://app.example.com"}, "dev", "without scheme or path"),
    (
        {**DEV, "webapp:domain": "app_1.example.com"},
        "dev",
        "label 'app_1' may hold only a-z, 0-9 and '-'",
    ),
    (
        {**DEV, "webapp:scheduler": {"schedule": "61 * * * *"}},
        "dev",
        "(minute 61 is out of range 0-59)",
    ),
    (
        {**DEV, "webapp:scheduler": {"schedule": "0 24 * * *"}},
        "dev",
        "(hour 24 is out of range 0-23)",
    ),
    (
        {**DEV, "webapp:scheduler": {"schedule": "0 3 * * 8"}},
        "dev",
        "(day of week 8 is out of range 0-7)",
    ),
    ({**DEV, "webapp:scheduler": {"schedule": "0 3 * *"}}, "dev", "(4 fields, not 5: minute, hour"),
    (
        {**DEV, "webapp:scheduler": {"schedule": "0 3 * JAN *"}},
        "dev",
        "month 'JAN' is not a number",
    ),
    (
        {**DEV, "webapp:kubernetes": {"context": "kind", "clusterDnsIp": "10.96.0.10/32"}},
        "dev",
        "(an address, not a CIDR block: write '10.96.0.10')",
    ),
    (
        {**DEV, "webapp:namespace": "Web_App"},
        "dev",
        "lower case, digits and '-' only: such as 'web-app'",
    ),
    (
        _cloud("production", "webapp:aws")({"vpcCidr": "10.0.0.5/16"}),
        "production",
        "webapp:aws.vpcCidr: '10.0.0.5/16' is not allowed; expected the VPC's private CIDR block "
        "such as 10.0.0.0/16 (host bits are set: the block of 10.0.0.5/16 is 10.0.0.0/16)",
    ),
    (
        _cloud("production", "webapp:aws")({"vpcCidr": "10.0.0.5"}),
        "production",
        "webapp:aws.vpcCidr: '10.0.0.5' is not allowed; expected the VPC's private CIDR block such "
        "as 10.0.0.0/16 (an address, not a block",
    ),
    (
        _cloud("staging", "webapp:azure")({"vnetCidr": "8.8.0.0/16"}),
        "staging",
        "(8.8.0.0/16 is not private: use 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)",
    ),
]


@pytest.mark.parametrize("config, stack, expected", WHY, ids=[w for _, _, w in WHY])
def test_a_refusal_says_why(config: dict[str, Any], stack: str, expected: str) -> None:
    found = problems(config, stack)
    assert any(expected in p for p in found), found


def _table(module: Any, test: str) -> list[tuple[dict[str, Any], str]]:
    """The rows of a bad-input table written inline in a test's parametrize mark."""
    (mark,) = [m for m in getattr(module, test).pytestmark if m.name == "parametrize"]
    return [(row[0], row[1]) for row in mark.args[1]]


def _every_refusal() -> list[str]:
    """What each bad-input table of the suite is refused with, plus every variable the program
    owns of every catalogued service, set in env (those refusals show the program's templates)."""
    found: list[str] = []
    for overrides, _ in test_parsing.BAD_INPUTS:
        found += problems({**DEV, **overrides})
    for changes, _ in _table(test_aws, "test_bad_aws_config_is_rejected_naming_the_key"):
        found += problems(_cloud("production", "webapp:aws")(changes), "production")
    for changes, _ in _table(test_azure, "test_bad_azure_config_is_rejected_naming_the_key"):
        found += problems(_cloud("staging", "webapp:azure")(changes), "staging")
    for config, stack, _ in WHY:
        found += problems(config, stack)
    for service in catalogue.CATALOGUE:
        owned = {**catalogue.RUNTIME_ENV[service.runtime], **service.env}
        env = {name: "x" for name in owned}
        if not env:
            continue  # a static site: the program sets no variable of its own
        found += problems({**DEV, "webapp:services": {service.name: {"env": env}}})
    return found


def test_no_refusal_shows_an_unformatted_placeholder() -> None:
    refusals = _every_refusal()
    assert len(refusals) > 100
    leftover = [p for p in refusals if PLACEHOLDER.search(p)]
    assert leftover == []


def test_the_placeholder_scan_can_fail() -> None:
    assert PLACEHOLDER.search("PORT is set by the program ({port})")
    assert PLACEHOLDER.search("{name!r} is not allowed")
    assert not PLACEHOLDER.search("'GOOD': {nested: 1} is not allowed; {{literal}}")


def test_every_template_field_has_words() -> None:
    assert set(catalogue.ENV_FIELDS) - {"port", "metrics_port"} == set(catalogue.ENV_FIELD_WORDS)


def test_a_variable_the_program_sets_shows_its_value_in_words() -> None:
    (port,) = problems({**DEV, "webapp:services": {"websocket": {"env": {"PORT": "1"}}}})
    assert "PORT is set by the program (3002), which keeps the port, probes" in port
    (origin,) = problems({**DEV, "webapp:services": {"auth": {"env": {"PUBLIC_URL": "x"}}}})
    assert "from the stack's settings (https://<webapp:domain>)" in origin
