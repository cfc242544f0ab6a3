"""Where each entry point sends a release's traffic in one phase: the destinations, their
weights, and the pods behind each.

Read at the pinned tags:
- Istio, istio/istio 1.30.3: a VirtualService destination `host` names a Service (its FQDN or short
  name in the rule's namespace); its endpoints are that Service's endpoints, narrowed to a
  subset's labels when the destination names a subset of the host's DestinationRule
  (`pilot/pkg/xds/endpoints/endpoint_builder.go`: the subset's labels filter the host Service's
  endpoints). Argo Rollouts sets the route's weights, matching a destination to its Services by
  the host's first label or to its subsets by name (argo-rollouts v1.9.0
  `rollout/trafficrouting/istio/istio.go` `processRoutes`, `getHost`) and adds each revision's
  hash to the DestinationRule's subsets (`UpdateHash`); any other destination of a managed route
  gets weight 0 (`processRoutes`, deleted from the route).
- Gateway API plugin, argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi v0.15.0
  `pkg/plugin/httproute.go` `setHTTPRouteWeight`: in every rule of the named HTTPRoute, the
  backendRef named like the canary Service gets the weight, the one named like the stable
  Service the rest; a route with neither of them in any rule is an error. Gateway API weights are
  relative within a rule (a rule's only backend gets all its traffic, whatever its weight); the
  route's namespace defaults to the Rollout's.
- ingress-nginx canary, argo-rollouts v1.9.0 `rollout/trafficrouting/nginx/nginx.go`
  `buildCanaryIngress`: the canary Ingress `<rollout>-<stable ingress>-canary` copies every rule
  of the stable Ingress that has a path to the stable Service (whole rules, every path of them),
  pointing those paths at the canary Service, with `canary-weight`. ingress-nginx applies one
  canary Ingress per host and path (kubernetes/ingress-nginx docs "Canary": "currently a maximum
  of one canary ingress can be applied per Ingress rule").
- Without a router, callers reach the Service `<app>`, which selects both revisions' pods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from .argo import Phase, services
from .cluster import CANARY, REVISION, STABLE, Cluster, Pod, selects


@dataclass(frozen=True)
class Destination:
    entry: str
    """The object traffic enters through (`VirtualService api`, `HTTPRoute webapp`, ...)."""
    service: str
    weight: int
    """Percent of the entry's traffic."""
    subset: Optional[dict[str, str]] = None
    """A DestinationRule subset's labels (with the revision Argo added)."""
    intended: Optional[str] = None
    """The revision this destination's traffic is meant for (None: either)."""

    def pods(self, cluster: Cluster, namespace: str) -> list[Pod]:
        found = cluster.endpoints(namespace, self.service)
        if self.subset is not None:
            found = [pod for pod in found if selects(self.subset, pod.labels)]
        return found

    def label(self) -> str:
        subset = f" subset {self.subset.get(REVISION, '?')}" if self.subset is not None else ""
        return f"{self.service}{subset}"


def _host_service(host: str) -> str:
    return host.split(".", 1)[0]


def _istio(cluster: Cluster, rollout: dict[str, Any], phase: Phase) -> list[Destination]:
    namespace = rollout["metadata"]["namespace"]
    routing = rollout["spec"]["strategy"]["canary"]["trafficRouting"]["istio"]
    stable_svc, canary_svc = services(rollout)
    rule_name = routing.get("destinationRule", {}).get("name")
    stable_subset = routing.get("destinationRule", {}).get("stableSubsetName")
    canary_subset = routing.get("destinationRule", {}).get("canarySubsetName")
    subsets: dict[str, dict[str, str]] = {}
    if rule_name:
        rule = cluster.find("DestinationRule", rule_name, namespace)
        assert rule is not None, f"no DestinationRule {rule_name}"
        revisions = {stable_subset: STABLE, canary_subset: CANARY}
        if phase.name in ("stable switched", "promoted", "old pods scaled down"):
            revisions = {stable_subset: CANARY, canary_subset: CANARY}
        for subset in rule["spec"].get("subsets", []):
            labels = dict(subset.get("labels") or {})
            if subset["name"] in revisions:
                labels[REVISION] = revisions[subset["name"]]
            subsets[subset["name"]] = labels
    vs_name = routing["virtualService"]["name"]
    vs = cluster.find("VirtualService", vs_name, namespace)
    assert vs is not None, f"no VirtualService {vs_name}"
    found: list[Destination] = []
    for route in vs["spec"]["http"]:
        if route.get("name") not in routing["virtualService"].get("routes", []):
            continue
        for item in route["route"]:
            destination = item["destination"]
            host, subset = _host_service(destination["host"]), destination.get("subset")
            if host == canary_svc or (subset and subset == canary_subset):
                weight, intended = phase.weight, phase.intended.get(canary_svc or "", CANARY)
            elif host == stable_svc or (subset and subset == stable_subset):
                weight, intended = 100 - phase.weight, phase.intended.get(stable_svc or "", STABLE)
            else:
                weight, intended = 0, None
            found.append(
                Destination(
                    f"VirtualService {vs_name}",
                    host,
                    weight,
                    subsets.get(subset) if subset else None,
                    intended,
                )
            )
    return found


def _gateway(cluster: Cluster, rollout: dict[str, Any], phase: Phase) -> list[Destination]:
    plugins = rollout["spec"]["strategy"]["canary"]["trafficRouting"]["plugins"]
    (config,) = plugins.values()
    namespace = config.get("namespace") or rollout["metadata"]["namespace"]
    route = cluster.find("HTTPRoute", config["httpRoute"], namespace)
    assert route is not None, f"no HTTPRoute {config['httpRoute']}"
    stable_svc, canary_svc = services(rollout)
    assert stable_svc and canary_svc, "the plugin weighs a stable and a canary Service"
    found: list[Destination] = []
    for rule in route["spec"]["rules"]:
        names = {ref["name"] for ref in rule.get("backendRefs", [])}
        if not {stable_svc, canary_svc} & names:
            continue
        shares: list[tuple[str, int, str]] = []
        for ref in rule["backendRefs"]:
            if ref["name"] == canary_svc:
                shares.append((canary_svc, phase.weight, phase.intended.get(canary_svc, CANARY)))
            elif ref["name"] == stable_svc:
                shares.append(
                    (stable_svc, 100 - phase.weight, phase.intended.get(stable_svc, STABLE))
                )
        total = sum(weight for _, weight, _ in shares)
        for service, weight, intended in shares:
            # Relative within the rule: a lone backend gets the rule's whole traffic.
            share = round(100 * weight / total) if total else 0
            found.append(
                Destination(
                    f"HTTPRoute {route['metadata']['name']}", service, share, None, intended
                )
            )
    return found


def canary_ingress(rollout: dict[str, Any], stable: dict[str, Any]) -> dict[str, Any]:
    """The canary Ingress the controller builds from the stable one (`buildCanaryIngress`)."""
    stable_svc, canary_svc = services(rollout)
    rules = []
    for rule in stable["spec"].get("rules", []):
        paths = [dict(path) for path in rule.get("http", {}).get("paths", [])]
        if not any(path["backend"]["service"]["name"] == stable_svc for path in paths):
            continue
        for path in paths:
            if path["backend"]["service"]["name"] == stable_svc:
                path["backend"] = {"service": {**path["backend"]["service"], "name": canary_svc}}
        rules.append({**rule, "http": {"paths": paths}})
    name = f"{rollout['metadata']['name']}-{stable['metadata']['name']}-canary"
    return {"kind": "Ingress", "metadata": {"name": name}, "spec": {"rules": rules}}


def _nginx(cluster: Cluster, rollout: dict[str, Any], phase: Phase) -> list[Destination]:
    namespace = rollout["metadata"]["namespace"]
    name = rollout["spec"]["strategy"]["canary"]["trafficRouting"]["nginx"]["stableIngress"]
    stable = cluster.find("Ingress", name, namespace)
    assert stable is not None, f"no Ingress {name}"
    stable_svc, canary_svc = services(rollout)
    assert stable_svc and canary_svc
    canary = canary_ingress(rollout, stable)
    found: list[Destination] = []
    for ingress, weight, service, intended in (
        (stable, 100 - phase.weight, stable_svc, phase.intended.get(stable_svc, STABLE)),
        (canary, phase.weight, canary_svc, phase.intended.get(canary_svc, CANARY)),
    ):
        if any(
            path["backend"]["service"]["name"] == service
            for rule in ingress["spec"].get("rules", [])
            for path in rule["http"]["paths"]
        ):
            found.append(
                Destination(
                    f"Ingress {ingress['metadata']['name']}", service, weight, None, intended
                )
            )
    return found


def destinations(cluster: Cluster, rollout: dict[str, Any], phase: Phase) -> list[Destination]:
    """Every destination of the release's traffic in `phase`, from each entry point."""
    strategy = rollout["spec"]["strategy"]
    app = rollout["metadata"]["name"]
    stable_svc, _ = services(rollout)
    if "blueGreen" in strategy:
        active = strategy["blueGreen"]["activeService"]
        return [Destination(f"Service {active}", active, 100, None, phase.intended[active])]
    routing = strategy["canary"].get("trafficRouting")
    if routing is None:
        # The pod ratio: the one Service over both revisions.
        service = stable_svc or app
        return [Destination(f"Service {service}", service, 100, None, phase.intended.get(service))]
    if "istio" in routing:
        return _istio(cluster, rollout, phase)
    # Outside the mesh, callers in the cluster reach the stable Service by its name.
    inside = Destination(
        f"Service {stable_svc}", stable_svc or app, 100, None, phase.intended.get(stable_svc or "")
    )
    if "plugins" in routing:
        return [*_gateway(cluster, rollout, phase), inside]
    return [*_nginx(cluster, rollout, phase), inside]


def shared_canary_paths(cluster: Cluster, rollouts: list[dict[str, Any]]) -> list[str]:
    """Host and path pairs that two canary Ingresses would both carry (ingress-nginx applies one),
    or that a canary Ingress carries for another service's path."""
    problems: list[str] = []
    claimed: dict[tuple[str, str], str] = {}
    for rollout in rollouts:
        routing = rollout["spec"]["strategy"].get("canary", {}).get("trafficRouting") or {}
        if "nginx" not in routing:
            continue
        namespace = rollout["metadata"]["namespace"]
        stable = cluster.find("Ingress", routing["nginx"]["stableIngress"], namespace)
        assert stable is not None
        canary = canary_ingress(rollout, stable)
        _, canary_svc = services(rollout)
        for rule in canary["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                key = (rule.get("host", "*"), path["path"])
                owner = canary["metadata"]["name"]
                if path["backend"]["service"]["name"] != canary_svc:
                    problems.append(
                        f"canary Ingress {owner} also carries {key[0]}{key[1]} "
                        f"({path['backend']['service']['name']}): its weight applies there too"
                    )
                if key in claimed:
                    problems.append(
                        f"{key[0]}{key[1]} is in two canary Ingresses ({claimed[key]}, {owner}): "
                        "ingress-nginx applies only one"
                    )
                claimed.setdefault(key, owner)
    return problems
