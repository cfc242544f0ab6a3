"""`webapp:aws` validation: every bad input named, nothing declared."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.config.parsing import parse_settings
from components.config.settings import SettingsError
from tools.offline import load_stack_config

# --- Config validation ------------------------------------------------------------------------

BASE = load_stack_config("production")


def aws_problems(**changes: Any) -> list[str]:
    aws = {**BASE["webapp:aws"], **changes}
    with pytest.raises(SettingsError) as info:
        parse_settings({**BASE, "webapp:aws": aws}, "production", check_data_lock=False)
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
        ({"keyUsers": []}, "webapp:aws.keyUsers: missing; the stack's key is usable only by"),
        (
            {"keyUsers": ["arn:aws:iam::123456789012:user/alice"]},
            "webapp:aws.keyUsers[0]: 'arn:aws:iam::123456789012:user/alice' is not allowed; "
            "expected an IAM role ARN",
        ),
        (
            {"keyUsers": ["arn:aws:iam::210987654321:role/webapp-production-deploy"]},
            "webapp:aws.keyUsers[0]: 'arn:aws:iam::210987654321:role/webapp-production-deploy' "
            "is not allowed; expected a role of the cluster's account 123456789012",
        ),
        (
            {"privateSubnetCidrs": ["10.10.0.0/19", "10.99.0.0/19", "10.10.64.0/19"]},
            "webapp:aws.privateSubnetCidrs[1]: '10.99.0.0/19' is not allowed; expected the CIDR "
            "of a private subnet inside vpcCidr",
        ),
        (
            {"privateSubnetCidrs": ["10.10.0.0/19"]},
            "webapp:aws.privateSubnetCidrs: 1 CIDR(s) is not allowed; expected one per "
            "privateSubnetIds entry (3)",
        ),
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
            "webapp:aws.database.deletionProtection: false is not allowed; expected true in production",
        ),
        (
            {"database": {"finalSnapshot": False}},
            "webapp:aws.database.finalSnapshot: false is not allowed; expected true in production",
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
        (
            {"secretRecoveryWindowDays": 3},
            "webapp:aws.secretRecoveryWindowDays: 3 is not allowed; expected 0 (delete at once, "
            "the names are free again) or 7 to 30",
        ),
        (
            {"secretRecoveryWindowDays": 0},
            "webapp:aws.secretRecoveryWindowDays: 0 is not allowed; expected 7 to 30 in production",
        ),
        (
            {"admittedSecurityGroupIds": ["sg-0aaaaaaaaaaaaaaaa", "sg-1"]},
            "webapp:aws.admittedSecurityGroupIds[1]: 'sg-1' is not allowed; expected a security "
            "group id",
        ),
        (
            {"admittedSecurityGroupIds": ["sg-03333333333333333"]},
            "webapp:aws.admittedSecurityGroupIds[0]: 'sg-03333333333333333' is listed twice "
            "(clusterSecurityGroupId is admitted already)",
        ),
        (
            {"database": {"maintenanceWindow": "sun:03:00-sun:03:10"}},
            "webapp:aws.database.maintenanceWindow: 'sun:03:00-sun:03:10' is not allowed; "
            "expected a weekly UTC window of at least 30 minutes",
        ),
        (
            {"database": {"maintenanceWindow": "sunday 3am"}},
            "webapp:aws.database.maintenanceWindow: 'sunday 3am' is not allowed",
        ),
        (
            {"database": {"applyImmediately": "later"}},
            "webapp:aws.database.applyImmediately: 'later' is not allowed; expected true or false",
        ),
    ],
)
def test_bad_aws_config_is_rejected_naming_the_key(changes: dict[str, Any], expected: str) -> None:
    found = aws_problems(**changes)
    assert any(expected in p for p in found), found


def test_cloud_aws_requires_the_cluster_inputs() -> None:
    config = {**BASE}
    config.pop("webapp:aws")
    with pytest.raises(SettingsError) as info:
        parse_settings(config, "production", check_data_lock=False)
    assert any(
        p.startswith("webapp:aws: missing; webapp:cloud is aws") for p in info.value.problems
    )


def test_bad_aws_config_declares_nothing() -> None:
    from tools.offline import last_registrations, run_stack

    with pytest.raises(pulumi.RunError, match="webapp:aws.region"):
        run_stack("production", {"webapp:aws": {**BASE["webapp:aws"], "region": "nowhere"}})
    assert last_registrations() == []


@pytest.mark.parametrize("stack, days", [("dev", 0), ("staging", 0), ("production", 30)])
def test_recovery_window_by_profile(stack: str, days: int) -> None:
    """Outside production a destroyed stack's secret names are free at once (window 0), so the
    stack can be re-created the same day; production keeps its secrets restorable 30 days."""
    config = load_stack_config(stack)
    config["webapp:aws"] = {
        key: value
        for key, value in config["webapp:aws"].items()
        if key != "secretRecoveryWindowDays"
    }
    settings = parse_settings(config, stack, check_data_lock=False)
    assert settings.aws is not None
    assert settings.aws.secret_recovery_window_days == days


def test_a_maintenance_window_may_wrap_the_week() -> None:
    from components.config.aws import MAINTENANCE_WINDOW

    assert MAINTENANCE_WINDOW.check("sun:23:45-mon:00:15")
    assert not MAINTENANCE_WINDOW.check("mon:25:00-mon:26:00")
