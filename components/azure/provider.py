"""The stack's Azure provider, pinned to the configured subscription, tenant and location.

Declares (parented to the caller, named `<name>-azure`): `azure_native.Provider`, so the stack
never acts on whatever subscription the deployer's CLI happens to have selected.
"""

from __future__ import annotations

import pulumi
import pulumi_azure_native as azure

from components.config.azure import AzureSettings


def stack_provider(
    name: str, settings: AzureSettings, opts: pulumi.ResourceOptions
) -> azure.Provider:
    return azure.Provider(
        f"{name}-azure",
        subscription_id=settings.subscription_id,
        tenant_id=settings.tenant_id,
        location=settings.location,
        opts=opts,
    )
