"""EdgeRouting: Gateway API and Ingress modes with the same behaviour."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from components.platform.edge import EdgeRouting, EdgeRoutingArgs, Route
from tests.support import SETTINGS, objects, one
from tools.offline import StackRun, run_components

# --- Edge -------------------------------------------------------------------------------------

ROUTES = (
    Route(path="/api", service="api", port=8080),
    Route(path="/ws", service="websocket", port=3002, websocket=True),
    Route(path="/", service="frontend", port=8080),
)


def edge(mode: str, issuer: str) -> StackRun:
    routing = dataclasses.replace(
        SETTINGS.routing, mode=mode, issuer=issuer, acme_email="ops@example.com"
    )
    return run_components(
        lambda: EdgeRouting(
            "e",
            EdgeRoutingArgs(
                namespace="ns",
                instance="t",
                domain="app.example.com",
                routing=routing,
                routes=ROUTES,
            ),
        )
    )


def test_gateway_mode_routes_with_tls_headers_rate_limit_and_cors() -> None:
    run = edge("gateway", "selfsigned")
    assert one(run, "ClusterIssuer")["spec"] == {"selfSigned": {}}
    assert not objects(run, "NetworkPolicy")  # no ACME solver to let in
    listeners = {item["name"]: item for item in one(run, "Gateway")["spec"]["listeners"]}
    assert listeners["https"]["tls"]["certificateRefs"][0]["name"] == "webapp-tls"
    routes = {o["metadata"]["name"]: o["spec"] for o in objects(run, "HTTPRoute")}
    assert routes["webapp-redirect"]["rules"][0]["filters"][0]["requestRedirect"] == {
        "scheme": "https",
        "statusCode": 301,
    }
    main = routes["webapp"]["rules"]
    assert [r["matches"][0]["path"]["value"] for r in main] == ["/api", "/"]
    headers = {h["name"] for h in main[0]["filters"][0]["responseHeaderModifier"]["set"]}
    assert "Strict-Transport-Security" in headers
    assert routes["webapp-websocket"]["rules"][0]["timeouts"] == {"request": "3600s"}
    limits = {
        o["metadata"]["name"]: o["spec"]["rateLimit"]["local"]["rules"][0]["limit"]
        for o in objects(run, "BackendTrafficPolicy")
    }
    assert limits == {
        "webapp": {"requests": 100, "unit": "Minute"},
        "webapp-websocket": {"requests": 100, "unit": "Minute"},
    }
    cors = one_named(run, "SecurityPolicy", "webapp")["spec"]["cors"]
    assert cors["allowOrigins"] == ["https://app.example.com"]


def one_named(run: StackRun, kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects(run, kind) if o["metadata"]["name"] == name)


def test_acme_issuer_solves_through_the_gateway() -> None:
    run = edge("gateway", "acme")
    acme = one(run, "ClusterIssuer")["spec"]["acme"]
    solver_policy = one(run, "NetworkPolicy")["spec"]
    assert solver_policy["podSelector"]["matchLabels"] == {
        "acme.cert-manager.io/http01-solver": "true"
    }
    assert solver_policy["ingress"][0]["ports"] == [{"port": 8089, "protocol": "TCP"}]
    assert solver_policy["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "envoy-gateway-system"
    }
    assert acme["email"] == "ops@example.com"
    assert acme["solvers"][0]["http01"]["gatewayHTTPRoute"]["parentRefs"][0]["name"] == "webapp"


def test_ingress_mode_has_the_same_behaviour() -> None:
    run = edge("ingress", "acme")
    assert not objects(run, "Gateway") and not objects(run, "HTTPRoute")
    ingresses = {o["metadata"]["name"]: o for o in objects(run, "Ingress")}
    main, ws = ingresses["webapp"], ingresses["webapp-websocket"]
    annotations = main["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/limit-rpm"] == "100"
    assert annotations["nginx.ingress.kubernetes.io/cors-allow-origin"] == "https://app.example.com"
    assert annotations["cert-manager.io/cluster-issuer"] == "ns-acme"
    assert ws["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert main["spec"]["tls"] == [{"hosts": ["app.example.com"], "secretName": "webapp-tls"}]
    assert (
        one(run, "ClusterIssuer")["spec"]["acme"]["solvers"][0]["http01"]["ingress"][
            "ingressClassName"
        ]
        == "nginx"
    )


# --- the Gateway's Envoy fleet ----------------------------------------------------------------


def _edge_objects(run: StackRun) -> dict[str, dict[str, Any]]:
    return {
        o["kind"]: o
        for o in run.kubernetes_objects()
        if o["kind"] in ("EnvoyProxy", "Gateway") and o["metadata"]["name"] == "webapp"
    }


def test_production_runs_an_envoy_fleet_with_hpa_pdb_and_spread(
    stack_run: Callable[..., StackRun],
) -> None:
    run = stack_run("production")
    found = _edge_objects(run)
    kubernetes = found["EnvoyProxy"]["spec"]["provider"]["kubernetes"]
    assert kubernetes["envoyHpa"] == {"minReplicas": 2, "maxReplicas": 6}
    assert "replicas" not in kubernetes["envoyDeployment"]  # the HPA owns the count
    assert kubernetes["envoyPDB"] == {"maxUnavailable": 1}
    keys = {
        c["topologyKey"] for c in kubernetes["envoyDeployment"]["pod"]["topologySpreadConstraints"]
    }
    assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert found["Gateway"]["spec"]["infrastructure"]["parametersRef"] == {
        "group": "gateway.envoyproxy.io",
        "kind": "EnvoyProxy",
        "name": "webapp",
    }
    proxy = next(r for r in run.resources if r.name == "webapp-edge-envoy-proxy")
    gateway = next(r for r in run.resources if r.name == "webapp-edge-gateway")
    assert proxy.urn in gateway.depends_on


def test_dev_runs_one_fixed_proxy_and_staging_two(stack_run: Callable[..., StackRun]) -> None:
    dev = _edge_objects(stack_run("dev"))["EnvoyProxy"]["spec"]["provider"]["kubernetes"]
    assert (
        dev["envoyDeployment"]["replicas"] == 1 and "envoyHpa" not in dev and "envoyPDB" not in dev
    )
    staging = _edge_objects(stack_run("staging"))["EnvoyProxy"]["spec"]["provider"]["kubernetes"]
    assert staging["envoyDeployment"]["replicas"] == 2 and staging["envoyPDB"] == {
        "maxUnavailable": 1
    }


def test_the_rate_limit_covers_ipv6_and_is_shared_by_the_proxies(
    stack_run: Callable[..., StackRun],
) -> None:
    policy = stack_run("production").find("BackendTrafficPolicy", "webapp")
    rules = policy["spec"]["rateLimit"]["local"]["rules"]
    assert [rule["clientSelectors"][0]["sourceCIDR"]["value"] for rule in rules] == [
        "0.0.0.0/0",
        "::/0",
    ]
    assert all(rule["clientSelectors"][0]["sourceCIDR"]["type"] == "Distinct" for rule in rules)
    # 100 per minute per client in all, over the 2 proxies production always runs.
    assert {rule["limit"]["requests"] for rule in rules} == {50}
