"""StackKey: the stack's customer-managed KMS key (or the one named in config).

Creates (parented to the component), unless `webapp:aws.kmsKeyArn` names an existing key:
- `aws.kms.Key` with yearly rotation and a 30-day deletion window, `protect`ed in production
- `aws.kms.Alias` `alias/webapp-<stack>`

Encrypts the Secrets Manager secrets, the RDS storage, the RDS-managed master password and
Performance Insights. The IRSA role of External Secrets gets `kms:Decrypt` on this key only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.kube import objects as kx


@dataclass(frozen=True, kw_only=True)
class StackKeyArgs:
    instance: str
    """The stack name: the key's alias is `alias/webapp-<instance>`."""
    existing_key_arn: Optional[str] = None
    """Use this customer-managed key instead of creating one. Default None: create it."""
    protect: bool = False
    """Pulumi `protect` on the key (a deleted key makes every secret and snapshot unreadable).
    Default off.
    """


class StackKey(pulumi.ComponentResource):
    arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: StackKeyArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:aws:StackKey", name, None, opts)
        if args.existing_key_arn:
            self.arn = pulumi.Output.from_input(args.existing_key_arn)
        else:
            key = aws.kms.Key(
                f"{name}-key",
                aws.kms.KeyArgs(
                    description=f"webapp {args.instance}: secrets and database encryption",
                    enable_key_rotation=True,
                    deletion_window_in_days=30,
                ),
                opts=pulumi.ResourceOptions.merge(
                    kx.child_options(self, opts), pulumi.ResourceOptions(protect=args.protect)
                ),
            )
            aws.kms.Alias(
                f"{name}-alias",
                aws.kms.AliasArgs(name=f"alias/webapp-{args.instance}", target_key_id=key.key_id),
                opts=kx.child_options(self, opts),
            )
            self.arn = key.arn
        self.register_outputs({"arn": self.arn})
