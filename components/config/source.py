"""Reads the raw `webapp:*` stack config from the Pulumi runtime, decoded (objects as dicts).

Kept apart from `settings.py` so that parsing stays pure and testable without Pulumi.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi.runtime.config as runtime_config

from components.config.settings import NAMESPACE


def _webapp_keys() -> list[str]:
    # The runtime holds the stack's whole config; reading all of it lets the parser reject unknown
    # (misspelt) keys instead of silently ignoring them.
    # `pulumi up` hands config over in the PULUMI_CONFIG environment bag, tests and the
    # automation API through set_all_config; both are consulted, as `pulumi.Config` does.
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return sorted(key for key in keys if key.startswith(f"{NAMESPACE}:"))


def read_stack_config() -> dict[str, Any]:
    """Every `webapp:` key of the running stack. Structured values arrive as JSON text."""
    return {key: decode_config_value(runtime_config.get_config(key)) for key in _webapp_keys()}


def read_secret_keys() -> set[str]:
    """The `webapp:` keys the stack holds as secrets (`pulumi config set --secret`). A key with a
    secure value anywhere inside it (`--secret --path`) is secret as a whole."""
    from_env = set(runtime_config.get_config_secret_keys_env())
    return {
        key for key in _webapp_keys() if runtime_config.is_config_secret(key) or key in from_env
    }


def decode_config_value(value: Any) -> Any:
    """A config value as the runtime hands it over: structured values arrive as JSON text."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
