"""Progressive delivery for an HttpService: the Argo Rollout's strategy and its timing (pure
builders; `workloads.release` declares the Rollout, `workloads.analysis` says what a release is
judged by, `workloads.traffic` how its traffic is split).

What a release does, in time (a canary, steps `STEPS`):
1. `pulumi up` changes the Rollout's pod template; the controller starts a canary ReplicaSet and
   sets the canary's share of traffic to 10 % (Istio VirtualService weights in the mesh, the
   HTTPRoute's backendRef weights through the Gateway API plugin, or ingress-nginx's canary
   Ingress, or the canary's share of the pods), then pauses `PAUSE_SECONDS` and runs the
   AnalysisTemplate (pod-ready ratio >= 0.8, 5xx ratio <= 5 %, as seed 002) on the canary pods;
   then 25, 50 and 75 % the same way, then 100 % to the canary Service, then the stable Service
   switches to the new pods, the weight returns to it, and the old ReplicaSet is scaled down.
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
`rollouts-pod-template-hash` key), the route weights (`ignore_changes` on each), and the replica
count under an HPA or KEDA. A change of those fields never makes Pulumi update the object. The
weights sit in lists the API treats as atomic (HTTPRoute `rules`, VirtualService `http`), so once
the controller writes one it owns the whole list: when Pulumi does change such an object (a new
route, a timeout), it applies with `pulumi.com/patchForce` and its declared values, which are the
safe ones (all traffic to stable), and the controller sets its weights again on its next
reconcile of an unfinished release. The Services' selectors and the
replica count are plain fields: server-side apply leaves them to the controller (the provider
drops an ignored field another manager owns) until a change of delivery takes them back.
"""

from __future__ import annotations

from typing import Any, Optional

from components.config.quantities import seconds
from components.config.settings import Delivery

from .analysis import Subject, analysis_seconds, analysis_step
from .traffic import Routing, canary_service, preview_service, traffic_routing

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


def release_seconds(subject: Subject) -> int:
    """How long a healthy release takes after its pods are ready: every step's pause and
    analysis (canary), or the pre-promotion analysis and the scale-down delay (blue-green)."""
    if subject.delivery == "canary":
        return len(STEPS) * (PAUSE_SECONDS + analysis_seconds(subject))
    return analysis_seconds(subject) + SCALE_DOWN_DELAY


POD_READY_SECONDS = 300
"""Allowed per step for the new pods to pull, start and pass readiness (the startup probe allows
5 minutes)."""


def update_seconds(subject: Subject) -> int:
    """How long a release may take before it counts as failed (the Rollout's await and the
    release gate's): the whole healthy release, each canary step allowed to start new pods, plus
    five minutes."""
    steps = len(STEPS) if subject.delivery == "canary" else 1
    return release_seconds(subject) + steps * POD_READY_SECONDS + 300


def strategy(delivery: Delivery, app: str, routing: Routing, smoke: bool = False) -> dict[str, Any]:
    """The Rollout's `spec.strategy`. `smoke`: the analysis calls the canary pods alone, so even
    the pod ratio (one Service over both ReplicaSets) gets a canary Service, which only the smoke
    Job calls (Argo Rollouts points a `canaryService` at the canary pods with or without traffic
    routing)."""
    if delivery == "blue-green":
        return {
            "blueGreen": {
                "activeService": app,
                "previewService": preview_service(app),
                "prePromotionAnalysis": analysis_step(app),
                "autoPromotionEnabled": True,
                "scaleDownDelaySeconds": SCALE_DOWN_DELAY,
            }
        }
    steps: list[dict[str, Any]] = []
    for weight in STEPS:
        steps += [
            {"setWeight": weight},
            {"pause": {"duration": f"{PAUSE_SECONDS}s"}},
            {"analysis": analysis_step(app)},
        ]
    canary: dict[str, Any] = {"steps": steps, "abortScaleDownDelaySeconds": SCALE_DOWN_DELAY}
    if routing.services:
        canary["stableService"] = app
        canary["canaryService"] = canary_service(app)
    elif smoke:
        canary["canaryService"] = canary_service(app)
    traffic = traffic_routing(app, routing)
    if traffic is not None:
        canary["trafficRouting"] = traffic
    return {"canary": canary}
