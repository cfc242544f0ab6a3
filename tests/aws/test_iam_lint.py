"""parliament (duo-labs/parliament 1.6.4, its community auditors included) over every IAM and KMS
policy document the AWS stack writes: no finding but the few below, each explained and matched
narrowly (document kind, issue and what it points at)."""

from __future__ import annotations

import json
from typing import Any, Iterator

import parliament
import pytest

from tests.support import unwrap
from tools.offline import StackRun

DOCUMENTS = {
    ("aws:kms/key:Key", "policy"): "key",
    ("aws:iam/role:Role", "assumeRolePolicy"): "trust",
    ("aws:iam/rolePolicy:RolePolicy", "policy"): "identity",
    ("aws:iam/policy:Policy", "policy"): "identity",
    ("aws:iam/userPolicy:UserPolicy", "policy"): "identity",
    ("aws:iam/groupPolicy:GroupPolicy", "policy"): "identity",
    ("aws:secretsmanager/secretPolicy:SecretPolicy", "policy"): "resource",
}
"""Where a policy document sits in each resource type (the Pulumi AWS schema's input names)."""


def explained(kind: str, issue: str, detail: Any, location: dict[str, Any]) -> str | None:
    """Why a finding is not a problem, or None. parliament lints identity policies; it does not
    know that a key policy's or a trust policy's grammar differs."""
    if kind == "key" and issue == "RESOURCE_STAR":
        # In a key policy the Resource is the key the policy is attached to, and "*" is the only
        # value KMS accepts (docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html).
        return "a key policy's * is its own key"
    if kind == "key" and issue == "PERMISSIONS_MANAGEMENT_ACTIONS":
        actions = set(location.get("actions", []))
        # PutKeyPolicy and RevokeGrant are the account's administration of the key (without them
        # the key could never be managed again); CreateGrant is allowed only via RDS for AWS
        # resources (test_key_policy.py evaluates both).
        if actions <= {"kms:putkeypolicy", "kms:revokegrant", "kms:creategrant"}:
            return "key administration, evaluated in test_key_policy.py"
    if kind == "trust" and issue == "MALFORMED":
        # A role trust policy names no Resource: the role is the resource
        # (docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).
        if detail == "Statement contains neither Resource nor NotResource":
            return "a trust policy has no Resource"
    if kind == "trust" and issue == "UNKNOWN_FEDERATION_SOURCE":
        # parliament knows Cognito, SAML and a few web identity providers; an EKS cluster's IAM
        # OIDC provider (IRSA) is not among them. The trust's sub and aud conditions are checked
        # in test_irsa.py.
        if ":oidc-provider/oidc.eks." in str(detail):
            return "the cluster's EKS OIDC provider"
    return None


def documents(run: StackRun) -> Iterator[tuple[str, str, str]]:
    """(kind, resource name, JSON) for every policy document the run declared."""
    for record in run.resources:
        for (typ, field), kind in DOCUMENTS.items():
            if record.type == typ and record.inputs.get(field):
                yield kind, record.name, unwrap(record.inputs[field])


def findings(kind: str, document: str) -> list[tuple[str, Any, dict[str, Any]]]:
    policy = parliament.analyze_policy_string(document, include_community_auditors=True)
    return [(f.issue, f.detail, f.location) for f in policy.findings]


def test_every_policy_document_has_a_documents_entry(production: StackRun) -> None:
    """A policy-shaped input on an AWS resource the lint would not see fails here."""
    covered = set(DOCUMENTS)
    for record in production.resources:
        if not record.type.startswith("aws:"):
            continue
        for field, value in record.inputs.items():
            value = unwrap(value)
            if isinstance(value, str) and value.lstrip().startswith("{") and '"Statement"' in value:
                assert (record.type, field) in covered, (record.type, field)


def test_parliament_finds_nothing_unexplained(production: StackRun) -> None:
    seen = {kind for kind, _, _ in documents(production)}
    assert seen == {"key", "trust", "identity"}, seen
    unexplained = [
        (name, issue, detail)
        for kind, name, document in documents(production)
        for issue, detail, location in findings(kind, document)
        if explained(kind, issue, detail, location) is None
    ]
    assert not unexplained


@pytest.mark.parametrize(
    "kind,statement",
    [
        (
            "identity",
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
        ),
        ("identity", {"Effect": "Allow", "Action": "kms:Decryp", "Resource": "*"}),
        (
            "key",
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "iam:PassRole",
                "Resource": "*",
            },
        ),
        (
            "trust",
            {
                "Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::1:saml-provider/x"},
                "Action": "sts:AssumeRole",
            },
        ),
    ],
)
def test_the_lint_still_catches_what_is_not_explained(kind: str, statement: dict[str, Any]) -> None:
    document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    assert [
        issue
        for issue, detail, location in findings(kind, document)
        if explained(kind, issue, detail, location) is None
    ]
