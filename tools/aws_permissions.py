"""What the AWS identities of a stack may do, derived from the resource types the program declares.

`CALLS` is the table: for each AWS resource type the program declares, the API actions the
provider calls to create, read, update and delete it, each with the scope it acts on, read from
the provider's source. pulumi-aws 7.51.1 bundles terraform-provider-aws v6 (the `upstream`
submodule); the file of each type is named in `Calls.source`, and the functions read are its
`resource<Type>Create/Read/Update/Delete`. Actions AWS itself requires of the caller besides the
API call (a service calling KMS or IAM for the caller) cite the AWS page that says so.

From the table:
- the deploy policy: every action of every type, on the stack's own resources only (the program's
  names `webapp/<stack>/...`, `webapp-<stack>-*`, the RDS-managed `rds!db-*` secret, the key by
  its `stack` tag, which the provider's default tags put on it at creation);
- the read policy of the preview and drift roles: the read actions only (a refresh reads every
  resource; a preview reads nothing more);
- the CI roles' setup: their maximum session duration (the workflows ask for 2 hours) and their
  EKS access entries, which this program cannot declare (it does not own the cluster, and a
  deploy role that grants itself cluster access would need that access first).

    python -m tools.aws_permissions table                    # the README's table
    python -m tools.aws_permissions policy deploy STACK      # the deploy role's policy (JSON)
    python -m tools.aws_permissions policy read STACK        # the preview and drift roles' policy
    python -m tools.aws_permissions ci-roles STACK           # session length and EKS access entries

`tests/aws/test_deployer_policy.py` holds the README to this output, the table's types to what
the stacks declare, and every action to a statement that allows it on the resource it acts on.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Optional, Sequence

from components.aws.rds import rds_identifier
from components.aws.secrets import external_secrets_role_name
from tools.offline import load_stack_config

Scope = Literal[
    "key",
    "key-create",
    "key-use",
    "alias",
    "any",
    "secret",
    "rds-secret",
    "role",
    "role-attach",
    "pass-monitoring",
    "rds-linked-role",
    "vpc-create",
    "sg-tag-create",
    "sg",
    "rds",
    "cluster",
]
Call = tuple[str, Scope]
"""An action and what it acts on."""
Operation = Literal["create", "read", "update", "delete"]
OPERATIONS: tuple[Operation, ...] = ("create", "read", "update", "delete")
UPSTREAM = "hashicorp/terraform-provider-aws v6 (bundled by pulumi-aws 7.51.1)"
SESSION_SECONDS = 7200
"""`role-duration-seconds` of the workflows' configure-aws-credentials step: the roles'
MaxSessionDuration must be at least this (IAM's default is 3600)."""


@dataclass(frozen=True)
class Calls:
    source: str
    """The provider file (and, where AWS requires more of the caller, the AWS page)."""
    create: tuple[Call, ...]
    read: tuple[Call, ...]
    update: tuple[Call, ...]
    delete: tuple[Call, ...]

    def of(self, operation: Operation) -> tuple[Call, ...]:
        return tuple(getattr(self, operation))


KEY_READ: tuple[Call, ...] = (
    ("kms:DescribeKey", "key"),
    ("kms:GetKeyPolicy", "key"),
    ("kms:GetKeyRotationStatus", "key"),
    ("kms:ListResourceTags", "key"),
)
SECRET_READ: tuple[Call, ...] = (
    ("secretsmanager:DescribeSecret", "secret"),
    ("secretsmanager:GetResourcePolicy", "secret"),
)
ROLE_READ: tuple[Call, ...] = (
    ("iam:GetRole", "role"),
    ("iam:ListRolePolicies", "role"),
    ("iam:GetRolePolicy", "role"),
    ("iam:ListAttachedRolePolicies", "role"),
)
RDS_TAGS: tuple[Call, ...] = (
    ("rds:AddTagsToResource", "rds"),
    ("rds:RemoveTagsFromResource", "rds"),
)

CALLS: Mapping[str, Calls] = {
    "aws:kms/key:Key": Calls(
        source="internal/service/kms/key.go (CreateKey with the default tags, which needs "
        "kms:TagResource; rotation; waits read the policy, rotation and tags back)",
        create=(
            ("kms:CreateKey", "key-create"),
            ("kms:TagResource", "key-create"),
            ("kms:EnableKeyRotation", "key"),
            *KEY_READ,
        ),
        read=KEY_READ,
        update=(
            ("kms:PutKeyPolicy", "key"),
            ("kms:EnableKeyRotation", "key"),
            ("kms:UpdateKeyDescription", "key"),
            ("kms:TagResource", "key"),
            ("kms:UntagResource", "key"),
        ),
        delete=(("kms:ScheduleKeyDeletion", "key"), ("kms:DescribeKey", "key")),
    ),
    "aws:kms/alias:Alias": Calls(
        source="internal/service/kms/alias.go (an alias call is authorized on the alias and on "
        "its key: docs.aws.amazon.com/kms/latest/developerguide/alias-access.html)",
        create=(
            ("kms:CreateAlias", "alias"),
            ("kms:CreateAlias", "key"),
            ("kms:ListAliases", "any"),
        ),
        read=(("kms:ListAliases", "any"),),
        update=(("kms:UpdateAlias", "alias"), ("kms:UpdateAlias", "key")),
        delete=(("kms:DeleteAlias", "alias"), ("kms:DeleteAlias", "key")),
    ),
    "aws:secretsmanager/secret:Secret": Calls(
        source="internal/service/secretsmanager/secret.go (tags at creation need "
        "secretsmanager:TagResource)",
        create=(
            ("secretsmanager:CreateSecret", "secret"),
            ("secretsmanager:TagResource", "secret"),
            *SECRET_READ,
        ),
        read=SECRET_READ,
        update=(
            ("secretsmanager:UpdateSecret", "secret"),
            ("secretsmanager:TagResource", "secret"),
            ("secretsmanager:UntagResource", "secret"),
        ),
        delete=(("secretsmanager:DeleteSecret", "secret"),),
    ),
    "aws:secretsmanager/secretVersion:SecretVersion": Calls(
        source="internal/service/secretsmanager/secret_version.go (Secrets Manager encrypts and "
        "decrypts with the caller's kms:GenerateDataKey and kms:Decrypt: "
        "docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html)",
        create=(
            ("secretsmanager:PutSecretValue", "secret"),
            ("kms:GenerateDataKey", "key-use"),
            ("secretsmanager:GetSecretValue", "secret"),
            ("kms:Decrypt", "key-use"),
        ),
        read=(("secretsmanager:GetSecretValue", "secret"), ("kms:Decrypt", "key-use")),
        update=(
            ("secretsmanager:UpdateSecretVersionStage", "secret"),
            ("secretsmanager:ListSecretVersionIds", "secret"),
        ),
        delete=(
            ("secretsmanager:UpdateSecretVersionStage", "secret"),
            ("secretsmanager:GetSecretValue", "secret"),
        ),
    ),
    "aws:iam/role:Role": Calls(
        source="internal/service/iam/role.go (the read lists inline and attached policies; the "
        "delete detaches them and leaves instance profiles first)",
        create=(("iam:CreateRole", "role"), ("iam:TagRole", "role"), *ROLE_READ),
        read=ROLE_READ,
        update=(
            ("iam:UpdateAssumeRolePolicy", "role"),
            ("iam:UpdateRole", "role"),
            ("iam:UpdateRoleDescription", "role"),
            ("iam:TagRole", "role"),
            ("iam:UntagRole", "role"),
        ),
        delete=(
            ("iam:ListInstanceProfilesForRole", "role"),
            ("iam:ListAttachedRolePolicies", "role"),
            ("iam:DetachRolePolicy", "role-attach"),
            ("iam:ListRolePolicies", "role"),
            ("iam:DeleteRolePolicy", "role"),
            ("iam:DeleteRole", "role"),
        ),
    ),
    "aws:iam/rolePolicy:RolePolicy": Calls(
        source="internal/service/iam/role_policy.go",
        create=(("iam:PutRolePolicy", "role"), ("iam:GetRolePolicy", "role")),
        read=(("iam:GetRolePolicy", "role"),),
        update=(("iam:PutRolePolicy", "role"),),
        delete=(("iam:DeleteRolePolicy", "role"),),
    ),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": Calls(
        source="internal/service/iam/role_policy_attachment.go",
        create=(("iam:AttachRolePolicy", "role-attach"), ("iam:ListAttachedRolePolicies", "role")),
        read=(("iam:ListAttachedRolePolicies", "role"),),
        update=(),
        delete=(("iam:DetachRolePolicy", "role-attach"),),
    ),
    "aws:ec2/securityGroup:SecurityGroup": Calls(
        source="internal/service/ec2/vpc_security_group.go (created with its tags, which needs "
        "ec2:CreateTags for CreateSecurityGroup; the default egress rule is revoked; lingering "
        "network interfaces are looked up before the delete)",
        create=(
            ("ec2:CreateSecurityGroup", "vpc-create"),
            ("ec2:CreateTags", "sg-tag-create"),
            ("ec2:DescribeSecurityGroups", "any"),
            ("ec2:RevokeSecurityGroupEgress", "sg"),
            ("ec2:AuthorizeSecurityGroupIngress", "sg"),
        ),
        read=(("ec2:DescribeSecurityGroups", "any"),),
        update=(
            ("ec2:AuthorizeSecurityGroupIngress", "sg"),
            ("ec2:RevokeSecurityGroupIngress", "sg"),
            ("ec2:UpdateSecurityGroupRuleDescriptionsIngress", "sg"),
            ("ec2:CreateTags", "sg"),
            ("ec2:DeleteTags", "sg"),
        ),
        delete=(("ec2:DescribeNetworkInterfaces", "any"), ("ec2:DeleteSecurityGroup", "sg")),
    ),
    "aws:rds/subnetGroup:SubnetGroup": Calls(
        source="internal/service/rds/subnet_group.go",
        create=(("rds:CreateDBSubnetGroup", "rds"), ("rds:AddTagsToResource", "rds")),
        read=(("rds:DescribeDBSubnetGroups", "rds"), ("rds:ListTagsForResource", "rds")),
        update=(("rds:ModifyDBSubnetGroup", "rds"), *RDS_TAGS),
        delete=(("rds:DeleteDBSubnetGroup", "rds"),),
    ),
    "aws:rds/parameterGroup:ParameterGroup": Calls(
        source="internal/service/rds/parameter_group.go (parameters are set by a modify after "
        "the create)",
        create=(
            ("rds:CreateDBParameterGroup", "rds"),
            ("rds:AddTagsToResource", "rds"),
            ("rds:ModifyDBParameterGroup", "rds"),
        ),
        read=(
            ("rds:DescribeDBParameterGroups", "rds"),
            ("rds:DescribeDBParameters", "rds"),
            ("rds:ListTagsForResource", "rds"),
        ),
        update=(
            ("rds:ModifyDBParameterGroup", "rds"),
            ("rds:ResetDBParameterGroup", "rds"),
            *RDS_TAGS,
        ),
        delete=(("rds:DeleteDBParameterGroup", "rds"),),
    ),
    "aws:rds/instance:Instance": Calls(
        source="internal/service/rds/instance.go; RDS creates its service-linked role on first "
        "use (docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAM.ServiceLinkedRoles."
        "html), uses a customer key through grants (Overview.Encryption.Keys.html), passes the "
        "monitoring role, and keeps the master password in a secret of its own "
        '(rds-secrets-manager.html, "Required permissions")',
        create=(
            ("rds:CreateDBInstance", "rds"),
            ("rds:AddTagsToResource", "rds"),
            ("iam:CreateServiceLinkedRole", "rds-linked-role"),
            ("iam:PassRole", "pass-monitoring"),
            ("kms:DescribeKey", "key"),
            ("kms:CreateGrant", "key-use"),
            ("kms:GenerateDataKey", "key-use"),
            ("kms:Decrypt", "key-use"),
            ("secretsmanager:CreateSecret", "rds-secret"),
            ("secretsmanager:TagResource", "rds-secret"),
            ("secretsmanager:RotateSecret", "rds-secret"),
            ("rds:DescribeDBInstances", "rds"),
            ("rds:ListTagsForResource", "rds"),
        ),
        read=(("rds:DescribeDBInstances", "rds"), ("rds:ListTagsForResource", "rds")),
        update=(
            ("rds:ModifyDBInstance", "rds"),
            *RDS_TAGS,
            ("iam:PassRole", "pass-monitoring"),
            ("kms:CreateGrant", "key-use"),
        ),
        delete=(
            ("rds:DeleteDBInstance", "rds"),
            ("rds:CreateDBSnapshot", "rds"),
            ("secretsmanager:DeleteSecret", "rds-secret"),
            ("rds:DescribeDBInstances", "rds"),
        ),
    ),
}
"""AWS resource type -> the calls of each operation (tests/aws/test_deployer_policy.py holds the
types to those the stacks declare)."""

SETUP_CALLS: tuple[Call, ...] = (("eks:DescribeCluster", "cluster"),)
"""Outside the program: `aws eks update-kubeconfig` in .github/actions/stack-setup (every job)."""


@dataclass(frozen=True)
class Target:
    """What the stack names: the scopes are built from it."""

    stack: str
    partition: str
    account: str
    region: str
    cluster: str
    vpc_id: str
    existing_key_arn: Optional[str] = None

    @classmethod
    def of_stack(cls, stack: str) -> Target:
        aws: Mapping[str, Any] = load_stack_config(stack)["webapp:aws"]
        provider = str(aws["oidcProviderArn"]).split(":")
        return cls(
            stack=stack,
            partition=provider[1],
            account=provider[4],
            region=str(aws["region"]),
            cluster=str(aws["clusterName"]),
            vpc_id=str(aws["vpcId"]),
            existing_key_arn=aws.get("kmsKeyArn") or None,
        )


def _arn(target: Target, service: str, resource: str, region: bool = True) -> str:
    where = target.region if region else ""
    return f"arn:{target.partition}:{service}:{where}:{target.account}:{resource}"


def program_roles(stack: str) -> list[str]:
    """The IAM roles the program creates: exactly these, so the deploy role can never edit a role
    the program does not own (its own included)."""
    return sorted([external_secrets_role_name(stack), f"{rds_identifier(stack)}-rds-monitoring"])


def _scopes(target: Target) -> dict[Scope, tuple[list[str], dict[str, dict[str, Any]]]]:
    """Scope -> (Resource, Condition)."""
    stack = target.stack
    keys = [target.existing_key_arn] if target.existing_key_arn else [_arn(target, "kms", "key/*")]
    # A created key is known by its `stack` tag: the provider's default tags are sent with
    # CreateKey, so the key carries it from its first call on.
    tagged = {} if target.existing_key_arn else {"aws:ResourceTag/stack": stack}
    services = [f"{service}.{target.region}.amazonaws.com" for service in ("secretsmanager", "rds")]
    iam = f"arn:{target.partition}:iam::{target.account}"
    roles = [f"{iam}:role/{name}" for name in program_roles(stack)]
    monitoring = (
        f"arn:{target.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
    )
    rds = [
        _arn(target, "rds", f"db:{rds_identifier(stack)}"),
        _arn(target, "rds", f"subgrp:{rds_identifier(stack)}"),
        _arn(target, "rds", f"pg:{rds_identifier(stack)}-postgres*"),
        _arn(target, "rds", "og:default:postgres-*"),
        _arn(target, "rds", f"snapshot:{rds_identifier(stack)}-final-*"),
    ]
    groups = [_arn(target, "ec2", "security-group/*")]
    request_tag = {"StringEquals": {"aws:RequestTag/stack": stack}}
    return {
        "key": (keys, {"StringEquals": tagged} if tagged else {}),
        "key-create": (["*"], request_tag),
        "key-use": (keys, {"StringEquals": {**tagged, "kms:ViaService": services}}),
        "alias": ([_arn(target, "kms", f"alias/webapp-{stack}")], {}),
        "any": (["*"], {}),
        "secret": ([_arn(target, "secretsmanager", f"secret:webapp/{stack}/*")], {}),
        "rds-secret": ([_arn(target, "secretsmanager", "secret:rds!db-*")], {}),
        "role": (roles, {}),
        "role-attach": (roles, {"ArnEquals": {"iam:PolicyARN": monitoring}}),
        "pass-monitoring": ([f"{iam}:role/{rds_identifier(stack)}-rds-monitoring"], {}),
        "rds-linked-role": (
            [f"{iam}:role/aws-service-role/rds.amazonaws.com/AWSServiceRoleForRDS"],
            {"StringEquals": {"iam:AWSServiceName": "rds.amazonaws.com"}},
        ),
        "vpc-create": ([_arn(target, "ec2", f"vpc/{target.vpc_id}"), *groups], request_tag),
        "sg-tag-create": (groups, {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}}),
        "sg": (groups, {"StringEquals": {"aws:ResourceTag/stack": stack}}),
        "rds": (rds, {}),
        "cluster": ([_arn(target, "eks", f"cluster/{target.cluster}")], {}),
    }


Role = Literal["deploy", "read"]


KEY_TYPES = ("aws:kms/key:Key", "aws:kms/alias:Alias")
"""Not declared when `webapp:aws.kmsKeyArn` names an existing key."""


def declared_types(target: Target) -> list[str]:
    """The AWS resource types the stack declares (without its own key when it uses another)."""
    return sorted(t for t in CALLS if not (target.existing_key_arn and t in KEY_TYPES))


def calls(role: Role, target: Target) -> list[Call]:
    """Every call the role makes: the deploy role all operations, the read role reads only."""
    operations: tuple[Operation, ...] = OPERATIONS if role == "deploy" else ("read",)
    found = [
        call for typ in declared_types(target) for op in operations for call in CALLS[typ].of(op)
    ]
    return sorted(set(found) | set(SETUP_CALLS))


def _sid(role: Role, scope: str) -> str:
    return role.capitalize() + "".join(part.capitalize() for part in scope.split("-"))


def policy(role: Role, target: Target) -> dict[str, Any]:
    """The IAM policy document of `role` for the stack: one statement per scope."""
    scopes = _scopes(target)
    by_scope: dict[Scope, set[str]] = {}
    for action, scope in calls(role, target):
        by_scope.setdefault(scope, set()).add(action)
    statements = []
    for scope in sorted(by_scope):
        resources, condition = scopes[scope]
        statement: dict[str, Any] = {
            "Sid": _sid(role, scope),
            "Effect": "Allow",
            "Action": sorted(by_scope[scope]),
            "Resource": resources,
        }
        if condition:
            statement["Condition"] = condition
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


def policy_json(role: Role, stack: str) -> str:
    return json.dumps(policy(role, Target.of_stack(stack)), indent=2)


def table() -> str:
    """The README's table: type, the actions of each operation, where they were read."""
    lines = [
        "| resource type | create | read | update | delete | read from |",
        "|---|---|---|---|---|---|",
    ]
    for typ, entry in sorted(CALLS.items()):
        cells = [
            ", ".join(f"`{action}`" for action in sorted({a for a, _ in entry.of(op)})) or "-"
            for op in OPERATIONS
        ]
        lines.append(f"| `{typ}` | " + " | ".join(cells) + f" | {entry.source} |")
    return "\n".join(lines)


DEPLOY_ACCESS = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
READ_ACCESS = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy"


def ci_roles(stack: str) -> str:
    """The commands that give the stack's CI roles a session as long as their jobs and access to
    the cluster (an EKS access entry each)."""
    target = Target.of_stack(stack)
    iam = f"arn:{target.partition}:iam::{target.account}:role"
    lines = [
        f"# Stack {stack}: cluster {target.cluster} in {target.region}, account {target.account}.",
        "# The cluster must accept access entries (once):",
        f"aws eks update-cluster-config --name {target.cluster} --region {target.region} "
        "--access-config authenticationMode=API_AND_CONFIG_MAP",
    ]
    for suffix, access in (
        ("deploy", DEPLOY_ACCESS),
        ("read", READ_ACCESS),
        ("preview", READ_ACCESS),
    ):
        name = f"webapp-{stack}-{suffix}"
        lines += [
            f"# {name}",
            f"aws iam update-role --role-name {name} --max-session-duration {SESSION_SECONDS}",
            f"aws eks create-access-entry --cluster-name {target.cluster} --region "
            f"{target.region} --principal-arn {iam}/{name} --type STANDARD",
            f"aws eks associate-access-policy --cluster-name {target.cluster} --region "
            f"{target.region} --principal-arn {iam}/{name} --policy-arn {access} "
            "--access-scope type=cluster",
        ]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="the AWS permissions of a stack's identities")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("table", help="the README's table of calls per resource type")
    printed = commands.add_parser("policy", help="an IAM policy document (JSON)")
    printed.add_argument("role", choices=["deploy", "read"])
    printed.add_argument("stack")
    roles = commands.add_parser("ci-roles", help="session length and EKS access entries")
    roles.add_argument("stack")
    args = parser.parse_args(argv)
    if args.command == "table":
        print(table())
    elif args.command == "policy":
        print(policy_json(args.role, args.stack))
    else:
        print(ci_roles(args.stack))
    return 0


if __name__ == "__main__":
    sys.exit(main())
