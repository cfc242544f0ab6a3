"""`cloud: aws`: Secrets Manager + IRSA + External Secrets, RDS PostgreSQL, and their safety."""

from __future__ import annotations

import json
from typing import Any, Callable

import pulumi
import pytest

from components.config.parsing import parse_settings
from components.config.settings import SettingsError
from components.secrets import catalogue as cat
from tools.offline import Registered, StackRun, load_stack_config, run_components

from .test_stacks import pod_specs, produced_secrets

AWS_OVERRIDE = {"webapp:cloud": "aws"}


@pytest.fixture(scope="module")
def production(stack_run: Callable[..., StackRun]) -> StackRun:
    run = stack_run("production")
    assert run.outputs["cloud"] == "aws"
    return run


def records(run: StackRun, typ: str) -> list[Registered]:
    return [r for r in run.resources if r.type == typ]


def only(run: StackRun, typ: str) -> Registered:
    found = records(run, typ)
    assert len(found) == 1, f"{len(found)} {typ}"
    return found[0]


def unwrap(value: Any) -> Any:
    from tools.offline import normalise

    return normalise(value, reveal=True)


# --- IRSA -------------------------------------------------------------------------------------


def as_list(value: str | list[str]) -> list[str]:
    """The provider writes a one-item list as a plain string (`getPolicyDocument`)."""
    return [value] if isinstance(value, str) else value


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


# --- Secrets Manager and External Secrets -----------------------------------------------------


def test_secrets_manager_layout_encryption_and_recovery(production: StackRun) -> None:
    names = {r.inputs["name"] for r in records(production, "aws:secretsmanager/secret:Secret")}
    assert names == {
        f"webapp/production/{p}"
        for p in (
            "database/connection",
            "redis/auth",
            "auth/jwt-secret",
            "oauth/google",
            "oauth/github",
            "oauth/microsoft",
            "email/smtp",
            "grafana/admin",
            "broadcaster/webhook",
        )
    }
    key_arn = only(production, "aws:kms/key:Key")
    for record in records(production, "aws:secretsmanager/secret:Secret"):
        assert record.inputs["kmsKeyId"].startswith("arn:aws:kms:eu-central-1:123456789012:key/"), (
            key_arn
        )
        assert record.inputs["recoveryWindowInDays"] == 30
    for version in records(production, "aws:secretsmanager/secretVersion:SecretVersion"):
        from tools.offline import contains_secret

        assert contains_secret(version.inputs["secretString"])


def test_every_secret_a_production_pod_reads_comes_from_an_external_secret(
    production: StackRun,
) -> None:
    objects = production.kubernetes_objects()
    produced = produced_secrets(objects)
    read = 0
    for name, spec, _ in pod_specs(objects):
        for container in spec["containers"]:
            for env in container.get("env") or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    keys, producer = produced[("webapp-production", ref["name"])]
                    assert producer == "ExternalSecret" and ref["key"] in keys, f"{name}: {ref}"
                    read += 1
    assert read > 15
    stores = [o for o in objects if o["kind"] == "ClusterSecretStore"]
    assert len(stores) == 1
    for obj in objects:
        if obj["kind"] == "ExternalSecret":
            assert obj["spec"]["target"]["creationPolicy"] == "Owner"
            assert obj["spec"]["secretStoreRef"] == {
                "name": stores[0]["metadata"]["name"],
                "kind": "ClusterSecretStore",
            }


def test_refresh_intervals_follow_sensitivity(production: StackRun) -> None:
    intervals = {
        o["spec"]["target"]["name"]: o["spec"]["refreshInterval"]
        for o in production.kubernetes_objects()
        if o["kind"] == "ExternalSecret"
    }
    assert intervals == {s.name: s.refresh for s in cat.ALL_SECRETS}
    assert intervals["webapp-database"] == "15m" and intervals["webapp-jwt"] == "24h"


def test_database_secret_has_the_seed_shape(production: StackRun) -> None:
    external = production.find("ExternalSecret", "webapp-database", "webapp-production")
    assert set(external["spec"]["target"]["template"]["data"]) == {
        "host",
        "port",
        "dbname",
        "username",
        "password",
        "connection-string",
        "url",
    }
    sources = {d["secretKey"]: d["remoteRef"] for d in external["spec"]["data"]}
    assert sources["host"] == {"key": "webapp/production/database/connection", "property": "host"}
    assert sources["password"]["key"].startswith(
        "arn:aws:secretsmanager:eu-central-1:123456789012:secret:rds!db-"
    )
    assert "SSL Mode=Require" in external["spec"]["target"]["template"]["data"]["connection-string"]


def test_store_is_limited_to_the_stack_namespaces(production: StackRun) -> None:
    store = next(o for o in production.kubernetes_objects() if o["kind"] == "ClusterSecretStore")
    assert store["spec"]["conditions"] == [{"namespaces": ["webapp-production", "monitoring"]}]
    assert store["spec"]["provider"]["aws"]["region"] == "eu-central-1"
    assert store["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"] == {
        "name": "external-secrets-aws",
        "namespace": "webapp-production",
    }


def test_external_secrets_operator_is_pinned_or_declared_present(
    stack_run: Callable[..., StackRun],
) -> None:
    installed = stack_run("production")
    release = next(
        r
        for r in records(installed, "kubernetes:helm.sh/v3:Release")
        if r.inputs["chart"] == "external-secrets"
    )
    assert release.inputs["version"] == "0.19.2"
    present = stack_run("production", {"webapp:addons": {"externalSecrets": "present"}})
    assert not [
        r
        for r in records(present, "kubernetes:helm.sh/v3:Release")
        if r.inputs["chart"] == "external-secrets"
    ]
    assert [o for o in present.kubernetes_objects() if o["kind"] == "ExternalSecret"]


# --- RDS --------------------------------------------------------------------------------------


def test_rds_is_hardened(production: StackRun) -> None:
    db = only(production, "aws:rds/instance:Instance").inputs
    assert db["engine"] == "postgres" and int(db["engineVersion"].split(".")[0]) >= 16
    assert db["storageEncrypted"] is True and db["kmsKeyId"].startswith("arn:aws:kms:")
    assert db["maxAllocatedStorage"] > db["allocatedStorage"]
    assert db["publiclyAccessible"] is False
    assert db["manageMasterUserPassword"] is True and "password" not in db
    assert db["iamDatabaseAuthenticationEnabled"] is True and db["autoMinorVersionUpgrade"] is True
    assert db["performanceInsightsEnabled"] is True and db["monitoringInterval"] == 60
    assert db["enabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]
    params = {
        p["name"]: p["value"]
        for p in only(production, "aws:rds/parameterGroup:ParameterGroup").inputs["parameters"]
    }
    assert params["rds.force_ssl"] == "1" and int(params["log_min_duration_statement"]) > 0
    subnets = only(production, "aws:rds/subnetGroup:SubnetGroup").inputs["subnetIds"]
    assert subnets == load_stack_config("production")["webapp:aws"]["privateSubnetIds"]


def test_database_security_group_admits_only_the_cluster(production: StackRun) -> None:
    group = only(production, "aws:ec2/securityGroup:SecurityGroup").inputs
    assert group["egress"] == []
    assert group["ingress"] == [
        {
            "protocol": "tcp",
            "fromPort": 5432,
            "toPort": 5432,
            "description": "PostgreSQL from the EKS cluster",
            "securityGroups": [
                load_stack_config("production")["webapp:aws"]["clusterSecurityGroupId"]
            ],
        }
    ]
    assert "cidrBlocks" not in group["ingress"][0]


DESTROY_SAFETY = {
    # stack: (deletion protection, final snapshot, multi-AZ, protect, minimum backup days)
    "production": (True, True, True, True, 14),
    "staging": (False, True, False, False, 7),
    "dev": (False, False, False, False, 1),
}


@pytest.mark.parametrize("stack", sorted(DESTROY_SAFETY))
def test_destroy_safety_matrix(stack: str, stack_run: Callable[..., StackRun]) -> None:
    run = stack_run(stack, AWS_OVERRIDE)
    deletion, snapshot, multi_az, protect, backups = DESTROY_SAFETY[stack]
    instance = only(run, "aws:rds/instance:Instance")
    db = instance.inputs
    assert db["deletionProtection"] is deletion
    assert db["skipFinalSnapshot"] is (not snapshot)
    if snapshot:
        assert db["finalSnapshotIdentifier"].startswith(f"webapp-{stack}-final-") and len(
            db["finalSnapshotIdentifier"]
        ) > len(f"webapp-{stack}-final-")
    assert db["multiAz"] is multi_az
    assert db["backupRetentionPeriod"] >= backups
    assert db["storageEncrypted"] is True  # in every stack
    assert instance.protect is protect
    assert only(run, "aws:kms/key:Key").protect is protect
    assert all(r.protect is protect for r in records(run, "aws:secretsmanager/secret:Secret"))


def test_no_workload_waits_for_the_database(production: StackRun) -> None:
    by_urn = production.by_urn()
    children: dict[str, list[str]] = {}
    for record in production.resources:
        children.setdefault(record.parent, []).append(record.urn)
    rds = only(production, "aws:rds/instance:Instance").urn

    def closure(urn: str, seen: set[str]) -> set[str]:
        for dep in by_urn[urn].depends_on:
            if dep in seen or dep not in by_urn:
                continue
            seen.add(dep)
            closure(dep, seen)
            stack = list(children.get(dep, []))  # waiting on a component waits on all it contains
            while stack:
                child = stack.pop()
                if child not in seen:
                    seen.add(child)
                    closure(child, seen)
                    stack += children.get(child, [])
        return seen

    workloads = [
        r
        for r in production.resources
        if r.is_kubernetes_object
        and r.inputs.get("kind")
        in (
            "Deployment",
            "StatefulSet",
            "CronJob",
            "Service",
            "ConfigMap",
            "HorizontalPodAutoscaler",
            "Namespace",
        )
    ]
    assert len(workloads) > 20
    for record in workloads:
        assert rds not in closure(record.urn, set()), f"{record.name} waits for the RDS instance"
    # Control: the database ExternalSecret does wait for it (it names the RDS-managed secret), so the
    # closure above really follows dependencies.
    external = next(
        r
        for r in production.resources
        if r.inputs.get("kind") == "ExternalSecret"
        and r.inputs["metadata"]["name"] == "webapp-database"
    )
    assert rds in closure(external.urn, set())


def test_api_reaches_the_database_in_the_vpc_only(production: StackRun) -> None:
    policy = production.find("NetworkPolicy", "api", "webapp-production")
    blocks = [rule["to"][0].get("ipBlock") for rule in policy["spec"]["egress"]]
    assert {"cidr": "10.30.0.0/16"} in blocks
    assert not [
        o
        for o in production.kubernetes_objects()
        if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "postgres"
    ]


def test_stack_outputs_hold_no_secret_material(production: StackRun) -> None:
    assert set(production.outputs) == {"url", "namespace", "environment", "cloud", "secretNames"}
    assert production.outputs["secretNames"] == [s.name for s in cat.APP_SECRETS]


# --- Config validation ------------------------------------------------------------------------

BASE = load_stack_config("production")


def aws_problems(**changes: Any) -> list[str]:
    aws = {**BASE["webapp:aws"], **changes}
    with pytest.raises(SettingsError) as info:
        parse_settings({**BASE, "webapp:aws": aws}, "production")
    return info.value.problems


@pytest.mark.parametrize(
    "changes, expected",
    [
        (
            {"oidcProviderArn": "arn:aws:iam::12345:oidc-provider/x"},
            "webapp:aws.oidcProviderArn: 'arn:aws:iam::12345:oidc-provider/x' is not allowed; expected an EKS OIDC provider ARN",
        ),
        (
            {"oidcIssuerUrl": "http://oidc.example.com"},
            "webapp:aws.oidcIssuerUrl: 'http://oidc.example.com' is not allowed; expected the cluster's OIDC issuer URL",
        ),
        (
            {
                "oidcIssuerUrl": "https://oidc.eks.eu-central-1.amazonaws.com/id/FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
            },
            "is not the provider of webapp:aws.oidcIssuerUrl",
        ),
        (
            {"privateSubnetIds": ["subnet-123", "subnet-0123456789abcdef0"]},
            "webapp:aws.privateSubnetIds[0]: 'subnet-123' is not allowed; expected a subnet id",
        ),
        (
            {"privateSubnetIds": ["subnet-0123456789abcdef0"]},
            "expected at least 2 subnets in different availability zones",
        ),
        (
            {"region": "europe-1"},
            "webapp:aws.region: 'europe-1' is not allowed; expected an AWS region",
        ),
        ({"region": "us-east-1"}, "belongs to another region than webapp:aws.region 'us-east-1'"),
        ({"vpcId": "vpc-xyz"}, "webapp:aws.vpcId: 'vpc-xyz' is not allowed; expected a VPC id"),
        (
            {"vpcCidr": "8.8.8.0/24"},
            "webapp:aws.vpcCidr: '8.8.8.0/24' is not allowed; expected the VPC's private CIDR block",
        ),
        (
            {"clusterSecurityGroupId": "sg-1"},
            "webapp:aws.clusterSecurityGroupId: 'sg-1' is not allowed; expected a security group id",
        ),
        (
            {
                "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/0f0f0f0f-0f0f-0f0f-0f0f-0f0f0f0f0f0f"
            },
            "is not in webapp:aws.region",
        ),
        (
            {"database": {"backupRetentionDays": 0}},
            "webapp:aws.database.backupRetentionDays: 0 is not allowed; expected a whole number from 1 to 35",
        ),
        (
            {"database": {"backupRetentionDays": 36}},
            "webapp:aws.database.backupRetentionDays: 36 is not allowed; expected a whole number from 1 to 35",
        ),
        (
            {"database": {"deletionProtection": False}},
            "webapp:aws.database.deletionProtection: False is not allowed; expected true in production",
        ),
        (
            {"database": {"finalSnapshot": False}},
            "webapp:aws.database.finalSnapshot: False is not allowed; expected true in production",
        ),
        (
            {"database": {"engineVersion": "15.4"}},
            "webapp:aws.database.engineVersion: '15.4' is not allowed; expected PostgreSQL 16 or newer",
        ),
        (
            {"database": {"monitoringInterval": 7}},
            "webapp:aws.database.monitoringInterval: 7 is not allowed; expected one of 0, 1, 5, 10, 15, 30, 60",
        ),
        ({"clusterNmae": "x"}, "webapp:aws.clusterNmae: unknown key"),
    ],
)
def test_bad_aws_config_is_rejected_naming_the_key(changes: dict[str, Any], expected: str) -> None:
    found = aws_problems(**changes)
    assert any(expected in p for p in found), found


def test_cloud_aws_requires_the_cluster_inputs() -> None:
    config = {**BASE}
    config.pop("webapp:aws")
    with pytest.raises(SettingsError) as info:
        parse_settings(config, "production")
    assert any(
        p.startswith("webapp:aws: missing; webapp:cloud is aws") for p in info.value.problems
    )


def test_bad_aws_config_declares_nothing() -> None:
    from tools.offline import last_registrations, run_stack

    with pytest.raises(pulumi.RunError, match="webapp:aws.region"):
        run_stack("production", {"webapp:aws": {**BASE["webapp:aws"], "region": "nowhere"}})
    assert last_registrations() == []


def test_mocks_refuse_unknown_invokes() -> None:
    import pulumi_aws as aws

    from tools.offline import UnknownInvokeError

    with pytest.raises(UnknownInvokeError, match="aws:index/getCallerIdentity:getCallerIdentity"):
        run_components(lambda: aws.get_caller_identity_output().account_id.apply(lambda _: None))
