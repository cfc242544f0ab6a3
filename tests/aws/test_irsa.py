"""IRSA: the role trusts exactly the ServiceAccount the program creates; least-privilege policies."""

from __future__ import annotations

import json

from components.workloads.http_service import HttpService
from tests.support import as_list, one, only, records, service_args, unwrap
from tools.offline import StackRun, load_stack_config, run_components

# --- IRSA -------------------------------------------------------------------------------------


def test_trust_subject_is_the_created_service_account_and_audience_is_sts(
    production: StackRun,
) -> None:
    account = production.find("ServiceAccount", "external-secrets-aws")
    role = (
        only(production, "aws:iam/role:Role")
        if len(records(production, "aws:iam/role:Role")) == 1
        else next(
            r
            for r in records(production, "aws:iam/role:Role")
            if r.inputs["name"].endswith("-external-secrets")
        )
    )
    trust = json.loads(unwrap(role.inputs["assumeRolePolicy"]))
    statement = trust["Statement"][0]
    issuer = load_stack_config("production")["webapp:aws"]["oidcIssuerUrl"].removeprefix("https://")
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert (
        statement["Principal"]["Federated"]
        == load_stack_config("production")["webapp:aws"]["oidcProviderArn"]
    )
    conditions = statement["Condition"]["StringEquals"]
    meta = account["metadata"]
    assert conditions == {
        f"{issuer}:sub": f"system:serviceaccount:{meta['namespace']}:{meta['name']}",
        f"{issuer}:aud": "sts.amazonaws.com",
    }
    # The annotation the ServiceAccount carries is the ARN the role really gets.
    arn = f"arn:aws:iam::123456789012:role/{role.inputs['name']}"
    assert meta["annotations"]["eks.amazonaws.com/role-arn"] == arn
    assert account["automountServiceAccountToken"] is False


def test_trust_follows_the_service_account_resource_not_a_retyped_name(
    production: StackRun,
) -> None:
    role = next(
        r
        for r in records(production, "aws:iam/role:Role")
        if r.inputs["name"].endswith("-external-secrets")
    )
    account = next(
        r
        for r in production.resources
        if r.type == "kubernetes:core/v1:ServiceAccount"
        and r.inputs["metadata"]["name"] == "external-secrets-aws"
    )
    assert account.urn in role.depends_on


def test_no_wildcards_and_reads_only_this_stacks_secrets(production: StackRun) -> None:
    arns = set()
    for record in records(production, "aws:secretsmanager/secret:Secret"):
        assert record.inputs["name"].startswith("webapp/production/")
        arns.add(f"arn:aws:secretsmanager:eu-central-1:123456789012:secret:{record.inputs['name']}")
    key = only(production, "aws:kms/key:Key")
    statements = []
    for policy in records(production, "aws:iam/rolePolicy:RolePolicy"):
        statements += json.loads(unwrap(policy.inputs["policy"]))["Statement"]
    assert statements
    read_resources = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        resources = as_list(statement["Resource"])
        assert all("*" not in r for r in resources), statement
        if any(a.startswith("secretsmanager:") for a in as_list(statement["Action"])):
            assert sorted(statement["Action"]) == [
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
            ]
            read_resources |= set(resources)
        else:
            assert statement["Action"] == "kms:Decrypt"
            assert all(
                r.startswith("arn:aws:kms:eu-central-1:123456789012:key/") for r in resources
            )
    stack_secrets = {r.rsplit("-", 1)[0] for r in read_resources if ":secret:webapp/" in r}
    assert stack_secrets == arns
    rds_secrets = [r for r in read_resources if ":secret:rds!db-" in r]
    assert len(rds_secrets) == 1, "the RDS-managed master secret, and only it, besides the stack's"
    assert key.inputs["enableKeyRotation"] is True


def test_no_managed_secrets_manager_policy(production: StackRun) -> None:
    for attachment in records(production, "aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        assert "SecretsManager" not in attachment.inputs["policyArn"]


# --- IRSA for any service ---------------------------------------------------------------------


def test_any_service_can_get_an_irsa_role() -> None:
    import json

    from components.aws.irsa import ROLE_ANNOTATION, IrsaRole, IrsaRoleArgs, role_arn

    arn = role_arn("aws", "123456789012", "webapp-test-api")

    def build() -> None:
        service = HttpService(
            "svc", service_args(service_account_annotations={ROLE_ANNOTATION: arn})
        )
        IrsaRole(
            "api-irsa",
            IrsaRoleArgs(
                role_name="webapp-test-api",
                oidc_provider_arn="arn:aws:iam::123456789012:oidc-provider/oidc.example/id/X",
                oidc_issuer_host="oidc.example/id/X",
                service_account_namespace=service.service_account.metadata.namespace,
                service_account_name=service.service_account_name,
                policies={
                    "read-bucket": json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": "s3:GetObject",
                                    "Resource": "arn:aws:s3:::bucket/*",
                                }
                            ],
                        }
                    )
                },
            ),
        )

    run = run_components(build)
    account = one(run, "ServiceAccount")
    assert account["metadata"]["annotations"] == {ROLE_ANNOTATION: arn}
    role = next(r for r in run.resources if r.type == "aws:iam/role:Role")
    from tools.offline import normalise

    trust = json.loads(normalise(role.inputs["assumeRolePolicy"], reveal=True))
    assert (
        trust["Statement"][0]["Condition"]["StringEquals"]["oidc.example/id/X:sub"]
        == "system:serviceaccount:ns:api"
    )
    assert (
        next(r for r in run.resources if r.type == "aws:iam/rolePolicy:RolePolicy").inputs["name"]
        == "read-bucket"
    )
