"""Reachability: every connection each stack needs passes its NetworkPolicies (and, in the mesh,
its AuthorizationPolicies), the probes of unneeded ones do not, and the evaluator keeps the
Kubernetes semantics it models (`tools/reachability.py` cites them)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support import STACKS
from tools.golden import VARIANTS, variant_overrides
from tools.lock import settings_without_lock
from tools.offline import load_stack_config
from tools.reachability import Address, Cluster, Connection, Pod, evaluate, stack_cluster, verdict


def _evaluated(stack_run: Any, stack: str, variant: str, edit: Any = None) -> list[Any]:
    overrides = variant_overrides(stack, variant)
    settings = settings_without_lock(load_stack_config(stack, overrides), stack)
    objects = copy.deepcopy(stack_run(stack, overrides or None).kubernetes_objects())
    if edit is not None:
        edit(objects)
    return evaluate(settings, stack_cluster(settings, objects))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("stack", STACKS)
def test_every_needed_connection_is_allowed_and_every_probe_denied(
    stack_run: Any, stack: str, variant: str
) -> None:
    rows = _evaluated(stack_run, stack, variant)
    failing = [
        f"{r.connection.why}: {r.connection.source} -> {r.connection.destination}:"
        f"{r.connection.port} {r.network.reason} / {r.mesh.reason}"
        for r in rows
        if not r.ok
    ]
    assert not failing, "\n".join(failing)
    assert sum(not r.connection.needed for r in rows) >= 7, "the probes went missing"


# --- each fix, reverted, fails the inventory ---------------------------------------------------


def _policy(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(
        o for o in objects if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == name
    )


def _failing(rows: list[Any]) -> list[str]:
    return [r.connection.why for r in rows if not r.ok]


def test_without_the_ama_metrics_peer_azure_monitor_is_denied(stack_run: Any) -> None:
    def revert(objects: list[dict[str, Any]]) -> None:
        for name in ("api", "broadcaster", "nats"):
            rules = _policy(objects, name)["spec"]["ingress"]
            rules[:] = [
                r
                for r in rules
                if not any("rsName" in str(p.get("podSelector")) for p in r["from"])
            ]

    failing = _failing(_evaluated(stack_run, "staging", "as-shipped", revert))
    assert failing.count("Azure Monitor's agent scrapes the pod") == 3


def test_a_namespace_wide_monitoring_peer_admits_grafana(stack_run: Any) -> None:
    def revert(objects: list[dict[str, Any]]) -> None:
        for rule in _policy(objects, "api")["spec"]["ingress"]:
            for peer in rule["from"]:
                peer.pop("podSelector", None) if "namespaceSelector" in peer else None

    failing = _failing(_evaluated(stack_run, "staging", "as-shipped", revert))
    assert "monitoring, not Prometheus -> api metrics" in failing
    assert "another Gateway's proxy -> frontend" not in failing


def test_a_namespace_wide_gateway_peer_admits_another_gateways_proxies(stack_run: Any) -> None:
    def revert(objects: list[dict[str, Any]]) -> None:
        for rule in _policy(objects, "frontend")["spec"]["ingress"]:
            for peer in rule["from"]:
                if "namespaceSelector" in peer:
                    peer.pop("podSelector", None)

    failing = _failing(_evaluated(stack_run, "dev", "as-shipped", revert))
    assert failing == ["another Gateway's proxy -> frontend"]


def test_in_the_mesh_an_authorization_policy_without_the_callers_rule_denies(
    stack_run: Any,
) -> None:
    def revert(objects: list[dict[str, Any]]) -> None:
        for obj in objects:
            if obj["kind"] == "AuthorizationPolicy" and obj["metadata"]["name"] == "api":
                obj["spec"]["rules"] = [
                    r for r in obj["spec"]["rules"] if "frontend" not in str(r.get("from"))
                ]

    rows = _evaluated(stack_run, "production", "as-shipped", revert)
    denied = [r for r in rows if not r.ok]
    assert [r.connection.why for r in denied] == ["frontend calls api"]
    assert denied[0].network.allowed and not denied[0].mesh.allowed


# --- the evaluator on small hand-made policies -------------------------------------------------

WEB = Pod("web", "shop", {"app": "web"}, {"http": 8080})
DB = Pod("db", "shop", {"app": "db"}, {"pg": 5432})
OTHER = Pod("scraper", "ops", {"app": "scraper"})
OPS_DB = Pod("db", "ops", {"app": "db"})
NAMESPACES = {
    "shop": {"kubernetes.io/metadata.name": "shop"},
    "ops": {"kubernetes.io/metadata.name": "ops", "team": "ops"},
}


def policy(name: str, selector: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"podSelector": selector, **spec},
    }


def cluster(*policies: dict[str, Any]) -> Cluster:
    return Cluster(dict(NAMESPACES), [WEB, DB, OTHER, OPS_DB], list(policies))


def allowed(c: Cluster, source: Any, destination: Any, port: int, protocol: str = "TCP") -> bool:
    return verdict(Connection(source, destination, port, protocol), c).allowed


def test_no_selecting_policy_means_not_isolated() -> None:
    c = cluster(policy("db-only", {"matchLabels": {"app": "db"}}, policyTypes=["Ingress"]))
    assert allowed(c, OTHER, WEB, 8080)
    assert not allowed(c, WEB, DB, 5432)


def test_policy_types_default_to_ingress_only_without_egress_rules() -> None:
    c = cluster(policy("deny-in", {}))
    assert not allowed(c, OTHER, WEB, 8080)
    assert allowed(c, WEB, Address("x", "8.8.8.8"), 443), "egress is not isolated"


def test_policies_are_additive() -> None:
    deny = policy("deny", {}, policyTypes=["Ingress", "Egress"])
    open_web = policy(
        "web-in", {"matchLabels": {"app": "web"}}, policyTypes=["Ingress"], ingress=[{}]
    )
    c = cluster(deny, open_web)
    assert allowed(c, OTHER, WEB, 8080)
    assert not allowed(c, WEB, DB, 5432), "web's egress stays isolated"


def test_namespace_and_pod_selector_in_one_peer_is_and_in_two_peers_or() -> None:
    both = {
        "namespaceSelector": {"matchLabels": {"team": "ops"}},
        "podSelector": {"matchLabels": {"app": "scraper"}},
    }
    c_and = cluster(policy("db-in", {"matchLabels": {"app": "db"}}, ingress=[{"from": [both]}]))
    assert allowed(c_and, OTHER, DB, 5432)
    assert not allowed(c_and, OPS_DB, DB, 5432)
    assert not allowed(c_and, WEB, DB, 5432), "podSelector inside the peer is not own-namespace"
    either = [
        {"namespaceSelector": both["namespaceSelector"]},
        {"podSelector": both["podSelector"]},
    ]
    c_or = cluster(policy("db-in", {"matchLabels": {"app": "db"}}, ingress=[{"from": either}]))
    assert allowed(c_or, OPS_DB, DB, 5432)


def test_pod_selector_alone_is_the_policys_namespace() -> None:
    peer = {"podSelector": {"matchLabels": {"app": "db"}}}
    c = cluster(policy("web-in", {"matchLabels": {"app": "web"}}, ingress=[{"from": [peer]}]))
    assert allowed(c, DB, WEB, 8080)
    assert not allowed(c, OPS_DB, WEB, 8080)


def test_ip_block_except_and_pods_are_not_ip_blocks() -> None:
    block = {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}
    c = cluster(
        policy(
            "web-out",
            {"matchLabels": {"app": "web"}},
            policyTypes=["Egress"],
            egress=[{"to": [block]}],
        )
    )
    assert allowed(c, WEB, Address("public", "8.8.8.8"), 443)
    assert not allowed(c, WEB, Address("private", "10.1.2.3"), 443)
    assert not allowed(c, WEB, DB, 5432)


def test_named_ports_resolve_on_the_destination_and_end_port_is_a_range() -> None:
    named = cluster(
        policy("web-in", {"matchLabels": {"app": "web"}}, ingress=[{"ports": [{"port": "http"}]}])
    )
    assert allowed(named, OTHER, WEB, 8080)
    assert not allowed(named, OTHER, WEB, 9090)
    ranged = cluster(
        policy(
            "web-in",
            {"matchLabels": {"app": "web"}},
            ingress=[{"ports": [{"port": 8000, "endPort": 8100}]}],
        )
    )
    assert allowed(ranged, OTHER, WEB, 8080)
    assert not allowed(ranged, OTHER, WEB, 8101)
    assert not allowed(ranged, OTHER, WEB, 8080, "UDP"), "protocol defaults to TCP"


def test_egress_and_ingress_must_both_allow() -> None:
    out = policy(
        "web-out",
        {"matchLabels": {"app": "web"}},
        policyTypes=["Egress"],
        egress=[{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}],
    )
    deny_db = policy("db-in", {"matchLabels": {"app": "db"}}, policyTypes=["Ingress"])
    assert allowed(cluster(out), WEB, DB, 5432)
    assert not allowed(cluster(out, deny_db), WEB, DB, 5432)
    assert not allowed(cluster(out), WEB, OTHER, 80)


def test_the_whole_vnet_on_5432_fails_the_probe_once_the_subnet_is_known(stack_run: Any) -> None:
    def revert(objects: list[dict[str, Any]]) -> None:
        for rule in _policy(objects, "api")["spec"]["egress"]:
            for peer in rule.get("to") or []:
                if peer.get("ipBlock", {}).get("cidr") == "10.41.8.0/24":
                    peer["ipBlock"]["cidr"] = "10.41.0.0/16"

    failing = _failing(_evaluated(stack_run, "staging", "as-shipped", revert))
    assert failing == ["api -> 5432 outside the database subnets"]
