"""How a canary's share of traffic is set, per traffic router (pure builders; `workloads.release`
declares the objects).

Istio splits at host level: the VirtualService `<app>` routes the service's host to two
destinations, the Service `<app>` (stable) and the Service `<app>-canary`, with the weights the
controller sets. Argo Rollouts rewrites both Services' selectors to their ReplicaSet's
`rollouts-pod-template-hash` whatever the traffic router (argo-rollouts v1.9.0
`rollout/service.go` `reconcileStableAndCanaryService`, called from `rollout/canary.go`), and
Istio builds each destination's endpoints from that destination Service's own endpoints
(istio 1.30.3 `pilot/pkg/xds/endpoints/endpoint_builder.go`). So each weight lands on exactly
the pods its Service selects. Subset-level splitting (one host, subsets by hash in a
DestinationRule) does not fit a Rollout with a stable Service: the `<app>` Service's endpoints
are the stable pods only, so a `canary` subset of that host is empty, and at the last step the
controller sends 100 % to it before it switches the stable Service (`rollout/trafficrouting.go`
`reconcileTrafficRouting`: `MaxTrafficWeight` at the end of the steps, then `RemoveManagedRoutes`
once fully promoted). The controller matches a destination to a Service by the host's first
label (`rollout/trafficrouting/istio/istio.go` `getHost`), so the full mesh names are fine.

Outside the mesh: the HTTPRoute's two backendRefs (`<app>` and `<app>-canary`, the Gateway API
plugin sets their weights), or ingress-nginx's canary Ingress the controller creates from the
stable one, both on the same two Services. An unrouted service outside the mesh has no stable and
canary Services at all: the controller then does not touch its Service's selector, which keeps
both ReplicaSets' pods, and the canary's share is its share of the pods (Argo's basic canary).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional

TrafficRouter = Literal["istio", "gateway-api", "nginx", "none"]
"""How a canary's share of traffic is set: Istio (mesh on), Argo Rollouts' Gateway API plugin on
the service's HTTPRoute, ingress-nginx's canary Ingress, or the ratio of pods (an unrouted
service outside the mesh)."""


@dataclass(frozen=True, kw_only=True)
class Routing:
    """Where a canary's traffic share is set."""

    router: TrafficRouter
    route: Optional[str] = None
    """The HTTPRoute (gateway-api) or Ingress (nginx) that carries the service's path."""
    namespace: str = ""
    """The HTTPRoute's namespace (gateway-api)."""
    plugin: str = ""
    """The name the controller knows the Gateway API plugin by (gateway-api)."""

    @property
    def services(self) -> bool:
        """Whether the canary has Services of its own (stable and canary): every router but the
        pod ratio, which needs one Service over both ReplicaSets."""
        return self.router != "none"


def canary_service(app: str) -> str:
    return f"{app}-canary"


def preview_service(app: str) -> str:
    return f"{app}-preview"


def mesh_host(service: str, namespace: str) -> str:
    return f"{service}.{namespace}.svc.cluster.local"


ROUTE = "primary"
"""The VirtualService's HTTP route the controller weighs."""


def traffic_routing(app: str, routing: Routing) -> Optional[dict[str, Any]]:
    """The canary's `trafficRouting`, or None for the pod ratio."""
    if routing.router == "istio":
        return {"istio": {"virtualService": {"name": app, "routes": [ROUTE]}}}
    if routing.router == "gateway-api":
        return {
            "plugins": {
                routing.plugin: {"httpRoute": routing.route, "namespace": routing.namespace}
            }
        }
    if routing.router == "nginx":
        return {"nginx": {"stableIngress": routing.route}}
    return None


def virtual_service_spec(app: str, namespace: str, port: int) -> dict[str, Any]:
    """Istio routing of the service's host: stable 100 / canary 0 until a release moves the
    weights (the controller owns them: `ignore_changes`)."""
    return {
        "hosts": [mesh_host(app, namespace)],
        "http": [
            {
                "name": ROUTE,
                "route": [
                    {
                        "destination": {
                            "host": mesh_host(service, namespace),
                            "port": {"number": port},
                        },
                        "weight": weight,
                    }
                    for service, weight in ((app, 100), (canary_service(app), 0))
                ],
            }
        ],
    }


VIRTUAL_SERVICE_IGNORED = ("spec.http[0].route[0].weight", "spec.http[0].route[1].weight")
