"""RDS PostgreSQL: hardening, network, destroy safety, and that no workload waits for it."""

from __future__ import annotations

import json
from typing import Callable

import pytest

from components.secrets import catalogue as cat
from tests.support import kind_and_name, only, records, waits_for
from tools.offline import StackRun, load_stack_config, normalise

AWS_OVERRIDE = {"webapp:cloud": "aws"}

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


def test_only_the_services_that_check_the_database_wait_for_it(production: StackRun) -> None:
    """api and auth read `webapp-database-app` (their readiness checks the database): it is
    written after the roles Job, which waits for RDS and the admin's Secret, so their 10-minute
    rollout wait starts then. Nothing else waits for the instance: not the store, not the other
    Secrets, not the other workloads."""
    rds = only(production, "aws:rds/instance:Instance").urn
    waiting = {
        kind_and_name(production, r.urn)
        for r in production.resources
        if r.is_kubernetes_object and rds in waits_for(production, r.urn)
    }
    assert waiting == {
        ("Rollout", "api"),  # production releases api as a canary
        (
            "Job",
            next(
                o["metadata"]["name"]
                for o in production.kubernetes_objects()
                if o["metadata"]["name"].startswith("api-release-")
            ),
        ),  # its release gate, after it
        ("Deployment", "auth"),
        ("ExternalSecret", "webapp-database"),
        (
            "Job",
            next(
                o["metadata"]["name"]
                for o in production.kubernetes_objects()
                if o["metadata"]["name"].startswith("database-roles-")
            ),
        ),  # the roles Job (`data.database_roles`)
        ("Secret", "webapp-database-app"),  # written after it
    }


def test_api_reaches_the_database_in_the_vpc_only(production: StackRun) -> None:
    policy = production.find("NetworkPolicy", "api", "webapp-production")
    blocks = [rule["to"][0].get("ipBlock") for rule in policy["spec"]["egress"]]
    # The RDS subnet group's subnets (`privateSubnetCidrs`), not the whole VPC 10.30.0.0/16.
    subnets = [{"cidr": f"10.30.{third}.0/19"} for third in (0, 32, 64)]
    assert all(subnet in blocks for subnet in subnets)
    assert {"cidr": "10.30.0.0/16"} not in blocks
    assert not [
        o
        for o in production.kubernetes_objects()
        if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "postgres"
    ]


def test_stack_outputs_hold_no_secret_material(production: StackRun) -> None:
    assert set(production.outputs) == {"url", "namespace", "environment", "cloud", "secretNames"}
    assert production.outputs["secretNames"] == [s.name for s in cat.APP_SECRETS]


def test_enhanced_monitoring_role_trusts_only_rds_monitoring(production: StackRun) -> None:
    role = next(
        r
        for r in records(production, "aws:iam/role:Role")
        if r.inputs["name"].endswith("-rds-monitoring")
    )
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "monitoring.rds.amazonaws.com"},
                # RDS acting for this account's instances only (confused deputy).
                "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
            }
        ],
    }


def test_kms_key_has_an_explicit_policy_and_ddl_is_logged(production: StackRun) -> None:
    import json

    key = only(production, "aws:kms/key:Key").inputs
    policy = json.loads(normalise(key, reveal=True)["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    root = "arn:aws:iam::123456789012:root"
    admin = statements["AccountAdministersTheKeyThroughIam"]
    assert admin["Principal"] == {"AWS": root} and "Condition" not in admin
    # Administration only: what the policy *allows* is evaluated in test_key_policy.py.
    assert not {"kms:*", "kms:Create*", "kms:CreateGrant", "kms:Decrypt"} & set(admin["Action"])
    use = statements["UseOnlyThroughSecretsManagerAndRds"]
    assert "kms:*" not in use["Action"] and "kms:Decrypt" in use["Action"]
    assert use["Condition"]["StringEquals"]["kms:ViaService"] == [
        "secretsmanager.eu-central-1.amazonaws.com",
        "rds.eu-central-1.amazonaws.com",
    ]
    grants = statements["RdsAttachesGrantsForItsResources"]
    assert grants["Action"] == "kms:CreateGrant"
    assert grants["Condition"]["StringEquals"]["kms:ViaService"] == "rds.eu-central-1.amazonaws.com"
    assert grants["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
    assert set(statements) == {
        "AccountAdministersTheKeyThroughIam",
        "UseOnlyThroughSecretsManagerAndRds",
        "RdsAttachesGrantsForItsResources",
    }
    parameters = only(production, "aws:rds/parameterGroup:ParameterGroup").inputs["parameters"]
    assert {"name": "log_statement", "value": "ddl"} in [
        {"name": p["name"], "value": p["value"]} for p in parameters
    ]


def _production_aws(**changes: object) -> dict[str, object]:
    aws = dict(load_stack_config("production")["webapp:aws"])
    return {"webapp:aws": {**aws, **changes}}


def test_admitted_security_groups_are_let_in_on_5432(stack_run: Callable[..., StackRun]) -> None:
    """Karpenter nodes, custom launch templates and security groups for pods have groups of their
    own: each listed one is admitted next to the cluster's, on 5432 only."""
    extra = ["sg-0aaaaaaaaaaaaaaaa", "sg-0bbbbbbbbbbbbbbbb"]
    run = stack_run("production", _production_aws(admittedSecurityGroupIds=extra))
    (rule,) = only(run, "aws:ec2/securityGroup:SecurityGroup").inputs["ingress"]
    cluster = load_stack_config("production")["webapp:aws"]["clusterSecurityGroupId"]
    assert rule["securityGroups"] == [cluster, *extra]
    assert (rule["fromPort"], rule["toPort"], rule["protocol"]) == (5432, 5432, "tcp")


@pytest.mark.parametrize("stack", sorted(DESTROY_SAFETY))
def test_changes_are_applied_now_in_an_explicit_window(
    stack: str, stack_run: Callable[..., StackRun]
) -> None:
    """A held change is read back as the old value by every refresh until the window (the provider
    reads the current class, not the pending one), so previews and drift would re-plan it: every
    profile applies changes with the up, in a window RDS does not pick at random."""
    db = only(stack_run(stack, AWS_OVERRIDE), "aws:rds/instance:Instance").inputs
    assert db["applyImmediately"] is True
    assert db["maintenanceWindow"] == "sun:03:00-sun:04:00"


def test_holding_changes_for_the_window_is_a_choice(stack_run: Callable[..., StackRun]) -> None:
    database = {"applyImmediately": False, "maintenanceWindow": "tue:01:00-tue:02:30"}
    run = stack_run("production", _production_aws(database=database))
    db = only(run, "aws:rds/instance:Instance").inputs
    assert (db["applyImmediately"], db["maintenanceWindow"]) == (False, "tue:01:00-tue:02:30")


def test_a_recorded_major_version_upgrades_with_its_own_parameter_group(
    stack_run: Callable[..., StackRun],
) -> None:
    """Once the lock records the new major, the up creates `...-postgres17` (a new name, so
    Pulumi's create-before-delete replacement does not collide), and the instance allows the major
    upgrade, so the provider sends the version and the group in one ModifyDBInstance
    (`resourceInstanceUpdate`, terraform-provider-aws v6 internal/service/rds/instance.go)."""
    before = stack_run("production")
    after = stack_run("production", _production_aws(database={"engineVersion": "17"}))
    old = only(before, "aws:rds/parameterGroup:ParameterGroup").inputs
    new = only(after, "aws:rds/parameterGroup:ParameterGroup").inputs
    assert (old["family"], new["family"]) == ("postgres16", "postgres17")
    assert old["name"] != new["name"] and new["name"].endswith("-postgres17")
    db = only(after, "aws:rds/instance:Instance").inputs
    assert db["allowMajorVersionUpgrade"] is True and db["applyImmediately"] is True
    assert db["parameterGroupName"] == new["name"] and db["engineVersion"] == "17"


def test_an_unrecorded_major_version_is_refused_with_the_procedure() -> None:
    from components.config.parsing import parse_settings
    from components.config.settings import SettingsError

    config = {
        **load_stack_config("production"),
        **_production_aws(database={"engineVersion": "17"}),
    }
    with pytest.raises(SettingsError) as info:
        parse_settings(config, "production")
    (problem,) = [p for p in info.value.problems if "aws.database.engineVersion" in p]
    assert "'16'" in problem and "'17'" in problem
    assert "applyImmediately true" in problem and "create-db-snapshot" in problem


@pytest.mark.parametrize("stack, days", [("dev", 0), ("staging", 0), ("production", 30)])
def test_secret_recovery_window_by_profile(
    stack: str, days: int, stack_run: Callable[..., StackRun]
) -> None:
    """0 outside production: `pulumi destroy` then `up` the same day finds the names free."""
    run = stack_run(stack, AWS_OVERRIDE)
    windows = {
        r.inputs["recoveryWindowInDays"] for r in records(run, "aws:secretsmanager/secret:Secret")
    }
    assert windows == {days}
