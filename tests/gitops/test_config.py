"""The GitOps config: the shipped stack files parse; every bad value is named with what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from components.config.settings import SettingsError
from gitops.config import parse_gitops
from tests.gitops.conftest import GITOPS_STACKS, gitops_config


@pytest.mark.parametrize("stack", GITOPS_STACKS)
def test_the_shipped_stack_files_parse(stack: str) -> None:
    settings = parse_gitops(gitops_config(stack), stack)
    assert settings.environments and settings.resync_minutes == 15
    # Shipped prepared, not active: CI keeps deploying until a team turns hand-over on.
    assert settings.handed_over == ()


def problems(stack: str, overrides: dict[str, Any]) -> list[str]:
    with pytest.raises(SettingsError) as raised:
        parse_gitops(gitops_config(stack, overrides), stack)
    return raised.value.problems


ENVIRONMENTS = "gitops:environments"


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (
            {"gitops:resyncMinutes": 1},
            "gitops:resyncMinutes: 1 is not allowed; expected a whole number from 5 to 1440",
        ),
        (
            {"gitops:operator": "helm"},
            "gitops:operator: 'helm' is not allowed; expected one of install, present",
        ),
        (
            {"gitops:repository": {"url": "git@github.com:example/x.git", "tokenKey": "k"}},
            "gitops:repository.url: 'git@github.com:example/x.git' is not allowed; expected an https:// Git URL",
        ),
        (
            {"gitops:repository": {"url": "https://github.com/example/x.git"}},
            "gitops:repository.tokenKey: required",
        ),
        (
            {
                "gitops:pulumi": {
                    "organization": "example",
                    "tokenKey": "k",
                    "backend": "s3://state",
                }
            },
            "gitops:pulumi.backend: 's3://state' is not allowed; expected a Pulumi Cloud URL",
        ),
        (
            {"gitops:pulumi": {"organization": "example", "tokenKey": "k", "policyGroup": "g"}},
            "gitops:pulumi.policyGroup: unknown key",
        ),
        (
            {
                ENVIRONMENTS: {
                    "dev": {"cloud": "aws", "roleArn": "arn:aws:iam::123456789012:role/r"}
                }
            },
            "gitops:environments.dev.policyGroup: required (the name of the Pulumi Cloud policy "
            "group (preventative) that enables the `webapp` pack",
        ),
        (
            {ENVIRONMENTS: {"dev": {"cloud": "aws"}}},
            "gitops:environments.dev.roleArn: required for cloud aws",
        ),
        (
            {ENVIRONMENTS: {"dev": {"cloud": "azure", "clientId": "nope"}}},
            "gitops:environments.dev.clientId: 'nope' is not allowed",
        ),
        (
            {ENVIRONMENTS: {"dev": {"cloud": "gcp"}}},
            "gitops:environments.dev.cloud: 'gcp' is not allowed; expected one of aws, azure",
        ),
        (
            {
                ENVIRONMENTS: {
                    "dev": {
                        "cloud": "aws",
                        "roleArn": "arn:aws:iam::123456789012:role/r",
                        "after": "staging",
                    }
                }
            },
            "gitops:environments.dev.after: 'staging' is not handed over here",
        ),
        ({ENVIRONMENTS: {"qa": {"cloud": "aws"}}}, "gitops:environments.qa: unknown key"),
        ({ENVIRONMENTS: {}}, "gitops:environments: at least one of dev, staging, production"),
        ({"gitops:kubernetes": None}, "gitops:kubernetes.context: required"),
        ({"gitops:secretStore": None}, "gitops:secretStore: required"),
        ({"gitops:destroyOnFinalize": True}, "gitops:destroyOnFinalize: unknown key"),
    ],
)
def test_a_bad_value_is_named_with_what_is_allowed(
    overrides: dict[str, Any], expected: str
) -> None:
    found = problems("dev", overrides)
    assert any(problem.startswith(expected) for problem in found), found


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        "dev", {"gitops:resyncMinutes": 0, "gitops:argocd": "yes", "gitops:secretStore": None}
    )
    assert len(found) == 3


def without_group(stack: str, environment: str, value: Any = None) -> dict[str, Any]:
    environments = {
        name: dict(fields) for name, fields in gitops_config(stack)[ENVIRONMENTS].items()
    }
    if value is None:
        del environments[environment]["policyGroup"]
    else:
        environments[environment]["policyGroup"] = value
    return {ENVIRONMENTS: environments, "gitops:handOver": True}


@pytest.mark.parametrize("value", [None, "", "Webapp Production"])
def test_the_production_hand_over_needs_its_policy_group(value: Any) -> None:
    """The operator v2.9.0 cannot run a local pack; a production hand-over with no (or no valid)
    policy group would reconcile unguarded, so it is a config error before anything is declared."""
    found = problems("production", without_group("production", "production", value))
    assert [p for p in found if p.startswith("gitops:environments.production.policyGroup: ")]
    assert all("policyGroup" in problem for problem in found), found


def test_two_environments_cannot_share_a_policy_group() -> None:
    found = problems("production", without_group("production", "production", "webapp-staging"))
    assert found == [
        "gitops:environments.production.policyGroup: 'webapp-staging' is already staging's; "
        "expected a group of its own (a policy group enables the pack with one config, and "
        "policy/config/production.json differs)"
    ]
