"""The staging stack (shipped on Azure) with External Secrets delivery instead of the CSI driver,
and what its identity declared."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.support import records
from tools.offline import StackRun, load_stack_config, normalise

ESO = {
    "webapp:azure": {
        # The CSI driver's poll interval belongs to csi delivery only.
        **{
            key: value
            for key, value in load_stack_config("staging")["webapp:azure"].items()
            if key != "csiRotationPollInterval"
        },
        "secretDelivery": "external-secrets",
    }
}
ISSUER = load_stack_config("staging")["webapp:azure"]["oidcIssuerUrl"]


def credentials(run: StackRun) -> dict[str, dict[str, Any]]:
    return {
        normalise(r.inputs["subject"], reveal=True): normalise(r.inputs, reveal=True)
        for r in records(run, "azure-native:managedidentity:FederatedIdentityCredential")
    }


def identity_client_id(run: StackRun) -> str:
    """The client id the mocks give the stack's user-assigned identity."""
    identity = records(run, "azure-native:managedidentity:UserAssignedIdentity")
    assert len(identity) == 1
    digest = hashlib.sha256(("client" + identity[0].name).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
