"""StackKey: the stack's customer-managed KMS key (or the one named in config).

Creates (parented to the component), unless `webapp:aws.kmsKeyArn` names an existing key:
- `aws.kms.Key` with yearly rotation and a 30-day deletion window, `protect`ed in production,
  and an explicit key policy (reviewable in the render, instead of the implicit default): the
  account administers the key through IAM, and its principals may use it only through Secrets
  Manager and RDS in the stack's region
- `aws.kms.Alias` `alias/webapp-<stack>`

Encrypts the Secrets Manager secrets, the RDS storage, the RDS-managed master password and
Performance Insights. The IRSA role of External Secrets gets `kms:Decrypt` on this key only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.aws import iam
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
    account_id: str = ""
    """The stack's account: the key policy's principal."""
    partition: str = "aws"
    """The AWS partition of the account's ARN. Default aws."""
    region: str = ""
    """The region whose Secrets Manager and RDS may use the key."""


USE_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:CreateGrant",
    "kms:DescribeKey",
)


def key_policy_statements(args: StackKeyArgs) -> list[iam.Statement]:
    """In a key policy `*` is the key itself. The first statement is the one AWS would add by
    default (without it nobody, the account included, could ever manage the key again)."""
    account = aws.iam.GetPolicyDocumentStatementPrincipalArgs(
        type="AWS", identifiers=[f"arn:{args.partition}:iam::{args.account_id}:root"]
    )
    services = [f"{service}.{args.region}.amazonaws.com" for service in ("secretsmanager", "rds")]
    return [
        aws.iam.GetPolicyDocumentStatementArgs(
            sid="AccountAdministersTheKeyThroughIam",
            effect="Allow",
            principals=[account],
            actions=["kms:*"],
            resources=["*"],
        ),
        aws.iam.GetPolicyDocumentStatementArgs(
            sid="UseOnlyThroughSecretsManagerAndRds",
            effect="Allow",
            principals=[account],
            actions=list(USE_ACTIONS),
            resources=["*"],
            conditions=[
                aws.iam.GetPolicyDocumentStatementConditionArgs(
                    test="StringEquals", variable="kms:CallerAccount", values=[args.account_id]
                ),
                aws.iam.GetPolicyDocumentStatementConditionArgs(
                    test="StringEquals", variable="kms:ViaService", values=services
                ),
            ],
        ),
    ]


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
                    policy=iam.policy_json(key_policy_statements(args), self),
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
