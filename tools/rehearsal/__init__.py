"""The release rehearsal: every Rollout of a stack stepped through its release as the controllers
would run it, from the rendered objects (`make rehearse STACK=<stack>`).

For each Rollout, for each phase of a healthy release (`argo`): the Services' selectors after the
controller's rewrites, where every entry point sends traffic and the ready pods behind each
destination (`routers`, `cluster`); and at each analysis, the verdict of every metric of its
AnalysisTemplate in three scenarios, evaluated by the real promtool on the series Prometheus
would hold with the labels prometheus-operator gives them (`prometheus`), and by running the
smoke Job's script (`analysis`):

- healthy: the new pods answer as the old ones (0.5 % errors) with the release's share of the load;
- idle: healthy, and no request reaches them;
- sick: the new pods are ready but answer every request with a 5xx.

A healthy or idle release must pass every analysis; a sick one must fail its first, after which
the aborted phase must send nothing to the new pods. Besides: no pod's metrics port scraped
twice, no canary Ingress path shared, every meshed Service port declares its protocol, every
spread key is a label the pods carry.

A problem is a sentence naming the Rollout, the phase and what goes wrong. Each model cites the
controller source it was read from, at the tag the program pins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from components.config.metrics import MESH, PRESETS, SHIPPED, MetricsSettings

from . import analysis as an
from . import argo
from .cluster import CANARY, REVISION, STABLE, Cluster, Pod, pods_of, static_pods
from .prometheus import (
    LOAD_PER_MINUTE,
    Target,
    annotation_targets,
    evaluate,
    scraped_twice,
    series,
    targets,
)
from .protocols import spread_keys, undeclared_ports
from .routers import Destination, destinations, shared_canary_paths

REQUEST_COUNTERS = tuple(series.counter for series in (*PRESETS.values(), MESH))
"""Every request counter a load trigger may read (the contract's presets, the sidecars')."""
SCENARIOS = ("healthy", "idle", "sick")
HEALTHY_ERRORS = 0.005


@dataclass
class Row:
    phase: str
    weight: int
    routes: list[str]
    """`destination weight % -> pods by revision`."""
    verdicts: dict[str, str] = field(default_factory=dict)
    """scenario -> the analysis verdict (`-` where none runs)."""


@dataclass
class Rehearsal:
    rollout: str
    strategy: str
    router: str
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _router(rollout: dict[str, Any]) -> str:
    strategy = rollout["spec"]["strategy"]
    if "blueGreen" in strategy:
        return "services"
    routing = strategy["canary"].get("trafficRouting") or {}
    if "istio" in routing:
        return "istio"
    if "plugins" in routing:
        return "gateway-api"
    if "nginx" in routing:
        return "nginx"
    return "pod ratio"


def _set_phase(
    cluster: Cluster, base: list[Pod], rollout: dict[str, Any], phase: argo.Phase
) -> None:
    """The pods of each revision in `phase`, and the Services' selectors as the controller set
    them."""
    namespace = rollout["metadata"]["namespace"]
    meshed = cluster.meshed(namespace)
    pods = list(base)
    for revision, count in phase.replicas.items():
        pods += pods_of(rollout, revision, count, meshed)
    cluster.pods = pods
    cluster.selectors = {}
    for service, revision in phase.selectors.items():
        _point(cluster, namespace, service, revision)


def _point(cluster: Cluster, namespace: str, service: str, revision: str) -> None:
    """The controller's selector rewrite: the Service's own selector plus the revision's hash."""
    if cluster.find("Service", service, namespace):
        own = cluster.selector(namespace, service)
        cluster.selectors[(namespace, service)] = {**own, REVISION: revision}


def _route_problems(
    name: str, phase: argo.Phase, found: list[tuple[Destination, list[Pod]]]
) -> list[str]:
    problems = []
    for destination, pods in found:
        if destination.weight <= 0:
            continue
        where = (
            f"{name}, {phase.name}: {destination.entry} sends {destination.weight} % to "
            f"{destination.label()}"
        )
        if not pods:
            problems.append(f"{where}, which has no ready endpoints")
            continue
        revisions = {str(pod.revision) for pod in pods}
        wrong = sorted(revisions - {destination.intended}) if destination.intended else []
        if wrong:
            problems.append(
                f"{where}, whose endpoints include revision(s) {', '.join(wrong)} "
                f"where the step intends {destination.intended}"
            )
    return problems


def _describe(found: list[tuple[Destination, list[Pod]]]) -> list[str]:
    lines = []
    for destination, pods in found:
        counts = {STABLE: 0, CANARY: 0}
        for pod in pods:
            if pod.revision in counts:
                counts[str(pod.revision)] += 1
        lines.append(
            f"{destination.entry}: {destination.label()} {destination.weight} % -> "
            f"{counts[STABLE]} stable, {counts[CANARY]} new"
        )
    return lines


def _answered(
    found: list[tuple[Destination, list[Pod]]], scenario: str
) -> dict[str, tuple[float, float]]:
    """Requests a minute each pod answers well and badly in a scenario."""
    answered: dict[str, tuple[float, float]] = {}
    for destination, pods in found:
        if not pods or destination.weight <= 0:
            continue
        share = LOAD_PER_MINUTE * destination.weight / 100 / len(pods)
        for pod in pods:
            new = pod.revision == CANARY
            if new and scenario == "idle":
                continue
            failed_share = 1.0 if (new and scenario == "sick") else HEALTHY_ERRORS
            good, failed = answered.get(pod.name, (0.0, 0.0))
            answered[pod.name] = (good + share * (1 - failed_share), failed + share * failed_share)
    return answered


def _verdict(
    cluster: Cluster,
    template: dict[str, Any],
    scenario: str,
    found: list[tuple[Destination, list[Pod]]],
) -> tuple[bool, str]:
    """Whether the analysis passes in a scenario, and why."""
    scraped = scrape(cluster)
    by_metric = {m["name"]: m for m in template["spec"]["metrics"]}
    queried = an.queries(template, CANARY)
    values = evaluate(list(queried.values()), series(cluster, scraped, _answered(found, scenario)))
    parts, passed = [], True
    for name, query in queried.items():
        metric = by_metric[name]
        value = values[query]
        ok = an.metric_passes(metric, an.condition(metric["successCondition"], value))
        passed &= ok
        parts.append(f"{name} {'-' if value is None else f'{value:.3g}'}{'' if ok else ' FAILED'}")
    for metric in an.job_metrics(template):
        service, namespace, paths, requests = an.smoke_target(metric)
        pods = cluster.endpoints(namespace, service)
        # Any new pod behind the tested Service answers the sick scenario's 5xx; old pods behind
        # it answer well (the smoke then tests the wrong pods and cannot fail).
        status: Optional[int] = None
        if pods:
            sick = scenario == "sick" and any(pod.revision == CANARY for pod in pods)
            status = 500 if sick else 200
        ok = an.metric_passes(metric, an.run_smoke(an.script_of(metric), paths, requests, status))
        passed &= ok
        parts.append(f"{metric['name']} {'ok' if ok else 'FAILED'}")
    return passed, ", ".join(parts)


def scrape(cluster: Cluster) -> list[Target]:
    """The program's monitors' targets; without any (monitoring off), an external Prometheus'
    annotation job."""
    if cluster.of_kind("PodMonitor") or cluster.of_kind("ServiceMonitor"):
        return targets(cluster)
    return annotation_targets(cluster)


def rehearse_rollout(cluster: Cluster, rollout: dict[str, Any], base: list[Pod]) -> Rehearsal:
    name = rollout["metadata"]["name"]
    namespace = rollout["metadata"]["namespace"]
    strategy = "blue-green" if "blueGreen" in rollout["spec"]["strategy"] else "canary"
    report = Rehearsal(name, strategy, _router(rollout))
    template = None
    phases = argo.phases(rollout)
    for phase in phases:
        _set_phase(cluster, base, rollout, phase)
        found = [(d, d.pods(cluster, namespace)) for d in destinations(cluster, rollout, phase)]
        report.problems += _route_problems(f"Rollout {name}", phase, found)
        row = Row(phase.name, phase.weight, _describe(found))
        if phase.analysis:
            template = template or _template(cluster, rollout)
            for scenario in SCENARIOS:
                passed, why = _verdict(cluster, template, scenario, found)
                row.verdicts[scenario] = ("pass: " if passed else "fail: ") + why
                if scenario == "sick" and passed:
                    report.problems.append(
                        f"Rollout {name}, {phase.name}: the analysis cannot fail: a canary that "
                        f"answers every request with 5xx passes ({why})"
                    )
                if scenario != "sick" and not passed:
                    report.problems.append(
                        f"Rollout {name}, {phase.name}: a {scenario} release cannot pass ({why})"
                    )
        report.rows.append(row)
    first = next((phase for phase in phases if phase.analysis), None)
    if first is not None:
        report.problems += _load_trigger(cluster, base, rollout, first)
    if first is None:
        report.problems.append(f"Rollout {name}: no analysis ever runs on the new pods")
        return report
    abort = argo.abort(rollout, first)
    _set_phase(cluster, base, rollout, abort)
    found = [(d, d.pods(cluster, namespace)) for d in destinations(cluster, rollout, abort)]
    report.problems += _route_problems(f"Rollout {name}", abort, found)
    for destination, pods in found:
        if destination.weight > 0 and any(pod.revision == CANARY for pod in pods):
            report.problems.append(
                f"Rollout {name}, aborted: {destination.entry} still sends "
                f"{destination.weight} % to the new pods"
            )
    report.rows.append(Row(f"{abort.name} (sick, at {first.name})", abort.weight, _describe(found)))
    return report


def _load_trigger(
    cluster: Cluster, base: list[Pod], rollout: dict[str, Any], phase: argo.Phase
) -> list[str]:
    """KEDA's Prometheus trigger on the Rollout counts every pod's requests, the new ones'
    too (keda v2.20.2 `pkg/scalers/prometheus_scaler.go`: the query's single value is the
    metric, against the threshold)."""
    name, namespace = rollout["metadata"]["name"], rollout["metadata"]["namespace"]
    problems: list[str] = []
    for scaled in cluster.of_kind("ScaledObject"):
        ref = scaled["spec"]["scaleTargetRef"]
        if ref.get("kind") != "Rollout" or ref.get("name") != name:
            continue
        if scaled["metadata"].get("namespace") != namespace:
            continue
        for trigger in scaled["spec"]["triggers"]:
            query = trigger["metadata"].get("query", "")
            if trigger["type"] != "prometheus" or not any(
                counter in query for counter in REQUEST_COUNTERS
            ):
                continue
            _set_phase(cluster, base, rollout, phase)
            found = [(d, d.pods(cluster, namespace)) for d in destinations(cluster, rollout, phase)]
            answered = _answered(found, "healthy")
            own = [
                pod.name for pod in cluster.pods if pod.labels.get("app.kubernetes.io/name") == name
            ]
            expected = sum(sum(answered.get(pod, (0.0, 0.0))) for pod in own) / 60
            value = evaluate([query], series(cluster, scrape(cluster), answered))[query]
            if value is None or abs(value - expected) > 0.01 * expected:
                problems.append(
                    f"Rollout {name}, {phase.name}: KEDA's load trigger reads {value} requests/s "
                    f"where its pods answer {expected:.3g} (the new pods' share left out?)"
                )
    return problems


def _template(cluster: Cluster, rollout: dict[str, Any]) -> dict[str, Any]:
    strategy = rollout["spec"]["strategy"]
    if "blueGreen" in strategy:
        step = strategy["blueGreen"]["prePromotionAnalysis"]
    else:
        step = next(s["analysis"] for s in strategy["canary"]["steps"] if "analysis" in s)
    (reference,) = step["templates"]
    found = cluster.find(
        "AnalysisTemplate", reference["templateName"], rollout["metadata"]["namespace"]
    )
    assert found is not None, f"no AnalysisTemplate {reference['templateName']}"
    return found


def rehearse(
    objects: list[dict[str, Any]], contract: MetricsSettings = SHIPPED
) -> tuple[list[Rehearsal], list[str]]:
    """Every Rollout's rehearsal, and the stack-wide problems. `contract`: the stack's
    `webapp:metrics` (what each image publishes; default the shipped one)."""
    cluster = Cluster(objects, contract=contract)
    meshed = {
        obj["metadata"]["name"]: cluster.meshed(obj["metadata"]["name"])
        for obj in cluster.of_kind("Namespace")
    }
    base = static_pods(objects, meshed)
    rollouts = cluster.of_kind("Rollout")
    reports = [rehearse_rollout(cluster, rollout, base) for rollout in rollouts]
    # Steady state: every revision stable, each Service on its own pods.
    cluster.pods = base + [
        pod
        for rollout in rollouts
        for pod in pods_of(
            rollout,
            STABLE,
            int(rollout["spec"].get("replicas", 1)),
            meshed.get(rollout["metadata"]["namespace"], False),
        )
    ]
    cluster.selectors = {}
    for rollout in rollouts:
        for service in argo.services(rollout):
            if service:
                _point(cluster, rollout["metadata"]["namespace"], service, STABLE)
    problems = [
        *scraped_twice(scrape(cluster)),
        *shared_canary_paths(cluster, rollouts),
        *undeclared_ports(cluster),
        *spread_keys(cluster),
    ]
    return reports, problems


def table(report: Rehearsal) -> str:
    """A readable step table of one release."""
    lines = [f"release of {report.rollout} ({report.strategy}, {report.router})"]
    for row in report.rows:
        lines.append(f"  {row.phase:<34} canary weight {row.weight:>3} %")
        lines += [f"      {route}" for route in row.routes]
        for scenario, verdict in row.verdicts.items():
            lines.append(f"      analysis, {scenario:<7} {verdict}")
    return "\n".join(lines)
