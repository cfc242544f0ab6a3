"""The stack key's policy, evaluated (tests/aws/kms_access.py): the account administers the key
and cannot use it; cryptographic use happens only inside Secrets Manager's and RDS's calls."""

from __future__ import annotations

import json
from typing import Any, Sequence

import parliament
import pytest

from tests.aws import kms_access as kms
from tests.support import only, records, unwrap
from tools.offline import StackRun

ACCOUNT = "123456789012"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
SECRETS_MANAGER = {"kms:ViaService": "secretsmanager.eu-central-1.amazonaws.com"}
RDS = {"kms:ViaService": "rds.eu-central-1.amazonaws.com"}
Key = tuple[dict[str, Any], str]
"""A rendered key policy and the key's ARN."""
CRYPTO = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom")
DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/webapp-production-deploy"
"""A role `webapp:aws.keyUsers` of the production stack file lists."""


@pytest.fixture(scope="module")
def key(production: StackRun) -> Key:
    """The rendered key policy and the key's ARN (as the secrets it encrypts name it)."""
    policy = json.loads(unwrap(only(production, "aws:kms/key:Key").inputs["policy"]))
    arns = {
        unwrap(s.inputs["kmsKeyId"])
        for s in records(production, "aws:secretsmanager/secret:Secret")
    }
    assert len(arns) == 1
    return policy, arns.pop()


def identity(*actions: str, resource: str = "*") -> dict[str, Any]:
    """An IAM policy someone in the account could attach to their own role."""
    return {"Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}]}


def role(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def can(
    key: Key, who: str, action: str, policies: Sequence[dict[str, Any]] = (), **context: str
) -> bool:
    policy, arn = key
    return kms.allowed(policy, list(policies), kms.Request(who, action, arn, context))


# --- the hole issue 23 found is closed ---------------------------------------------------------


def test_an_iam_policy_with_decrypt_cannot_decrypt_outside_the_services(key: Key) -> None:
    mine = identity("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")
    for action in ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"):
        assert not can(key, role("anyone"), action, [mine])
        assert not can(
            key,
            role("anyone"),
            action,
            [mine],
            **{"kms:ViaService": "s3.eu-central-1.amazonaws.com"},
        )
        # Secrets Manager in another region is another service endpoint.
        assert not can(
            key,
            role("anyone"),
            action,
            [mine],
            **{"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"},
        )
        # Not even through the services: only the listed roles use the key (next test).
        assert not can(key, role("anyone"), action, [mine], **SECRETS_MANAGER)
        assert not can(key, role("anyone"), action, [mine], **RDS)
        # A listed role, with the same IAM policy: through the services only.
        assert can(key, DEPLOYER, action, [mine], **SECRETS_MANAGER)
        assert can(key, DEPLOYER, action, [mine], **RDS)
        assert not can(key, DEPLOYER, action, [mine])


def test_only_the_listed_roles_use_the_key(key: Key, production: StackRun) -> None:
    """`webapp:aws.keyUsers` and External Secrets' role, by `aws:PrincipalArn`: a role with
    another name, another account's role of the same name, or the account's root get nothing."""
    from tools.offline import load_stack_config

    listed = load_stack_config("production")["webapp:aws"]["keyUsers"]
    reader = role("webapp-production-external-secrets")
    wide = [identity("kms:*")]
    for who in [*listed, reader]:
        assert can(key, who, "kms:Decrypt", wide, **SECRETS_MANAGER), who
    for who in (
        role("webapp-production-deploy-2"),
        "arn:aws:iam::210987654321:role/webapp-production-deploy",
        ROOT,
    ):
        assert not can(key, who, "kms:Decrypt", wide, **SECRETS_MANAGER), who


def test_even_an_administrator_cannot_decrypt_or_grant_itself_decrypt(key: Key) -> None:
    admin = identity("*")
    for action in CRYPTO:
        assert not can(key, role("admin"), action, [admin])
    # A grant would carry Decrypt past every condition: only RDS creates them, for its resources.
    assert not can(key, role("admin"), "kms:CreateGrant", [admin])
    assert not can(
        key,
        role("admin"),
        "kms:CreateGrant",
        [admin],
        **SECRETS_MANAGER,
        **{"kms:GrantIsForAWSResource": "true"},
    )
    assert not can(key, role("admin"), "kms:CreateGrant", [admin], **RDS)
    # Not through RDS either: RDS attaches grants for the roles that create its resources.
    assert not can(
        key,
        role("admin"),
        "kms:CreateGrant",
        [admin],
        **RDS,
        **{"kms:GrantIsForAWSResource": "true"},
    )
    assert can(
        key, DEPLOYER, "kms:CreateGrant", [admin], **RDS, **{"kms:GrantIsForAWSResource": "true"}
    )


def test_the_root_user_administers_but_cannot_use_the_key(key: Key) -> None:
    for action in (
        "kms:PutKeyPolicy",
        "kms:ScheduleKeyDeletion",
        "kms:CancelKeyDeletion",
        "kms:EnableKeyRotation",
        "kms:DescribeKey",
        "kms:GetKeyPolicy",
        "kms:TagResource",
        "kms:CreateAlias",
        "kms:DisableKey",
    ):
        assert can(key, ROOT, action), action
    for action in (*CRYPTO, "kms:CreateGrant", "kms:ImportKeyMaterial", "kms:ReplicateKey"):
        assert not can(key, ROOT, action), action


def test_iam_principals_administer_only_with_their_own_policy_allowing_it(key: Key) -> None:
    """Not locked out: the account's admins keep managing the key through IAM."""
    assert can(key, role("admin"), "kms:PutKeyPolicy", [identity("kms:*")])
    assert can(key, role("admin"), "kms:ScheduleKeyDeletion", [identity("kms:ScheduleKeyDeletion")])
    assert not can(key, role("reader"), "kms:PutKeyPolicy", [identity("kms:Decrypt")])
    assert not can(key, role("nobody"), "kms:DescribeKey")


def test_no_action_outside_administration_is_allowed_without_a_service(key: Key) -> None:
    """Every KMS action parliament knows (its copy of the AWS service authorization reference):
    what the root user may call directly is exactly the administration list."""
    from components.aws.kms import ADMIN_ACTIONS

    every = sorted(f"kms:{a['action']}" for a in parliament.expand_action("kms:*"))
    direct = {action for action in every if can(key, ROOT, action)}
    administration = {
        action for action in every if any(kms.action_matches(p, action) for p in ADMIN_ACTIONS)
    }
    assert direct == administration
    assert not {
        a
        for a in direct
        if a.split(":")[1].startswith(
            (
                "Encrypt",
                "Decrypt",
                "ReEncrypt",
                "GenerateDataKey",
                "CreateGrant",
                "Sign",
                "Verify",
                "GenerateMac",
                "DeriveSharedSecret",
                "ImportKeyMaterial",
            )
        )
    }


def test_another_account_gets_nothing(key: Key) -> None:
    stranger = "arn:aws:iam::210987654321:role/admin"
    for action in (*CRYPTO, "kms:PutKeyPolicy", "kms:DescribeKey"):
        assert not can(key, stranger, action, [identity("*")], **SECRETS_MANAGER)


# --- the principals that need it keep working --------------------------------------------------


def test_external_secrets_decrypts_through_secrets_manager_only(
    key: Key, production: StackRun
) -> None:
    """With the role's own rendered policies: reading a secret works, nothing else does."""
    reader = next(
        r
        for r in records(production, "aws:iam/role:Role")
        if r.inputs["name"].endswith("-external-secrets")
    )
    policies = [
        json.loads(unwrap(p.inputs["policy"]))
        for p in records(production, "aws:iam/rolePolicy:RolePolicy")
    ]
    assert policies
    who = role(reader.inputs["name"])
    assert can(key, who, "kms:Decrypt", policies, **SECRETS_MANAGER)
    assert not can(key, who, "kms:Decrypt", policies)
    assert not can(key, who, "kms:Decrypt", policies, **RDS)
    assert not can(key, who, "kms:GenerateDataKey", policies, **SECRETS_MANAGER)
    assert not can(key, who, "kms:PutKeyPolicy", policies)


def test_the_deployer_creates_secrets_and_the_encrypted_instance(key: Key) -> None:
    """What `pulumi up` needs from the key, as the README's deployer permissions grant it:
    Secrets Manager generates a data key to write a value and decrypts it to read it back ("How
    AWS Secrets Manager uses AWS KMS"); RDS describes the key and creates a grant for the
    instance, and RDS's managed master secret is written through Secrets Manager ("Amazon RDS and
    AWS KMS"); Pulumi reads and updates the key and its alias itself."""
    deployer = [identity("kms:*")]
    who = DEPLOYER
    assert can(key, who, "kms:GenerateDataKey", deployer, **SECRETS_MANAGER)
    assert can(key, who, "kms:Decrypt", deployer, **SECRETS_MANAGER)
    assert can(key, who, "kms:DescribeKey", deployer, **RDS)
    assert can(
        key, who, "kms:CreateGrant", deployer, **RDS, **{"kms:GrantIsForAWSResource": "true"}
    )
    for action in (
        "kms:DescribeKey",
        "kms:GetKeyPolicy",
        "kms:GetKeyRotationStatus",
        "kms:ListResourceTags",
        "kms:EnableKeyRotation",
        "kms:PutKeyPolicy",
        "kms:CreateAlias",
        "kms:UpdateAlias",
        "kms:DeleteAlias",
        "kms:TagResource",
    ):
        assert can(key, who, action, deployer), action


# --- the evaluator itself ----------------------------------------------------------------------


OLD_POLICY = {
    # The policy before issue 23, as rendered then: the account's `kms:*` undid the second statement.
    "Statement": [
        {
            "Sid": "AccountAdministersTheKeyThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": ROOT},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "UseOnlyThroughSecretsManagerAndRds",
            "Effect": "Allow",
            "Principal": {"AWS": ROOT},
            "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:CreateGrant",
                "kms:DescribeKey",
            ],
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "kms:CallerAccount": ACCOUNT,
                    "kms:ViaService": [
                        "secretsmanager.eu-central-1.amazonaws.com",
                        "rds.eu-central-1.amazonaws.com",
                    ],
                }
            },
        },
    ]
}


def test_the_evaluator_finds_the_old_hole() -> None:
    key = (OLD_POLICY, f"arn:aws:kms:eu-central-1:{ACCOUNT}:key/1")
    assert can(key, role("anyone"), "kms:Decrypt", [identity("kms:Decrypt")])
    assert can(key, ROOT, "kms:Decrypt")


def test_the_evaluator_follows_iam_rules() -> None:
    request = kms.Request(
        role("r"),
        "kms:Decrypt",
        "arn:aws:kms:eu-central-1:123456789012:key/1",
        {"kms:ViaService": "secretsmanager.eu-central-1.amazonaws.com"},
    )
    direct = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": role("r")},
                "Action": "KMS:decrypt",
                "Resource": "*",
            }
        ]
    }
    assert kms.allowed(direct, [], request), (
        "a principal named in the key policy needs no IAM policy; actions are case-insensitive"
    )
    deny = {"Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]}
    assert not kms.allowed(direct, [deny], request), "an explicit Deny anywhere wins"
    like = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ROOT},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {
                    "StringLike": {"kms:ViaService": "secretsmanager.*.amazonaws.com"},
                    "ArnEquals": {"aws:PrincipalArn": [role("x"), role("r")]},
                },
            }
        ]
    }
    assert kms.allowed(like, [identity("kms:Decrypt")], request), "values ORed, keys ANDed, globs"
    assert not kms.allowed(like, [], request), "the account principal needs an IAM Allow too"
    other = kms.Request(role("s"), request.action, request.resource, request.context)
    assert not kms.allowed(like, [identity("kms:Decrypt")], other)
    missing = kms.Request(role("r"), "kms:Decrypt", request.resource)
    assert not kms.allowed(like, [identity("kms:Decrypt")], missing), (
        "a missing key matches nothing"
    )
    scoped = identity("kms:Decrypt", resource="arn:aws:kms:eu-central-1:123456789012:key/2")
    assert not kms.allowed(like, [scoped], request), "the IAM Allow must name this key"
    with pytest.raises(ValueError):
        kms.allowed(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"StringNotEquals": {"a": "b"}},
                    }
                ]
            },
            [],
            request,
        )
