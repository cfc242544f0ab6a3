"""Rotation in a protected (production) stack: a new value must not be a protected replacement.

The provider's schema decides what a new value does. At the terraform-provider-aws version
pulumi-aws 7.51.1 bundles (v6, `internal/service/secretsmanager/secret_version.go`,
`resourceSecretVersion`), `secret_id`, `secret_binary`, `secret_string` and
`secret_string_wo_version` are `ForceNew`: a changed value replaces the SecretVersion
(`tools.changes.REPLACE_ON_CHANGE` carries them). Pulumi refuses to replace a `protect`ed
resource ("unable to replace resource ... marked for protection") at preview, so nothing a
rotation replaces may be protected: not the versions, not the RandomPasswords whose keepers carry
the rotation label.

The mocks give a RandomPassword a value derived from its keepers (`tools.offline.mock_password`),
so a new rotation label reaches the versions' `secret_string` here as it does in the cloud.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from tools.changes import plan
from tools.offline import SecretConfig, StackRun

VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
ROTATED = {"webapp:secretRotation": "2027-Q1"}
NEW_WEBHOOK = {"webapp:broadcasterWebhookUrl": SecretConfig("https://hooks.example.org/rotated")}


@pytest.mark.parametrize("change", [ROTATED, NEW_WEBHOOK], ids=["rotation-label", "webhook-url"])
def test_a_new_value_in_production_is_a_replacement_that_protect_allows(
    change: dict[str, Any], stack_run: Callable[..., StackRun]
) -> None:
    before = stack_run("production")
    after = stack_run("production", change)
    resources = after.by_urn()
    replaced = [c.urn for c in plan(before, after) if c.action == "replace"]
    # The change reaches Secrets Manager (the mocks derive values from the keepers) ...
    assert any(resources[urn].type == VERSION for urn in replaced), replaced
    # ... and nothing it replaces is protected, so `pulumi preview` does not stop on it.
    assert [urn for urn in replaced if resources[urn].protect] == []
    # The secrets that hold the values stay protected: the data is not at risk.
    secrets = [r for r in after.resources if r.type == "aws:secretsmanager/secret:Secret"]
    assert secrets and all(secret.protect for secret in secrets)
