"""The stack's AWS provider: pinned to the cluster's account and region, tagging every resource.

Declares (parented to the caller, named `<name>-aws`): `aws.Provider` with `allowed_account_ids`
set, so a stack can never act on another account whatever credentials the deployer holds.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.config.aws import AwsSettings


def stack_provider(
    name: str, stack: str, settings: AwsSettings, opts: pulumi.ResourceOptions
) -> aws.Provider:
    return aws.Provider(
        f"{name}-aws",
        region=settings.region,
        allowed_account_ids=[settings.account_id],
        # Every AWS resource says which stack owns it.
        default_tags=aws.ProviderDefaultTagsArgs(
            tags={"app": "webapp", "stack": stack, **dict(settings.tags)}
        ),
        opts=opts,
    )
