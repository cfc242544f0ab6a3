"""ReviewAccess: the review identity's rights cover exactly what a review stack declares, inside
its own namespace; the admin can create namespaces and bind that one role, nothing more."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import yaml

from components.platform.review_access import ADMIN_ROLE, DEPLOYER_ROLE
from tests.support import objects
from tools.branch import namespace_manifests, pr_target, target_config
from tools.offline import StackRun, load_stack_config, run_stack

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


def _role(run: StackRun, name: str) -> dict[str, Any]:
    (role,) = [o for o in objects(run, "ClusterRole") if o["metadata"]["name"] == name]
    return role


def _grants(role: dict[str, Any], group: str, resource: str, verb: str) -> bool:
    return any(
        group in rule["apiGroups"]
        and resource in rule["resources"]
        and verb in rule["verbs"]
        and not rule.get("resourceNames")
        for rule in role["rules"]
    )


def _plural(kind: str) -> str:
    lower = kind.lower()
    return (
        lower + ("es" if lower.endswith(("s", "x")) else "s")
        if not lower.endswith("y")
        else lower[:-1] + "ies"
    )


def test_the_deployer_role_covers_every_kind_a_review_stack_declares(
    stack_run: Callable[..., StackRun],
) -> None:
    deployer = _role(stack_run("staging"), DEPLOYER_ROLE)
    target = pr_target(42)
    review = run_stack(target.name, config=target_config(target))
    declared = review.kubernetes_objects()
    assert declared
    for manifest in declared:
        group = manifest["apiVersion"].rpartition("/")[0]
        assert manifest["kind"] not in CLUSTER_SCOPED, manifest["kind"]  # namespaced only
        for verb in ("create", "patch", "delete", "get"):
            assert _grants(deployer, group, _plural(manifest["kind"]), verb), (
                manifest["kind"],
                verb,
            )
    # It reads its provided namespace (a `get`, not a resource of the stack).
    reads = [r for r in review.resources if r.type == "kubernetes:core/v1:Namespace"]
    assert all(not r.custom or getattr(r, "read", True) for r in reads)


def test_the_deployer_role_reaches_secrets_of_its_namespace_only_and_nothing_cluster_wide(
    stack_run: Callable[..., StackRun],
) -> None:
    """Secrets: only in the namespace it is bound in (the program writes the database roles'),
    and in a rule of their own, so no other rule widens with them."""
    run = stack_run("staging")
    deployer = _role(run, DEPLOYER_ROLE)
    for rule in deployer["rules"]:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
        if "secrets" in rule["resources"]:
            assert rule["resources"] == ["secrets"] and rule["apiGroups"] == [""]
        assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])
        if "namespaces" in rule["resources"]:
            assert set(rule["verbs"]) <= {"get", "list", "watch"}  # labels stay the admin's
    # Never bound cluster-wide: the admin binds it per namespace.
    assert not [
        b for b in objects(run, "ClusterRoleBinding") if b["roleRef"]["name"] == DEPLOYER_ROLE
    ]
    admin = _role(run, ADMIN_ROLE)
    (bind,) = [rule for rule in admin["rules"] if "bind" in rule["verbs"]]
    assert bind["resourceNames"] == [DEPLOYER_ROLE] and bind["resources"] == ["clusterroles"]
    (binding,) = [
        b for b in objects(run, "ClusterRoleBinding") if b["roleRef"]["name"] == ADMIN_ROLE
    ]
    staging = load_stack_config("staging")["webapp:routing"]["branches"]
    assert [s["name"] for s in binding["subjects"]] == [a["name"] for a in staging["admins"]]


def test_a_roles_a_review_stack_declares_are_within_the_deployer_role(
    stack_run: Callable[..., StackRun],
) -> None:
    """RBAC refuses a Role whose rules its creator does not hold (escalation prevention)."""
    deployer = _role(stack_run("staging"), DEPLOYER_ROLE)
    target = pr_target(42)
    review = run_stack(target.name, config=target_config(target))
    for role in objects(review, "Role"):
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        assert _grants(deployer, group, resource, verb), (group, resource, verb)


def test_the_admin_creates_the_namespace_the_program_would_have_labelled() -> None:
    target = pr_target(42)
    namespace, binding = yaml.safe_load_all(namespace_manifests(target))
    assert namespace["metadata"]["name"] == "feature-pr-42"
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["webapp.io/gateway"] == "webapp-staging"  # admits its routes to the listener
    # The same labels a program-owned namespace of this stack gets.
    owned = target_config(dataclasses.replace(target, provided=False))  # its own lock
    assert "webapp:namespaceProvided" not in owned
    run = run_stack(target.name, config=owned)
    (declared,) = objects(run, "Namespace")
    assert declared["metadata"]["labels"] == labels
    assert binding["roleRef"]["name"] == DEPLOYER_ROLE
    assert binding["metadata"]["namespace"] == "feature-pr-42"
    staging = load_stack_config("staging")["webapp:routing"]["branches"]
    assert [s["name"] for s in binding["subjects"]] == [d["name"] for d in staging["deployers"]]


def test_a_review_stack_lives_in_the_review_resource_group_not_stagings() -> None:
    target = pr_target(42)
    config = target_config(target)
    staging = load_stack_config("staging")
    assert config["webapp:azure"]["resourceGroup"] == "rg-webapp-review"
    assert config["webapp:azure"]["resourceGroup"] != staging["webapp:azure"]["resourceGroup"]
    assert config["webapp:namespaceProvided"] is True
    assert config["webapp:domain"] == "pr-42.staging.webapp.example.com"
    run = run_stack(target.name, config=config)
    assert not objects(run, "Namespace")  # read, never declared
