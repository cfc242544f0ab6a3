"""The mesh (production): sidecars everywhere in the namespace, mTLS STRICT, and authorization that
allows exactly what the NetworkPolicies allow; the Gateway's proxies in the mesh; Istio installed
in order, with the CNI agent so the pods keep `restricted` Pod Security."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from components.data.brokers import ELASTICSEARCH, RABBITMQ
from components.platform.mesh import principal
from tests.support import STACKS, pod_specs, waits_for
from tools.golden import VARIANTS, variant_overrides
from tools.offline import StackRun

NS = "webapp-production"
APP = "app.kubernetes.io/name"
SOLVER = "acme.cert-manager.io/http01-solver"
OUT_OF_MESH = (RABBITMQ, ELASTICSEARCH)
Edge = tuple[str, str, str, int]
"""(workload, source kind, source, port): one allowed connection into a workload."""


def _outside_capture(policy: dict[str, Any]) -> bool:
    """The sidecars' own metrics port (15090) is Envoy's listener outside the inbound capture: no
    mTLS or AuthorizationPolicy applies to it (`platform.mesh`)."""
    return bool(policy["metadata"]["name"] == "allow-sidecar-metrics")


def network_edges(objects: list[dict[str, Any]]) -> set[Edge]:
    """What the NetworkPolicies of the mesh's workloads admit (cert-manager's solver pods and the
    operator-run RabbitMQ and Elasticsearch stay out of the mesh: they carry no sidecar)."""
    found: set[Edge] = set()
    for policy in objects:
        if policy["kind"] != "NetworkPolicy" or policy["metadata"]["namespace"] != NS:
            continue
        selected = policy["spec"]["podSelector"].get("matchLabels", {})
        target = selected.get(APP)
        if SOLVER in selected or target in OUT_OF_MESH or _outside_capture(policy):
            continue
        for rule in policy["spec"].get("ingress") or []:
            assert target, policy["metadata"]["name"]
            for peer in rule["from"]:
                # A namespace peer first: its podSelector (Prometheus', the proxies') only
                # narrows it to the pods of that namespace that make the connection.
                if "namespaceSelector" in peer:
                    labels = peer["namespaceSelector"]["matchLabels"]
                    source = ("namespace", labels["kubernetes.io/metadata.name"])
                elif "podSelector" in peer:
                    source = ("app", peer["podSelector"]["matchLabels"][APP])
                else:
                    source = ("cidr", peer["ipBlock"]["cidr"])
                for port in rule["ports"]:
                    found.add((target, *source, int(port["port"])))
    return found


def mesh_edges(objects: list[dict[str, Any]], plaintext: str) -> set[Edge]:
    """What the AuthorizationPolicies allow; a rule without a source (a PERMISSIVE port, where a
    plain-text peer has no identity) stands for the namespace whose NetworkPolicy peer it
    mirrors, and only on ports the workload's PeerAuthentication leaves PERMISSIVE."""
    permissive = {
        (p["spec"]["selector"]["matchLabels"][APP], int(port))
        for p in objects
        if p["kind"] == "PeerAuthentication" and "selector" in p.get("spec", {})
        for port, mode in p["spec"]["portLevelMtls"].items()
        if mode == {"mode": "PERMISSIVE"}
    }
    accounts = {principal(NS, name): name for name in _accounts(objects)}
    found: set[Edge] = set()
    for policy in objects:
        if policy["kind"] != "AuthorizationPolicy" or not policy.get("spec"):
            continue
        assert policy["spec"]["action"] == "ALLOW"
        target = policy["spec"]["selector"]["matchLabels"][APP]
        for rule in policy["spec"]["rules"]:
            ports = [int(p) for to in rule["to"] for p in to["operation"]["ports"]]
            sources: list[tuple[str, str]] = []
            for entry in rule.get("from", []):
                source = entry["source"]
                sources += [("app", accounts[p]) for p in source.get("principals", [])]
                sources += [("namespace", n) for n in source.get("namespaces", [])]
                sources += [("cidr", c) for c in source.get("ipBlocks", [])]
            if "from" not in rule:
                assert all((target, port) in permissive for port in ports), (target, ports)
                sources = [("namespace", plaintext)]
            found |= {(target, kind, name, port) for kind, name in sources for port in ports}
    return found


def _accounts(objects: list[dict[str, Any]]) -> set[str]:
    return {
        o["metadata"]["name"]
        for o in objects
        if o["kind"] == "ServiceAccount" and o["metadata"]["namespace"] == NS
    }


@pytest.fixture
def production(stack_run: Callable[..., StackRun]) -> list[dict[str, Any]]:
    return stack_run("production").kubernetes_objects()


MESHED = [v for v in VARIANTS if v != "ingress"]
"""Production's shapes with the mesh on (an Ingress-routed stack turns it off)."""


@pytest.mark.parametrize("variant", MESHED)
def test_the_mesh_allows_exactly_what_the_network_policies_allow(
    variant: str, stack_run: Callable[..., StackRun]
) -> None:
    objects = stack_run("production", variant_overrides("production", variant)).kubernetes_objects()
    network = network_edges(objects)
    assert network  # the real set, not an empty comparison
    assert mesh_edges(objects, "monitoring") == network
    if variant == "cloud-none":  # the in-cluster PostgreSQL and its backup Job, by identity
        assert ("postgres", "app", "postgres-backup", 5432) in network


@pytest.mark.parametrize("variant", MESHED)
def test_every_pod_runs_as_the_account_its_identity_names(
    variant: str, stack_run: Callable[..., StackRun]
) -> None:
    """The AuthorizationPolicies name callers by `sa/<app>`: each pod's ServiceAccount is its
    app's name, so the principal is the workload's."""
    objects = stack_run("production", variant_overrides("production", variant)).kubernetes_objects()
    checked = 0
    for name, spec, meta in pod_specs(objects):
        if meta.get("labels", {}).get(APP) is None:
            continue
        assert spec["serviceAccountName"] == meta["labels"][APP], name
        checked += 1
    assert checked >= 8


def test_mtls_is_strict_and_only_scraped_ports_are_permissive(
    production: list[dict[str, Any]],
) -> None:
    peers = {
        o["metadata"]["name"]: o["spec"] for o in production if o["kind"] == "PeerAuthentication"
    }
    assert peers.pop("default") == {"mtls": {"mode": "STRICT"}}
    scraped = {
        (edge[0], edge[3])
        for edge in network_edges(production)
        if edge[1:3] == ("namespace", "monitoring")
    }
    permissive = {
        (spec["selector"]["matchLabels"][APP], int(port))
        for spec in peers.values()
        for port in spec["portLevelMtls"]
    }
    assert scraped and permissive == scraped
    assert all(spec["mtls"] == {"mode": "STRICT"} for spec in peers.values())
    deny = next(
        o
        for o in production
        if o["kind"] == "AuthorizationPolicy" and o["metadata"]["name"] == "deny-all"
    )
    assert not deny.get("spec")


def test_the_namespace_is_injected_and_every_sidecar_reaches_istiod(
    production: list[dict[str, Any]],
) -> None:
    namespace = next(
        o for o in production if o["kind"] == "Namespace" and o["metadata"]["name"] == NS
    )
    assert namespace["metadata"]["labels"]["istio-injection"] == "enabled"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    istiod = next(
        o
        for o in production
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "allow-istiod"
    )
    assert istiod["spec"]["podSelector"] == {}
    (rule,) = istiod["spec"]["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 15012}]
    assert rule["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "istio-system"
    }


def test_the_gateway_proxies_join_the_mesh_and_route_to_services(
    production: list[dict[str, Any]],
) -> None:
    proxy = next(o for o in production if o["kind"] == "EnvoyProxy")["spec"]
    pod = proxy["provider"]["kubernetes"]["envoyDeployment"]["pod"]
    assert pod["labels"] == {"sidecar.istio.io/inject": "true"}
    assert pod["annotations"] == {"traffic.sidecar.istio.io/includeInboundPorts": ""}
    assert proxy["routingType"] == "Service"
    # The sidecar routes by Host: each rule sends its Service's mesh name (the public one stays
    # in X-Forwarded-Host), so the request gets mTLS and the VirtualService's weights.
    rules = [
        rule
        for route in production
        if route["kind"] == "HTTPRoute"
        and route["metadata"]["name"] in ("webapp", "webapp-websocket")
        for rule in route["spec"]["rules"]
    ]
    assert rules
    for rule in rules:
        (service,) = [ref["name"] for ref in rule["backendRefs"]]
        rewrites = [f["urlRewrite"] for f in rule["filters"] if f["type"] == "URLRewrite"]
        assert rewrites == [{"hostname": f"{service}.{NS}.svc.cluster.local"}]
    issuer = next(o for o in production if o["kind"] == "ClusterIssuer")["spec"]
    solver = issuer["acme"]["solvers"][0]["http01"]["gatewayHTTPRoute"]
    assert solver["podTemplate"]["metadata"]["labels"] == {"sidecar.istio.io/inject": "false"}


def test_istio_is_installed_in_order_with_the_cni_agent_and_native_sidecars(
    stack_run: Callable[..., StackRun],
) -> None:
    run = stack_run("production")
    releases = {
        r.inputs["name"]: r for r in run.resources if r.type == "kubernetes:helm.sh/v3:Release"
    }
    base, cni, istiod = releases["istio-base"], releases["istio-cni"], releases["istiod"]
    assert base.urn in cni.depends_on and {base.urn, cni.urn} <= set(istiod.depends_on)
    values = istiod.inputs["values"]
    assert values["cni"] == {"enabled": True}
    assert values["env"] == {"ENABLE_NATIVE_SIDECARS": "true"}
    # Every mesh object waits for istiod (its webhook validates them).
    mesh = [r for r in run.resources if r.type.startswith("kubernetes:security.istio.io/")]
    assert mesh and all(istiod.urn in r.depends_on for r in mesh)


@pytest.mark.parametrize("stack,variant", [(s, v) for s in STACKS for v in VARIANTS])
def test_without_the_mesh_nothing_of_it_exists(
    stack: str, variant: str, stack_run: Callable[..., StackRun]
) -> None:
    overrides = variant_overrides(stack, variant)
    run = stack_run(stack, overrides)
    kinds = {o["kind"] for o in run.kubernetes_objects()}
    meshed = {"PeerAuthentication", "AuthorizationPolicy", "VirtualService", "DestinationRule"}
    on = stack == "production" and variant != "ingress"
    assert bool(kinds & meshed) == on
    releases = {
        r.inputs["name"] for r in run.resources if r.type == "kubernetes:helm.sh/v3:Release"
    }
    assert ("istiod" in releases) == on


POD_MAKERS = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:argoproj.io/v1alpha1:Rollout",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:batch/v1:CronJob",
    "kubernetes:batch/v1:Job",
    "kubernetes:gateway.networking.k8s.io/v1:Gateway",  # its Envoy proxies, which join the mesh
)


@pytest.mark.parametrize("variant", MESHED)
def test_every_pod_is_created_after_the_injector_runs(
    variant: str, stack_run: Callable[..., StackRun]
) -> None:
    """A pod created before istiod's webhook has no sidecar, and STRICT mTLS would refuse its
    callers: everything that makes pods in the namespace waits for istiod; the store's cloud
    resources (RDS) do not, so the first up is no longer."""
    run = stack_run("production", variant_overrides("production", variant))
    istiod = next(
        r.urn
        for r in run.resources
        if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["name"] == "istiod"
    )
    makers = [
        r
        for r in run.resources
        if r.type in POD_MAKERS and (r.inputs.get("metadata") or {}).get("namespace") == NS
    ]
    assert len(makers) >= 8
    for record in makers:
        assert istiod in waits_for(run, record.urn), record.name
    rds = [r for r in run.resources if r.type == "aws:rds/instance:Instance"]
    assert all(istiod not in waits_for(run, r.urn) for r in rds)


def test_a_running_stack_moves_into_the_mesh_through_permissive(
    stack_run: Callable[..., StackRun],
) -> None:
    """`mesh.mtls: permissive`: pods restart into their sidecars one by one while the others still
    call in plain text, so mTLS admits both and no AuthorizationPolicy (which needs an identity)
    refuses them; the NetworkPolicies keep allowing exactly the same."""
    mesh = {"webapp:mesh": {"enabled": True, "mtls": "permissive"}}
    objects = stack_run("production", mesh).kubernetes_objects()
    peers = [o for o in objects if o["kind"] == "PeerAuthentication"]
    assert [(p["metadata"]["name"], p["spec"]) for p in peers] == [
        ("default", {"mtls": {"mode": "PERMISSIVE"}})
    ]
    assert not any(o["kind"] == "AuthorizationPolicy" for o in objects)
    assert network_edges(objects) == network_edges(stack_run("production").kubernetes_objects())
