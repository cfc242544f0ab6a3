"""Production refuses the shipped stack file's placeholders (`example.com` hostname, ACME contact
and images, reserved for documentation by RFC 2606) on a real preview or up; the offline tools,
which render the shipped files as they are, accept them."""

from __future__ import annotations

import pulumi
import pytest

from components.config.parsing import parse_settings
from components.config.settings import SettingsError
from tools.offline import load_stack_config, run_stack

REAL = {
    "webapp:domain": "todo.acme-corp.io",
    "webapp:routing": {"mode": "gateway", "issuer": "acme", "acmeEmail": "ops@acme-corp.io"},
}


def refusals(stack: str, overrides: dict[str, object]) -> list[str]:
    config = {**load_stack_config(stack), **overrides}
    try:
        parse_settings(config, stack, check_data_lock=False, refuse_placeholders=True)
    except SettingsError as error:
        return error.problems
    return []


def test_production_refuses_every_placeholder_by_its_key() -> None:
    found = refusals("production", {})
    assert found[0].startswith(
        "webapp:domain: 'webapp.example.com' is a placeholder (example.com and its kin are "
        "reserved for documentation, RFC 2606)"
    )
    assert found[1].startswith("webapp:routing.acmeEmail: 'platform@example.com' is a placeholder")
    assert found[2].startswith(
        "webapp:monitoring.runbookUrl: 'https://github.com/OWNER/REPO/blob/main/README.md' is the "
        "shipped placeholder"
    )
    assert {p.split(": ", 1)[0] for p in found[3:]} == {
        "webapp:scheduler.image",
        *(
            f"webapp:services.{name}.image"
            for name in ("api", "auth", "broadcaster", "frontend", "websocket")
        ),
    }


def test_real_values_pass_and_other_environments_keep_their_placeholders() -> None:
    images = {
        name: {**section, "image": section["image"].replace("registry.example.com", "ghcr.io/acme")}
        for name, section in load_stack_config("production")["webapp:services"].items()
    }
    scheduler = load_stack_config("production")["webapp:scheduler"]
    monitoring = load_stack_config("production")["webapp:monitoring"]
    real = {
        **REAL,
        "webapp:monitoring": {
            **monitoring,
            "runbookUrl": "https://github.com/acme/webapp-infra/blob/main/README.md",
        },
        "webapp:services": images,
        "webapp:scheduler": {**scheduler, "image": "ghcr.io/acme/todo-cron:1.0.0"},
    }
    assert refusals("production", real) == []
    assert refusals("staging", {}) == []


def test_a_real_preview_of_the_shipped_production_file_stops_before_declaring_anything() -> None:
    with pytest.raises(pulumi.RunError) as error:
        run_stack("production", offline=False)
    assert "webapp:domain: 'webapp.example.com' is a placeholder" in str(error.value)
    # The offline tools run it as shipped.
    assert run_stack("production").stack == "production"
