"""Rotation in a protected (production) stack: a new value must not be a protected replacement.

The provider's schema decides what a new value does. At the terraform-provider-aws version
pulumi-aws 7.51.1 bundles (v6, `internal/service/secretsmanager/secret_version.go`,
`resourceSecretVersion`), `secret_id`, `secret_binary`, `secret_string` and
`secret_string_wo_version` are `ForceNew`: a changed value replaces the SecretVersion. Pulumi
refuses to replace a `protect`ed resource ("unable to replace resource ... marked for
protection") at preview, so a version holding a rotated value must not be protected. pulumi-random
replaces a RandomPassword whose `keepers` change (`RequiresReplace` on keepers, random provider
`internal/provider/resource_password.go`), so those must not be protected either.

The mocks give a RandomPassword a value derived from its keepers (`tools.offline.mock_password`),
so a new rotation label reaches the versions' `secret_string` here as it does in the cloud.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import pytest

from tools.offline import SecretConfig, StackRun, normalise

VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
PASSWORD = "random:index/randomPassword:RandomPassword"
REPLACING_INPUTS: Mapping[str, tuple[str, ...]] = {
    # terraform-provider-aws v6, internal/service/secretsmanager/secret_version.go: ForceNew.
    VERSION: ("secretId", "secretBinary", "secretString", "secretStringWoVersion"),
    # pulumi-random: keepers and the generator's inputs replace the password.
    PASSWORD: ("keepers", "length", "special", "minLower", "minUpper", "minNumeric"),
}
ROTATED = {"webapp:secretRotation": "2027-Q1"}
NEW_WEBHOOK = {"webapp:broadcasterWebhookUrl": SecretConfig("https://hooks.example.org/rotated")}


def _replaced(before: StackRun, after: StackRun) -> dict[str, Any]:
    """URN -> the resource in `after` whose replacing inputs differ from `before`."""
    old = before.by_urn()
    replaced = {}
    for resource in after.resources:
        inputs = REPLACING_INPUTS.get(resource.type)
        if inputs is None or resource.urn not in old:
            continue
        previous = old[resource.urn].inputs
        if any(
            normalise(previous.get(key), reveal=True) != normalise(resource.inputs.get(key), True)
            for key in inputs
        ):
            replaced[resource.urn] = resource
    return replaced


@pytest.mark.parametrize("change", [ROTATED, NEW_WEBHOOK], ids=["rotation-label", "webhook-url"])
def test_a_new_value_in_production_is_a_replacement_that_protect_allows(
    change: dict[str, Any], stack_run: Callable[..., StackRun]
) -> None:
    before = stack_run("production")
    after = stack_run("production", change)
    replaced = _replaced(before, after)
    versions = {urn for urn, resource in replaced.items() if resource.type == VERSION}
    # The change reaches Secrets Manager (the mocks derive values from the keepers) ...
    assert versions, "a new value must reach a SecretVersion's secret_string"
    # ... and nothing it replaces is protected, so `pulumi preview` does not stop on it.
    assert [urn for urn, resource in replaced.items() if resource.protect] == []
    # The secrets that hold the values stay protected: the data is not at risk.
    secrets = [r for r in after.resources if r.type == "aws:secretsmanager/secret:Secret"]
    assert secrets and all(secret.protect for secret in secrets)
