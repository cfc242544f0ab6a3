"""StackKey: the stack's customer-managed KMS key (or the one named in config).

Creates (parented to the component), unless `webapp:aws.kmsKeyArn` names an existing key:
- `aws.kms.Key` with yearly rotation and a 30-day deletion window, `protect`ed in production,
  and an explicit key policy (reviewable in the render, instead of the implicit default): the
  account administers the key through IAM but cannot use it; the listed roles (External Secrets'
  and `webapp:aws.keyUsers`) use it only through Secrets Manager and RDS in the stack's region,
  and RDS may attach grants for their resources
- `aws.kms.Alias` `alias/webapp-<stack>`

Encrypts the Secrets Manager secrets, the RDS storage, the RDS-managed master password and
Performance Insights. The IRSA role of External Secrets gets `kms:Decrypt` on this key only,
through Secrets Manager only.
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
    users: tuple[str, ...] = ()
    """The IAM roles that may use the key (through Secrets Manager and RDS only): External
    Secrets' role and `webapp:aws.keyUsers`. Nobody else, whatever their own IAM policy says."""


ADMIN_ACTIONS = (
    # The key-administrator actions of the AWS default key policy ("Allows key administrators to
    # administer the KMS key",
    # docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html) with one change:
    # `kms:Create*` there also matches `kms:CreateGrant`, and a grant can give its grantee Decrypt
    # outside any service (grants are not bound by the key policy's conditions), so
    # administration here is `kms:CreateAlias` only and CreateGrant is RDS's, below.
    "kms:CreateAlias",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
)
"""What the account may do to the key directly: manage it, never encrypt or decrypt with it."""

USE_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
)
"""What Secrets Manager and RDS call on behalf of a principal ("How AWS Secrets Manager uses AWS
KMS": GenerateDataKey to write a secret value, Decrypt to read it; "Amazon RDS and AWS KMS",
docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Overview.Encryption.Keys.html: DescribeKey and
CreateGrant by the principal that creates the instance)."""

SERVICES = ("secretsmanager", "rds")


def _condition(test: str, variable: str, values: list[str]) -> iam.Condition:
    return aws.iam.GetPolicyDocumentStatementConditionArgs(
        test=test, variable=variable, values=values
    )


def key_policy_statements(args: StackKeyArgs) -> list[iam.Statement]:
    """In a key policy `*` is the key itself, and the principal `<account>:root` means "the IAM
    principals of this account whose own IAM policies allow it" (and the root user), not the root
    user alone (docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html). So every
    statement names the account, and what it allows is what an IAM policy can at most unlock:

    1. administration only (without it nobody, the account included, could manage the key again);
    2. cryptographic use only by the listed roles (`users`), and only when `kms:ViaService` is
       the stack region's Secrets Manager or RDS,
       i.e. only inside those services' own calls for the principal (the deployer writing secrets
       and creating the instance, External Secrets reading, operators putting values): an IAM
       policy with `kms:Decrypt` can no longer decrypt directly
       (docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service);
    3. `kms:CreateGrant` only through RDS and only for an AWS resource: RDS keeps a grant for the
       instance, its snapshots and Performance Insights ("Amazon RDS and AWS KMS"); Secrets
       Manager needs none.
    """
    account = aws.iam.GetPolicyDocumentStatementPrincipalArgs(
        type="AWS", identifiers=[f"arn:{args.partition}:iam::{args.account_id}:root"]
    )
    caller = _condition("StringEquals", "kms:CallerAccount", [args.account_id])
    # `aws:PrincipalArn` is a role session's role ARN: only these roles, and no other principal
    # of the account however wide its own IAM policy (a condition, not a Principal element, so
    # the key can be created before External Secrets' role exists).
    users = _condition("ArnEquals", "aws:PrincipalArn", sorted(set(args.users)))

    def via(*services: str) -> iam.Condition:
        return _condition(
            "StringEquals",
            "kms:ViaService",
            [f"{service}.{args.region}.amazonaws.com" for service in services],
        )

    return [
        aws.iam.GetPolicyDocumentStatementArgs(
            sid="AccountAdministersTheKeyThroughIam",
            effect="Allow",
            principals=[account],
            actions=list(ADMIN_ACTIONS),
            resources=["*"],
        ),
        aws.iam.GetPolicyDocumentStatementArgs(
            sid="UseOnlyThroughSecretsManagerAndRds",
            effect="Allow",
            principals=[account],
            actions=list(USE_ACTIONS),
            resources=["*"],
            conditions=[caller, users, via(*SERVICES)],
        ),
        aws.iam.GetPolicyDocumentStatementArgs(
            sid="RdsAttachesGrantsForItsResources",
            effect="Allow",
            principals=[account],
            actions=["kms:CreateGrant"],
            resources=["*"],
            conditions=[
                caller,
                users,
                via("rds"),
                _condition("Bool", "kms:GrantIsForAWSResource", ["true"]),
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
