"""Progressive delivery for an HttpService: the Argo Rollout's strategy, its analysis, and the
Istio objects a canary is split by in the mesh (pure builders; HttpService declares them).

What a release does, in time (a canary, steps `STEPS`):
1. `pulumi up` changes the Rollout's pod template; the controller starts a canary ReplicaSet and
   sets the canary's share of traffic to 10 % (Istio VirtualService weights in the mesh, the
   HTTPRoute's backendRef weights through the Gateway API plugin, or ingress-nginx's canary
   Ingress), then pauses `PAUSE_SECONDS` and runs the AnalysisTemplate (pod-ready ratio >= 0.8,
   5xx ratio <= 5 %, as seed 002) on the canary pods; then 25, 50 and 75 % the same way, then
   100 %, and the stable ReplicaSet is scaled down.
2. A failed analysis aborts: traffic returns to the stable pods, the canary is scaled down, and
   the Rollout is `Degraded`. The provider awaits the Rollout until it settles, Healthy or
   Degraded (`pulumi.com/waitFor`), and its release gate Job (`workloads.release_gate`) then
   fails the update on Degraded, so `pulumi up` reports a failed canary instead of "updated";
   both allow `update_seconds` (the whole healthy canary plus margin).
3. The first `pulumi up` of a Rollout has no stable version to compare with: the controller
   brings it to full size at once, without steps or analysis (Argo's initial deploy), so the
   first await is as long as a Deployment's.

Blue-green: the new pods start behind the preview Service, the pre-promotion analysis runs on
them, and only then the active Service's selector moves to them (`autoPromotionEnabled`); the old
pods stay `SCALE_DOWN_DELAY` seconds for connections to drain.

Fields the controller owns are left to it: the Services' selectors (it adds the
`rollouts-pod-template-hash` key), the route weights and the DestinationRule's subset labels
(`ignore_changes` on each), and the replica count under an HPA or KEDA. A change of those fields
never makes Pulumi update the object. The weights and subset labels sit in lists the API treats
as atomic (HTTPRoute `rules`, VirtualService `http`, DestinationRule `subsets`), so once the
controller writes one it owns the whole list: when Pulumi does change such an object (a new
route, a timeout), it applies with `pulumi.com/patchForce` and its declared values, which are the
safe ones (all traffic to stable, both subsets on the service's pods), and the controller sets
its weights again on its next reconcile of an unfinished release. The Services' selectors and the
replica count are plain fields: server-side apply leaves them to the controller (the provider
drops an ignored field another manager owns) until a change of delivery takes them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional

from components.config.quantities import seconds
from components.config.settings import Delivery

TrafficRouter = Literal["istio", "gateway-api", "nginx", "none"]
"""How a canary's share of traffic is set: Istio (mesh on), Argo Rollouts' Gateway API plugin on
the service's HTTPRoute, ingress-nginx's canary Ingress, or the ratio of pods (an unrouted
service outside the mesh)."""

STEPS = (10, 25, 50, 75)
"""The canary's traffic share at each step, in percent (seed 002)."""
PAUSE_SECONDS = 30
"""Time at each step before its analysis starts (seed 002: 30s)."""
SCALE_DOWN_DELAY = 30
"""Seconds the previous pods stay after a switch (blue-green) or an abort, for draining."""
PROGRESS_DEADLINE = 600
"""Seconds a ReplicaSet may take to become available before the Rollout aborts (Degraded)."""


def progress_deadline(create_timeout: Optional[str]) -> int:
    """Seconds the new pods may take to become available before the controller aborts:
    `PROGRESS_DEADLINE`, or the first rollout's longer create timeout (`30m`) where the pods'
    readiness waits for a database being created (they would be aborted before it answers)."""
    if not create_timeout:
        return PROGRESS_DEADLINE
    return max(PROGRESS_DEADLINE, seconds(create_timeout))


SETTLED = "jsonpath={.status[?@ == 'Healthy' || @ == 'Degraded']}"
"""The Rollout's await (`pulumi.com/waitFor`, RFC 9535 as the provider reads it): a status field
equal to Healthy or Degraded, the phase; the release gate then says which it was."""
CANARY_HASH = "canary-hash"
"""The analysis argument: the pod-template hash of the pods under test (their ReplicaSet's)."""


@dataclass(frozen=True)
class Metric:
    """One analysis measurement (seed 002's AnalysisTemplate)."""

    name: str
    interval: int
    """Seconds between measurements."""
    count: int
    success: str
    failure_limit: int
    query: str
    """PromQL as Argo sends it, with `{{args.canary-hash}}` for Argo to fill."""

    @property
    def seconds(self) -> int:
        """From the first measurement (at once) to the last."""
        return self.interval * (self.count - 1)


HASH_ARG = "{{args." + CANARY_HASH + "}}"


def metrics(app: str, namespace: str = "") -> tuple[Metric, ...]:
    # A Rollout's pods are named <rollout>-<pod-template-hash>-<suffix> (their ReplicaSet's).
    pods = f'namespace="{namespace}", pod=~"{app}-{HASH_ARG}-.*"'
    requests = f'http_requests_total{{{pods}, service="{app}"'
    return (
        Metric(
            name="pod-ready-ratio",
            interval=10,
            count=3,
            success="result[0] >= 0.8",
            failure_limit=2,
            # Every pod has one kube_pod_status_ready series per condition (true, false,
            # unknown), so the sum over all conditions counts the pods.
            query=(
                f'(sum(kube_pod_status_ready{{condition="true", {pods}}}) or vector(0))'
                f" / (sum(kube_pod_status_ready{{{pods}}}) or vector(1))"
            ),
        ),
        Metric(
            name="error-rate",
            interval=30,
            count=3,
            success="result[0] <= 0.05",
            failure_limit=1,
            # No requests yet is a pass (0), never 0/0 = NaN, which fails every condition.
            query=(
                f'(sum(rate({requests}, status=~"5.."}}[2m])) or vector(0))'
                f" / (sum(rate({requests}}}[2m])) > 0) or vector(0)"
            ),
        ),
    )


def analysis_seconds(app: str) -> int:
    """How long one analysis run takes (its metrics run side by side)."""
    return max(metric.seconds for metric in metrics(app))


def release_seconds(strategy: Delivery, app: str) -> int:
    """How long a healthy release takes after its pods are ready: every step's pause and
    analysis (canary), or the pre-promotion analysis and the scale-down delay (blue-green)."""
    if strategy == "canary":
        return len(STEPS) * (PAUSE_SECONDS + analysis_seconds(app))
    return analysis_seconds(app) + SCALE_DOWN_DELAY


POD_READY_SECONDS = 300
"""Allowed per step for the new pods to pull, start and pass readiness (the startup probe allows
5 minutes)."""


def update_seconds(strategy: Delivery, app: str) -> int:
    """How long a release may take before it counts as failed (the Rollout's await and the
    release gate's): the whole healthy release, each canary step allowed to start new pods, plus
    five minutes."""
    steps = len(STEPS) if strategy == "canary" else 1
    return release_seconds(strategy, app) + steps * POD_READY_SECONDS + 300


def analysis_spec(app: str, namespace: str, prometheus: str) -> dict[str, Any]:
    """The AnalysisTemplate `<app>`: both metrics on the pods of the tested template."""
    return {
        "args": [{"name": CANARY_HASH}],
        "metrics": [
            {
                "name": metric.name,
                "interval": f"{metric.interval}s",
                "count": metric.count,
                "successCondition": metric.success,
                "failureLimit": metric.failure_limit,
                "provider": {"prometheus": {"address": prometheus, "query": metric.query}},
            }
            for metric in metrics(app, namespace)
        ],
    }


def _analysis(app: str) -> dict[str, Any]:
    return {
        "templates": [{"templateName": app}],
        "args": [{"name": CANARY_HASH, "valueFrom": {"podTemplateHashValue": "Latest"}}],
    }


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


def canary_service(app: str) -> str:
    return f"{app}-canary"


def preview_service(app: str) -> str:
    return f"{app}-preview"


def _traffic(app: str, routing: Routing) -> Optional[dict[str, Any]]:
    if routing.router == "istio":
        return {
            "istio": {
                "virtualService": {"name": app, "routes": ["primary"]},
                "destinationRule": {
                    "name": app,
                    "canarySubsetName": "canary",
                    "stableSubsetName": "stable",
                },
            }
        }
    if routing.router == "gateway-api":
        return {
            "plugins": {
                routing.plugin: {"httpRoute": routing.route, "namespace": routing.namespace}
            }
        }
    if routing.router == "nginx":
        return {"nginx": {"stableIngress": routing.route}}
    return None


def strategy(delivery: Delivery, app: str, routing: Routing) -> dict[str, Any]:
    """The Rollout's `spec.strategy`."""
    if delivery == "blue-green":
        return {
            "blueGreen": {
                "activeService": app,
                "previewService": preview_service(app),
                "prePromotionAnalysis": _analysis(app),
                "autoPromotionEnabled": True,
                "scaleDownDelaySeconds": SCALE_DOWN_DELAY,
            }
        }
    steps: list[dict[str, Any]] = []
    for weight in STEPS:
        steps += [
            {"setWeight": weight},
            {"pause": {"duration": f"{PAUSE_SECONDS}s"}},
            {"analysis": _analysis(app)},
        ]
    canary: dict[str, Any] = {
        "stableService": app,
        "canaryService": canary_service(app),
        "steps": steps,
        "abortScaleDownDelaySeconds": SCALE_DOWN_DELAY,
    }
    traffic = _traffic(app, routing)
    if traffic is not None:
        canary["trafficRouting"] = traffic
    return {"canary": canary}


def virtual_service_spec(app: str, namespace: str, port: int) -> dict[str, Any]:
    """Istio routing of the service's host, stable 100 / canary 0 until a release moves the
    weights (the controller owns them: `ignore_changes`)."""
    host = f"{app}.{namespace}.svc.cluster.local"
    return {
        "hosts": [host],
        "http": [
            {
                "name": "primary",
                "route": [
                    {
                        "destination": {"host": host, "subset": subset, "port": {"number": port}},
                        "weight": weight,
                    }
                    for subset, weight in (("stable", 100), ("canary", 0))
                ],
            }
        ],
    }


VIRTUAL_SERVICE_IGNORED = ("spec.http[0].route[0].weight", "spec.http[0].route[1].weight")
DESTINATION_RULE_IGNORED = ("spec.subsets[0].labels", "spec.subsets[1].labels")


def destination_rule_spec(app: str, namespace: str, selector: dict[str, str]) -> dict[str, Any]:
    """The stable and canary subsets (the controller adds each one's pod-template hash to its
    labels) with mesh mTLS to them."""
    return {
        "host": f"{app}.{namespace}.svc.cluster.local",
        "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
        "subsets": [{"name": name, "labels": dict(selector)} for name in ("stable", "canary")],
    }
