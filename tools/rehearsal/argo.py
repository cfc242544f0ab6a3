"""A release as Argo Rollouts v1.9.0 runs it: the phases of a canary or blue-green update, each with
the pods of each revision, the selectors the controller gives the Services and the weight it
sets, and where an analysis runs.

Read in argoproj/argo-rollouts at tag v1.9.0:
- `rollout/canary.go` `rolloutCanary`: each reconcile first points the Services
  (`reconcileStableAndCanaryService`), then sets the weights (`reconcileTrafficRouting`).
- `rollout/service.go`: the stable Service selects the stable ReplicaSet's
  `rollouts-pod-template-hash`, the canary Service the new one's (once it has an available
  pod), whatever the traffic router; on abort the canary Service goes back to the stable pods
  (without a router in `reconcileStableAndCanaryService`; with one in `reconcileTrafficRouting`,
  in the same reconcile that removes the managed routes and sets the weight to 0).
- `rollout/trafficrouting.go` `reconcileTrafficRouting`: during the steps the weight is the
  current `setWeight` (the previous one until the canary ReplicaSet has its pods); after the last
  step it is `MaxTrafficWeight` (100) on the canary; once fully promoted (the stable ReplicaSet is
  the new one, so the stable Service has switched) the managed routes are removed and the weight
  is 0; on abort 0, and the canary Service returns to the stable pods.
- `utils/replicaset/canary.go`: with a traffic router the canary has
  `ceil(weight * replicas / 100)` pods and the stable keeps all of its own
  (`CalculateReplicaCountsForTrafficRoutedCanary`, no `dynamicStableScale`); without one the
  counts approximate the weight within the surge (`approximateWeightedCanaryStableReplicaCounts`).
- `rollout/bluegreen.go`, `rollout/service.go` `reconcilePreviewService` /
  `reconcileActiveService`: the preview Service selects the new pods, the pre-promotion
  analysis runs, then the active Service switches, and the old pods stay
  `scaleDownDelaySeconds`.
- `utils/defaults/defaults.go`: `scaleDownDelaySeconds` and `abortScaleDownDelaySeconds` 30.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from .cluster import CANARY, STABLE

MAX_WEIGHT = 100


@dataclass(frozen=True)
class Phase:
    """One state of a release, between two reconciles that change traffic."""

    name: str
    weight: int
    """The canary destination's weight (percent), as the controller sets it."""
    replicas: Mapping[str, int]
    """Pods per revision, all ready (a healthy release waits for readiness before it moves)."""
    selectors: Mapping[str, str]
    """Service -> the revision the controller's selector names (Services it manages only)."""
    analysis: bool = False
    """An analysis runs on the new pods in this phase."""
    intended: Mapping[str, str] = field(default_factory=dict)
    """Service -> the revision its traffic is meant for in this phase."""


def _canary(rollout: dict[str, Any]) -> dict[str, Any]:
    canary: dict[str, Any] = rollout["spec"]["strategy"]["canary"]
    return canary


def routed(rollout: dict[str, Any]) -> bool:
    return "trafficRouting" in _canary(rollout)


def _floor_ceiling_tied(weight: int, replicas: int) -> bool:
    return math.modf(replicas * (weight / MAX_WEIGHT))[0] == 0.5


def basic_counts(replicas: int, weight: int, surge: int) -> tuple[int, int]:
    """`approximateWeightedCanaryStableReplicaCounts`: (canary, stable) pods closest to the
    weight, within `replicas` or, with surge, one more."""
    if replicas == 0:
        return 0, 0
    ceil = math.ceil(replicas * weight / MAX_WEIGHT)
    floor = math.floor(replicas * weight / MAX_WEIGHT)
    zero_allowed = weight in (0, MAX_WEIGHT) or (replicas == 1 and surge == 0)
    options: list[tuple[int, int]] = []
    if ceil < replicas or zero_allowed:
        options.append((ceil, replicas))
    if not _floor_ceiling_tied(weight, replicas) and (floor != 0 or zero_allowed):
        options.append((floor, replicas))
    if surge > 0:
        options.append((ceil, replicas + 1))
        if not _floor_ceiling_tied(weight, replicas + 1) and (floor != 0 or zero_allowed):
            options.append((floor, replicas + 1))
    if not options:
        return 0, replicas
    best = min(options, key=lambda option: abs(option[0] * MAX_WEIGHT / option[1] - weight))
    return best[0], best[1] - best[0]


def surge(rollout: dict[str, Any]) -> int:
    """maxSurge resolved against the replicas (default 25 %, rounded up)."""
    replicas = int(rollout["spec"].get("replicas", 1))
    value = _canary(rollout).get("maxSurge", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(replicas * int(value[:-1]) / 100)
    return int(value)


def canary_phases(rollout: dict[str, Any]) -> list[Phase]:
    """A healthy canary, step by step, to the old pods' scale-down."""
    canary = _canary(rollout)
    replicas = int(rollout["spec"].get("replicas", 1))
    stable_svc, canary_svc = canary.get("stableService"), canary.get("canaryService")

    def selectors(stable: str, new: str) -> dict[str, str]:
        found = {}
        if stable_svc:
            found[stable_svc] = stable
        if canary_svc:
            found[canary_svc] = new
        return found

    def intended(stable: str, new: str) -> dict[str, str]:
        return selectors(stable, new)

    phases: list[Phase] = []
    weight = 0
    for step in canary["steps"]:
        if "setWeight" in step:
            weight = int(step["setWeight"])
            if routed(rollout):
                counts = {STABLE: replicas, CANARY: math.ceil(weight * replicas / MAX_WEIGHT)}
            else:
                new, old = basic_counts(replicas, weight, surge(rollout))
                counts = {STABLE: old, CANARY: new}
            phases.append(
                Phase(
                    f"setWeight {weight}",
                    weight,
                    counts,
                    selectors(STABLE, CANARY),
                    intended=intended(STABLE, CANARY),
                )
            )
        elif "analysis" in step and phases:
            last = phases[-1]
            phases[-1] = Phase(
                last.name, last.weight, last.replicas, last.selectors, True, last.intended
            )
    full = {STABLE: replicas, CANARY: replicas}
    if routed(rollout):
        phases += [
            # After the last step: all traffic to the canary Service, the stable one unchanged.
            Phase(
                "steps done",
                MAX_WEIGHT,
                full,
                selectors(STABLE, CANARY),
                False,
                intended(STABLE, CANARY),
            ),
            # Next reconcile: the new ReplicaSet is the stable one; its Service switches first.
            Phase(
                "stable switched",
                MAX_WEIGHT,
                full,
                selectors(CANARY, CANARY),
                False,
                intended(CANARY, CANARY),
            ),
            # Then the managed routes go: everything to the stable Service.
            Phase("promoted", 0, full, selectors(CANARY, CANARY), False, intended(CANARY, CANARY)),
        ]
    else:
        phases.append(
            Phase("promoted", MAX_WEIGHT, {STABLE: 0, CANARY: replicas}, selectors(CANARY, CANARY))
        )
    phases.append(
        Phase(
            "old pods scaled down",
            0 if routed(rollout) else MAX_WEIGHT,
            {STABLE: 0, CANARY: replicas},
            selectors(CANARY, CANARY),
            False,
            intended(CANARY, CANARY),
        )
    )
    return phases


def aborted(rollout: dict[str, Any], at: Phase) -> Phase:
    """A failed analysis: weight 0, the canary Service back on the stable pods, the canary's
    pods kept `abortScaleDownDelaySeconds` with a traffic router; without one they go at once
    (the field "is not applicable for basic canary", `pkg/apis/rollouts/v1alpha1/types.go`),
    so no caller of the one Service reaches them."""
    canary = _canary(rollout)
    selectors = {}
    if canary.get("stableService"):
        selectors[canary["stableService"]] = STABLE
    if canary.get("canaryService"):
        selectors[canary["canaryService"]] = STABLE
    replicas = int(rollout["spec"].get("replicas", 1))
    return Phase(
        "aborted",
        0,
        {STABLE: replicas, CANARY: at.replicas.get(CANARY, 0) if routed(rollout) else 0},
        selectors,
        False,
        dict(selectors),
    )


def blue_green_phases(rollout: dict[str, Any]) -> list[Phase]:
    """A healthy blue-green release: preview, analysis, switch, scale-down."""
    strategy = rollout["spec"]["strategy"]["blueGreen"]
    replicas = int(rollout["spec"].get("replicas", 1))
    active, preview = strategy["activeService"], strategy.get("previewService")
    both = {STABLE: replicas, CANARY: replicas}

    def selectors(active_rev: str, preview_rev: str) -> dict[str, str]:
        found = {active: active_rev}
        if preview:
            found[preview] = preview_rev
        return found

    analysis = "prePromotionAnalysis" in strategy
    return [
        Phase("preview", 0, both, selectors(STABLE, CANARY), analysis, selectors(STABLE, CANARY)),
        Phase("promoted", 0, both, selectors(CANARY, CANARY), False, selectors(CANARY, CANARY)),
        Phase(
            "old pods scaled down",
            0,
            {STABLE: 0, CANARY: replicas},
            selectors(CANARY, CANARY),
            False,
            selectors(CANARY, CANARY),
        ),
    ]


def blue_green_aborted(rollout: dict[str, Any]) -> Phase:
    strategy = rollout["spec"]["strategy"]["blueGreen"]
    replicas = int(rollout["spec"].get("replicas", 1))
    selectors = {strategy["activeService"]: STABLE}
    return Phase("aborted", 0, {STABLE: replicas, CANARY: replicas}, selectors, False, selectors)


def phases(rollout: dict[str, Any]) -> list[Phase]:
    if "blueGreen" in rollout["spec"]["strategy"]:
        return blue_green_phases(rollout)
    return canary_phases(rollout)


def abort(rollout: dict[str, Any], at: Phase) -> Phase:
    if "blueGreen" in rollout["spec"]["strategy"]:
        return blue_green_aborted(rollout)
    return aborted(rollout, at)


def services(rollout: dict[str, Any]) -> tuple[Optional[str], Optional[str]]:
    """(stable or active Service, canary or preview Service)."""
    strategy = rollout["spec"]["strategy"]
    if "blueGreen" in strategy:
        return strategy["blueGreen"]["activeService"], strategy["blueGreen"].get("previewService")
    canary = strategy["canary"]
    return canary.get("stableService"), canary.get("canaryService")
