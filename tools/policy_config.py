"""Where the policy pack and its per-stack thresholds live. Kept apart from policy_check so the
tools the credentialed CI jobs run (tools.ci, tools.branch) import without pulumi-policy, which
their runtime-only virtualenv does not hold (the pack has its own, policy/.venv)."""

from __future__ import annotations

from pathlib import Path

from .offline import ROOT

PACK = ROOT / "policy"
CONFIG = PACK / "config"


def config_file(stack: str) -> Path:
    """policy/config/<stack>.json; branch stacks (feature-*) use the dev thresholds."""
    name = "dev" if stack.startswith("feature-") else stack
    return CONFIG / f"{name}.json"
