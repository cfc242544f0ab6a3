"""NamespaceBaseline: Pod Security, quota, default deny, deletion guard."""

from __future__ import annotations

from components.config.settings import Subject
from components.platform.namespace import NamespaceBaseline, NamespaceBaselineArgs
from tests.support import SETTINGS, objects, one
from tools.offline import StackRun, run_components

# --- NamespaceBaseline ------------------------------------------------------------------------


def baseline(deleters: tuple[Subject, ...] = (), protect: bool = False) -> StackRun:
    return run_components(
        lambda: NamespaceBaseline(
            "base",
            NamespaceBaselineArgs(
                namespace="webapp-x",
                instance="x",
                environment="dev",
                quota=SETTINGS.quota,
                deleters=deleters,
                protect=protect,
            ),
        )
    )


def test_namespace_enforces_restricted_pod_security() -> None:
    labels = one(baseline(), "Namespace")["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_quota_and_limit_range() -> None:
    run = baseline()
    hard = one(run, "ResourceQuota")["spec"]["hard"]
    assert hard["requests.cpu"] == SETTINGS.quota.requests_cpu and hard["pods"] == str(
        SETTINGS.quota.pods
    )
    assert hard["services.loadbalancers"] == "0"
    limits = one(run, "LimitRange")["spec"]["limits"][0]
    assert limits["type"] == "Container" and "default" in limits and "defaultRequest" in limits


def test_default_deny_and_dns_only() -> None:
    policies = {o["metadata"]["name"]: o["spec"] for o in objects(baseline(), "NetworkPolicy")}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = policies["allow-dns"]["egress"][0]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}


def test_no_deletion_rbac_without_deleters() -> None:
    run = baseline()
    assert not objects(run, "ClusterRole") and not objects(run, "ClusterRoleBinding")
    assert not next(r for r in run.resources if r.type.endswith(":Namespace")).protect


def test_deleters_get_delete_on_this_namespace_only_and_namespace_is_protected() -> None:
    run = baseline(
        (Subject(kind="ServiceAccount", name="deprovisioner", namespace="ops"),), protect=True
    )
    rule = one(run, "ClusterRole")["rules"][0]
    assert (
        rule["resourceNames"] == ["webapp-x"]
        and "delete" in rule["verbs"]
        and rule["resources"] == ["namespaces"]
    )
    subjects = one(run, "ClusterRoleBinding")["subjects"]
    assert subjects == [{"kind": "ServiceAccount", "name": "deprovisioner", "namespace": "ops"}]
    namespace = next(r for r in run.resources if r.type.endswith(":Namespace"))
    assert namespace.protect and namespace.retain_on_delete


def test_namespaced_objects_wait_for_the_namespace() -> None:
    run = baseline()
    namespace = next(r for r in run.resources if r.type.endswith(":Namespace"))
    for record in run.resources:
        if record.is_kubernetes_object and record is not namespace:
            assert namespace.urn in record.depends_on, record.name
