"""Argo CD's health check for the operator's Stack kind, run by a real Lua 5.1 interpreter (Argo CD
runs resource health scripts with gopher-lua, a Lua 5.1 implementation).

Each status below is one the operator writes at v2.9.0
(pulumi/pulumi-kubernetes-operator operator/api/pulumi/v1/stack_types.go: MarkReadyCondition,
MarkReconcilingCondition, MarkStalledCondition; stack_controller.go: a failed update below the retry
limit is Reconciling/RetryingAfterFailure with lastUpdate.state "failed", at the limit
Stalled/UpdateFailed; a missing prerequisite is Reconciling/PrerequisiteNotSatisfied).
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from gitops.argocd import HEALTH_CHECK
from tests.support import program


def lua_literal(value: Any) -> str:
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"[{json.dumps(k)}] = {lua_literal(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def health(obj: dict[str, Any]) -> tuple[str, str]:
    """Run the check as Argo CD does: `obj` is the object, the script returns a table."""
    script = (
        f"local obj = {lua_literal(obj)}\n"
        f"local hs = (function()\n{HEALTH_CHECK}\nend)()\n"
        "io.write(hs.status .. '\\n' .. (hs.message or ''))\n"
    )
    done = subprocess.run(
        [program("lua5.1")], input=script, capture_output=True, text=True, check=True, timeout=10
    )
    status, _, message = done.stdout.partition("\n")
    return status, message


def condition(kind: str, status: str, reason: str, message: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


READY = [condition("Ready", "True", "ProcessingCompleted")]
IN_PROGRESS = [
    condition("Ready", "False", "NotReadyInProgress"),
    condition("Reconciling", "True", "StackProcessing", "Processing stack update"),
]
RETRYING = [
    condition("Ready", "False", "NotReadyInProgress"),
    condition("Reconciling", "True", "RetryingAfterFailure", "2 failure(s)"),
]
STALLED = [
    condition("Ready", "False", "NotReadyStalled"),
    condition("Stalled", "True", "UpdateFailed", "update failed after 5 attempts"),
]
WAITING = [
    condition("Ready", "False", "NotReadyInProgress"),
    condition(
        "Reconciling",
        "True",
        "PrerequisiteNotSatisfied",
        'prerequisite not satisfied for "webapp-staging"',
    ),
]


@pytest.mark.parametrize(
    "status, expected",
    [
        (None, "Progressing"),
        ({"conditions": READY, "lastUpdate": {"state": "succeeded"}}, "Healthy"),
        ({"conditions": IN_PROGRESS}, "Progressing"),
        ({"conditions": WAITING, "lastUpdate": {"state": "succeeded"}}, "Progressing"),
        # A mandatory policy violation fails the update: Argo CD shows it at once.
        (
            {"conditions": RETRYING, "lastUpdate": {"state": "failed", "message": "policy"}},
            "Degraded",
        ),
        ({"conditions": STALLED, "lastUpdate": {"state": "failed"}}, "Degraded"),
        (
            {"conditions": [condition("Stalled", "True", "SourceUnavailable", "no such branch")]},
            "Degraded",
        ),
    ],
)
def test_a_failed_reconcile_shows_as_degraded(status: Any, expected: str) -> None:
    obj: dict[str, Any] = {
        "apiVersion": "pulumi.com/v1",
        "kind": "Stack",
        "metadata": {"name": "s"},
    }
    if status is not None:
        obj["status"] = status
    found, message = health(obj)
    assert found == expected, message


def test_the_message_names_the_reason() -> None:
    _, message = health({"status": {"conditions": STALLED}})
    assert message.startswith("UpdateFailed: update failed after 5 attempts")
    _, message = health({"status": {"conditions": WAITING}})
    assert "webapp-staging" in message
