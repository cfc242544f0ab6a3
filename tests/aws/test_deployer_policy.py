"""The deploy and read roles' IAM policies (`tools/aws_permissions.py`): derived from the resource
types the stacks declare, every call allowed on exactly the resource it acts on, nothing of
another stack's or another owner's, the README showing what the tool prints."""

from __future__ import annotations

import json
from typing import Any, Callable

import parliament
import pytest

from tests.aws.kms_access import Request, allowed, identity_allows
from tests.support import only, unwrap
from tools.aws_permissions import (
    CALLS,
    OPERATIONS,
    SETUP_CALLS,
    Target,
    ci_roles,
    declared_types,
    policy,
    policy_json,
    table,
)
from tools.offline import ROOT, StackRun, load_stack_config

AWS = {"webapp:cloud": "aws"}
DEPLOY = "arn:aws:iam::123456789012:role/webapp-production-deploy"
READ = "arn:aws:iam::123456789012:role/webapp-production-read"
MONITORING_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"


def _context(run: StackRun) -> dict[str, str]:
    """What the requests of the production stack's up carry: its tags (default tags, sent at
    creation and kept), and the service a KMS call comes through."""
    return {
        "aws:ResourceTag/stack": run.stack,
        "aws:RequestTag/stack": run.stack,
        "kms:ViaService": "secretsmanager.eu-central-1.amazonaws.com",
        "ec2:CreateAction": "CreateSecurityGroup",
        "iam:PolicyARN": MONITORING_POLICY,
        "iam:AWSServiceName": "rds.amazonaws.com",
    }


def test_the_table_holds_exactly_the_aws_types_the_stacks_declare(
    stack_run: Callable[..., StackRun],
) -> None:
    """A new AWS resource type in the program fails here until its calls are in the table (and
    so in the deploy policy); a type the program no longer declares leaves it."""
    declared: set[str] = set()
    for stack in ("dev", "staging", "production"):
        run = stack_run(stack, AWS)
        declared |= {r.type for r in run.resources if r.type.startswith("aws:")}
    assert declared == set(CALLS)


def test_with_an_existing_key_the_policy_leaves_out_the_key_types(
    stack_run: Callable[..., StackRun],
) -> None:
    key = "arn:aws:kms:eu-central-1:123456789012:key/0f0f0f0f-0f0f-0f0f-0f0f-0f0f0f0f0f0f"
    aws = {**load_stack_config("production")["webapp:aws"], "kmsKeyArn": key}
    run = stack_run("production", {"webapp:aws": aws})
    target = Target(**{**Target.of_stack("production").__dict__, "existing_key_arn": key})
    assert {r.type for r in run.resources if r.type.startswith("aws:")} == set(
        declared_types(target)
    )
    document = policy("deploy", target)
    assert not identity_allows([document], Request(DEPLOY, "kms:PutKeyPolicy", key))
    assert identity_allows(
        [document],
        Request(
            DEPLOY, "kms:GenerateDataKey", key, {"kms:ViaService": _context(run)["kms:ViaService"]}
        ),
    )


def _acted_on(run: StackRun, resource: Any, scope: str) -> list[str]:
    """The ARNs a call of `scope` on `resource` is authorized against, from what the run
    declared (names, ids) and the mocks' ARN shapes (tools/offline.py)."""
    region, account = "eu-central-1", "123456789012"
    instance = only(run, "aws:rds/instance:Instance").inputs
    inputs = resource.inputs
    database = run.find("ExternalSecret", "webapp-database")
    master = next(
        d["remoteRef"]["key"]
        for d in database["spec"]["data"]
        if d["remoteRef"]["key"].startswith("arn:")
    )
    role_name = inputs.get("name") if resource.type == "aws:iam/role:Role" else inputs.get("role")
    rds = f"arn:aws:rds:{region}:{account}"
    secret_name = inputs.get("name") or str(inputs.get("secretId", "")).split(":secret:")[-1]
    by_scope = {
        "key": [instance["kmsKeyId"]],
        "key-create": ["*"],
        "key-use": [instance["kmsKeyId"]],
        "alias": [f"arn:aws:kms:{region}:{account}:{inputs.get('name')}"],
        "any": ["*"],
        "secret": [
            f"arn:aws:secretsmanager:{region}:{account}:secret:{secret_name.rsplit('-', 1)[0]}-AbCdEf"
            if resource.type.endswith("SecretVersion")
            else f"arn:aws:secretsmanager:{region}:{account}:secret:{secret_name}-AbCdEf"
        ],
        "rds-secret": [master],
        "role": [f"arn:aws:iam::{account}:role/{role_name}"],
        "role-attach": [f"arn:aws:iam::{account}:role/{role_name}"],
        "pass-monitoring": [instance["monitoringRoleArn"]],
        "rds-linked-role": [
            f"arn:aws:iam::{account}:role/aws-service-role/rds.amazonaws.com/AWSServiceRoleForRDS"
        ],
        "vpc-create": [
            f"arn:aws:ec2:{region}:{account}:vpc/{inputs.get('vpcId')}",
            f"arn:aws:ec2:{region}:{account}:security-group/sg-0123456789abcdef0",
        ],
        "sg-tag-create": [f"arn:aws:ec2:{region}:{account}:security-group/sg-0123456789abcdef0"],
        "sg": [f"arn:aws:ec2:{region}:{account}:security-group/sg-0123456789abcdef0"],
        "rds": {
            "aws:rds/instance:Instance": [
                f"{rds}:db:{inputs.get('identifier')}",
                f"{rds}:subgrp:{instance['dbSubnetGroupName']}",
                f"{rds}:pg:{instance['parameterGroupName']}",
                f"{rds}:og:default:postgres-{str(instance['engineVersion']).split('.')[0]}",
                f"{rds}:snapshot:{unwrap(instance['finalSnapshotIdentifier'])}",
            ],
            "aws:rds/subnetGroup:SubnetGroup": [f"{rds}:subgrp:{inputs.get('name')}"],
            "aws:rds/parameterGroup:ParameterGroup": [f"{rds}:pg:{inputs.get('name')}"],
        }.get(resource.type, []),
        "cluster": [f"arn:aws:eks:{region}:{account}:cluster/webapp-production"],
    }
    return by_scope[scope]


def _documents(run: StackRun) -> tuple[dict[str, Any], dict[str, Any]]:
    target = Target.of_stack(run.stack)
    return policy("deploy", target), policy("read", target)


def test_every_call_is_allowed_on_the_resource_it_acts_on(production: StackRun) -> None:
    """Action by action, on the ARNs of what production declares: the deploy role may make
    every call of every operation, the read role every read call."""
    deploy, read = _documents(production)
    context = _context(production)
    checked = 0
    for resource in production.resources:
        entry = CALLS.get(resource.type)
        if entry is None:
            continue
        for operation in OPERATIONS:
            for action, scope in entry.of(operation):
                for arn in _acted_on(production, resource, scope):
                    request = Request(DEPLOY, action, arn, context)
                    assert identity_allows([deploy], request), (resource.name, action, arn)
                    if operation == "read":
                        assert identity_allows([read], Request(READ, action, arn, context))
                    checked += 1
    for action, scope in SETUP_CALLS:
        for arn in _acted_on(production, production.resources[0], scope):
            assert identity_allows([deploy], Request(DEPLOY, action, arn))
            assert identity_allows([read], Request(READ, action, arn))
    assert checked > 150


def test_the_read_role_can_change_nothing(production: StackRun) -> None:
    _, read = _documents(production)
    actions = {a for statement in read["Statement"] for a in statement["Action"]}
    verbs = {action.split(":")[1] for action in actions}
    # Decrypt only through Secrets Manager (a refresh reads the versions' values).
    assert all(v.startswith(("Describe", "Get", "List")) or v == "Decrypt" for v in verbs), verbs
    writes = {
        a
        for entry in CALLS.values()
        for op in ("create", "update", "delete")
        for a, _ in entry.of(op)
    } - {a for entry in CALLS.values() for a, _ in entry.read}
    assert not actions & writes


@pytest.mark.parametrize(
    "action, resource, context",
    [
        # Another stack's secrets, key and roles.
        (
            "secretsmanager:PutSecretValue",
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:webapp/staging/redis/auth-AbCdEf",
            {},
        ),
        (
            "kms:PutKeyPolicy",
            "arn:aws:kms:eu-central-1:123456789012:key/1",
            {"aws:ResourceTag/stack": "staging"},
        ),
        ("kms:CreateKey", "*", {"aws:RequestTag/stack": "staging"}),
        ("iam:PutRolePolicy", "arn:aws:iam::123456789012:role/webapp-staging-external-secrets", {}),
        # Its own role and the other CI roles: no escalation.
        ("iam:PutRolePolicy", DEPLOY, {}),
        ("iam:UpdateAssumeRolePolicy", READ, {}),
        (
            "iam:AttachRolePolicy",
            "arn:aws:iam::123456789012:role/webapp-production-external-secrets",
            {"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"},
        ),
        ("iam:PassRole", "arn:aws:iam::123456789012:role/webapp-production-external-secrets", {}),
        # Decrypt outside the services, security groups and databases of others.
        (
            "kms:Decrypt",
            "arn:aws:kms:eu-central-1:123456789012:key/1",
            {"aws:ResourceTag/stack": "production"},
        ),
        (
            "ec2:AuthorizeSecurityGroupIngress",
            "arn:aws:ec2:eu-central-1:123456789012:security-group/sg-0cluster0000000000",
            {},
        ),
        ("rds:DeleteDBInstance", "arn:aws:rds:eu-central-1:123456789012:db:webapp-staging", {}),
    ],
)
def test_the_deploy_role_reaches_nothing_that_is_not_the_stack_s(
    production: StackRun, action: str, resource: str, context: dict[str, str]
) -> None:
    deploy, _ = _documents(production)
    assert not identity_allows([deploy], Request(DEPLOY, action, resource, context))


def test_the_key_policy_lets_the_deploy_role_use_the_key_through_the_services(
    production: StackRun,
) -> None:
    """IAM and the key policy both decide a KMS call: with the deploy role in `keyUsers`, the
    writes of secret values and the RDS grant go through, and a direct Decrypt does not."""
    deploy, _ = _documents(production)
    key_policy = json.loads(unwrap(only(production, "aws:kms/key:Key").inputs["policy"]))
    key = only(production, "aws:rds/instance:Instance").inputs["kmsKeyId"]
    assert DEPLOY in load_stack_config("production")["webapp:aws"]["keyUsers"]
    tag = {"aws:ResourceTag/stack": "production"}
    for action, service, extra in (
        ("kms:GenerateDataKey", "secretsmanager", {}),
        ("kms:Decrypt", "secretsmanager", {}),
        ("kms:CreateGrant", "rds", {"kms:GrantIsForAWSResource": "true"}),
    ):
        via = {"kms:ViaService": f"{service}.eu-central-1.amazonaws.com", **tag, **extra}
        assert allowed(key_policy, [deploy], Request(DEPLOY, action, key, via)), action
    assert not allowed(key_policy, [deploy], Request(DEPLOY, "kms:Decrypt", key, tag))


EXPLAINED = {
    # A deploy role creates and edits roles and a key policy: that is its job, on the program's
    # two roles and the stack's tagged key only (test_the_deploy_role_reaches_nothing_...).
    "PERMISSIONS_MANAGEMENT_ACTIONS",
    # An alias call is authorized on the alias and on its key; the key's ARN is conditioned on its
    # stack tag, which an alias does not carry, so they are two statements (parliament wants both
    # formats in each; docs.aws.amazon.com/kms/latest/developerguide/alias-access.html).
    "RESOURCE_MISMATCH",
    # CreateKey and tagging at creation have no key yet: `*`, conditioned on the stack tag sent.
    "RESOURCE_STAR",
}


@pytest.mark.parametrize("role", ["deploy", "read"])
def test_the_policies_pass_parliament(role: str) -> None:
    found = parliament.analyze_policy_string(
        policy_json(role, "production"),
        include_community_auditors=True,  # type: ignore[arg-type]
    ).findings
    assert {f.issue for f in found} <= EXPLAINED, [(f.issue, f.detail) for f in found]
    for finding in found:
        if finding.issue == "RESOURCE_STAR":
            assert finding.detail == ["kms:TagResource"]  # CreateKey needs none by parliament
        if finding.issue == "RESOURCE_MISMATCH":
            assert {d["action"] for d in finding.detail} <= {
                "kms:CreateAlias",
                "kms:DeleteAlias",
                "kms:UpdateAlias",
            }


def test_the_readme_shows_what_the_tool_prints() -> None:
    readme = (ROOT / "README.md").read_text()
    assert table() in readme
    assert policy_json("deploy", "production") in readme
    assert policy_json("read", "production") in readme
    assert ci_roles("production") in readme


def test_every_role_that_deploys_or_reads_production_may_use_its_key() -> None:
    """The read roles' refresh reads secret values and the deploy role writes them: all three
    are key users, or the key policy refuses them whatever their IAM policy says."""
    users = set(load_stack_config("production")["webapp:aws"]["keyUsers"])
    assert {DEPLOY, READ, DEPLOY.replace("-deploy", "-preview")} <= users
