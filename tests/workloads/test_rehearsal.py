"""The release rehearsal (`tools.rehearsal`): every stack's releases, in every variant the suite runs
and every traffic router, stepped through as Argo Rollouts, Istio, the Gateway API plugin,
ingress-nginx, prometheus-operator and KEDA would run them. Each controller behaviour the
rehearsal encodes cites its source at the pinned tag in the module that models it; the tests here
re-introduce each known defect and show the rehearsal catches it."""

from __future__ import annotations

import copy
import subprocess
import sys
from typing import Any, Callable

import pytest

from components.config.metrics import SHIPPED, MetricsSettings
from components.workloads.analysis import SMOKE_SCRIPT
from tests.support import STACKS, program
from tools.golden import VARIANTS, variant_overrides
from tools.offline import ROOT, StackRun, load_stack_config
from tools.rehearsal import Rehearsal, argo, rehearse
from tools.rehearsal import analysis as an
from tools.rehearsal.prometheus import evaluate

Objects = list[dict[str, Any]]


def services(stack: str, **changes: dict[str, Any]) -> dict[str, Any]:
    shipped = dict(load_stack_config(stack)["webapp:services"])
    for name, fields in changes.items():
        shipped[name] = {**(shipped.get(name) or {}), **fields}
    return {"webapp:services": shipped}


def mesh_off(stack: str) -> dict[str, Any]:
    return {
        "webapp:mesh": {**(load_stack_config(stack).get("webapp:mesh") or {}), "enabled": False}
    }


# Shapes no shipped variant has: the Gateway API plugin (a canary outside the mesh behind the
# Gateway), the pod ratio (an unrouted canary), blue-green inside the mesh.
EXTRA = {
    "production-gateway-api": ("production", mesh_off("production")),
    "staging-gateway-api": ("staging", services("staging", frontend={"delivery": "canary"})),
    "staging-pod-ratio": ("staging", services("staging", broadcaster={"delivery": "canary"})),
    "production-blue-green-in-mesh": (
        "production",
        services("production", api={"delivery": "blue-green"}),
    ),
}


def objects_of(
    stack_run: Callable[..., StackRun], stack: str, overrides: dict[str, Any]
) -> Objects:
    return stack_run(stack, overrides).kubernetes_objects()


def all_problems(
    objects: Objects, contract: MetricsSettings = SHIPPED
) -> tuple[list[Rehearsal], list[str]]:
    reports, problems = rehearse(copy.deepcopy(objects), contract)
    return reports, [p for r in reports for p in r.problems] + problems


@pytest.fixture(scope="module")
def production(stack_run: Callable[..., StackRun]) -> Objects:
    objects: Objects = stack_run("production").kubernetes_objects()
    return objects


def find(objects: Objects, kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def routers(reports: list[Rehearsal]) -> dict[str, str]:
    return {report.rollout: report.router for report in reports}


# --- every stack, variant and router ----------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_release_rehearses_clean(
    stack: str, variant: str, stack_run: Callable[..., StackRun]
) -> None:
    objects = objects_of(stack_run, stack, variant_overrides(stack, variant))
    reports, problems = all_problems(objects)
    assert problems == []
    for report in reports:
        analysed = [row for row in report.rows if row.verdicts]
        assert analysed, report.rollout
        for row in analysed:
            assert row.verdicts["healthy"].startswith("pass")
            assert row.verdicts["idle"].startswith("pass")
            assert row.verdicts["sick"].startswith("fail")


@pytest.mark.parametrize("shape", sorted(EXTRA))
def test_every_traffic_router_rehearses_clean(
    shape: str, stack_run: Callable[..., StackRun]
) -> None:
    stack, overrides = EXTRA[shape]
    reports, problems = all_problems(objects_of(stack_run, stack, overrides))
    assert problems == []
    expected = {
        "production-gateway-api": {"frontend": "gateway-api", "api": "gateway-api"},
        "staging-gateway-api": {"frontend": "gateway-api"},
        "staging-pod-ratio": {"frontend": "services", "broadcaster": "pod ratio"},
        "production-blue-green-in-mesh": {"frontend": "istio", "api": "services"},
    }[shape]
    assert routers(reports) == expected


def test_the_shipped_variants_cover_istio_nginx_and_blue_green(
    stack_run: Callable[..., StackRun],
) -> None:
    seen = set()
    for stack in STACKS:
        for variant in VARIANTS:
            reports, _ = rehearse(objects_of(stack_run, stack, variant_overrides(stack, variant)))
            seen |= set(routers(reports).values())
    assert seen == {"istio", "nginx", "services"}


# --- production's canary in the mesh, staging's blue-green -------------------------------------


def test_production_canary_sends_each_step_only_to_ready_pods_of_its_revision(
    production: Objects,
) -> None:
    reports, problems = all_problems(production)
    assert problems == []
    api = next(r for r in reports if r.rollout == "api")
    steps = [row for row in api.rows if row.phase.startswith("setWeight")]
    assert [row.weight for row in steps] == [10, 25, 50, 75]
    for row in steps:
        # Three stable pods behind `api`, ceil(weight * 3 / 100) new ones behind `api-canary`.
        new = -(-row.weight * 3 // 100)
        assert row.routes == [
            f"VirtualService api: api {100 - row.weight} % -> 3 stable, 0 new",
            f"VirtualService api: api-canary {row.weight} % -> 0 stable, {new} new",
        ]
        assert (
            row.verdicts["sick"].startswith("fail")
            and "error-rate 1 FAILED" in row.verdicts["sick"]
        )
    aborted = api.rows[-1]
    assert aborted.phase.startswith("aborted") and aborted.weight == 0
    assert aborted.routes[0] == "VirtualService api: api 100 % -> 3 stable, 0 new"


def test_staging_blue_green_smoke_tests_the_preview_and_keeps_users_on_the_active_pods(
    stack_run: Callable[..., StackRun],
) -> None:
    reports, problems = all_problems(stack_run("staging").kubernetes_objects())
    assert problems == []
    (frontend,) = reports
    preview = frontend.rows[0]
    assert preview.phase == "preview"
    assert preview.routes == ["Service frontend: frontend 100 % -> 2 stable, 0 new"]
    assert "smoke ok" in preview.verdicts["healthy"]
    assert "smoke FAILED" in preview.verdicts["sick"]
    assert frontend.rows[1].routes == ["Service frontend: frontend 100 % -> 0 stable, 2 new"]


# --- the defects, re-introduced -------------------------------------------------------------------


def test_subset_level_istio_splitting_sends_canary_weight_to_nothing(production: Objects) -> None:
    """The earlier design: one host, `stable`/`canary` subsets of a DestinationRule, while Argo
    narrows the `api` Service to the stable pods."""
    objects = copy.deepcopy(production)
    rollout = find(objects, "Rollout", "api")
    rollout["spec"]["strategy"]["canary"]["trafficRouting"]["istio"]["destinationRule"] = {
        "name": "api",
        "canarySubsetName": "canary",
        "stableSubsetName": "stable",
    }
    host = "api.webapp-production.svc.cluster.local"
    vs = find(objects, "VirtualService", "api")
    for route, subset in zip(vs["spec"]["http"][0]["route"], ("stable", "canary"), strict=True):
        route["destination"] = {"host": host, "subset": subset, "port": {"number": 8080}}
    selector = {"app.kubernetes.io/instance": "production", "app.kubernetes.io/name": "api"}
    objects.append(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "api", "namespace": "webapp-production"},
            "spec": {
                "host": host,
                "subsets": [{"name": n, "labels": dict(selector)} for n in ("stable", "canary")],
            },
        }
    )
    _, problems = all_problems(objects)
    assert (
        "Rollout api, setWeight 10: VirtualService api sends 10 % to api subset 7f4b9c6d84, which has no ready endpoints"
        in problems
    )
    assert any(
        p.startswith("Rollout api, steps done: VirtualService api sends 100 %") for p in problems
    )


def test_an_analysis_on_the_stable_service_label_cannot_fail(production: Objects) -> None:
    """The earlier design: a ServiceMonitor over `api` and `api-canary` (the canary's series carry
    `service="api-canary"`) and an error rate on `service="api"`."""
    objects = [
        o
        for o in copy.deepcopy(production)
        if o["metadata"]["name"] not in ("api", "istio-proxies") or o["kind"] != "PodMonitor"
    ]
    objects.append(
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {"name": "api", "namespace": "webapp-production"},
            "spec": {
                "selector": {
                    "matchLabels": {
                        "app.kubernetes.io/name": "api",
                        "app.kubernetes.io/instance": "production",
                    }
                },
                "namespaceSelector": {"matchNames": ["webapp-production"]},
                "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
            },
        }
    )
    pods = 'namespace="webapp-production", pod=~"api-{{args.canary-hash}}-.*", service="api"'
    template = find(objects, "AnalysisTemplate", "api")
    metric = next(m for m in template["spec"]["metrics"] if m["name"] == "error-rate")
    metric["provider"]["prometheus"]["query"] = (
        f'(sum(rate(http_requests_received_total{{{pods}, code=~"5.."}}[2m])) or vector(0))'
        f" / (sum(rate(http_requests_received_total{{{pods}}}[2m])) > 0) or vector(0)"
    )
    _, problems = all_problems(objects)
    assert any(
        p.startswith("Rollout api, setWeight 10: the analysis cannot fail") for p in problems
    )
    # Between releases both Services select the stable pods: each is scraped twice.
    assert any("is scraped twice" in p and "api-canary" in p for p in problems)


def test_a_keda_trigger_that_misses_the_canary_is_caught(production: Objects) -> None:
    objects = copy.deepcopy(production)
    scaled = find(objects, "ScaledObject", "api")
    load = next(t for t in scaled["spec"]["triggers"] if t["type"] == "prometheus")
    # Only the stable pods' series (as a query through the stable Service's label would read).
    load["metadata"]["query"] = (
        'sum(rate(http_requests_received_total{namespace="webapp-production", service="api", '
        'pod!~"api-7f4b9c6d84-.*"}[2m]))'
    )
    _, problems = all_problems(objects)
    assert any("KEDA's load trigger reads" in p for p in problems)


def test_an_unrouted_canary_with_its_own_services_gets_no_traffic(
    stack_run: Callable[..., StackRun],
) -> None:
    """With a stable Service and no router, Argo narrows the Service callers use to the stable
    pods: the canary would answer nothing, so a sick one passes (a broadcaster whose image
    counts its requests, so that its analysis reads their errors rather than a smoke Job)."""
    stack, overrides = EXTRA["staging-pod-ratio"]
    counted = {"requests": {"api": "prometheus-net", "broadcaster": "status"}}
    overrides = {**overrides, "webapp:metrics": counted}
    objects = copy.deepcopy(objects_of(stack_run, stack, overrides))
    rollout = find(objects, "Rollout", "broadcaster")
    rollout["spec"]["strategy"]["canary"] |= {
        "stableService": "broadcaster",
        "canaryService": "broadcaster-canary",
    }
    canary = copy.deepcopy(find(objects, "Service", "broadcaster"))
    canary["metadata"]["name"] = "broadcaster-canary"
    objects.append(canary)
    _, problems = all_problems(objects, MetricsSettings(requests=counted["requests"]))
    assert any(
        p.startswith("Rollout broadcaster, setWeight 10: the analysis cannot fail")
        for p in problems
    )


def test_a_shared_ingress_gives_two_canaries_the_same_paths(
    stack_run: Callable[..., StackRun],
) -> None:
    objects = copy.deepcopy(
        objects_of(stack_run, "production", variant_overrides("production", "ingress"))
    )
    shared = find(objects, "Ingress", "webapp")
    for name in ("frontend", "api"):
        own = find(objects, "Ingress", f"webapp-{name}")
        shared["spec"]["rules"][0]["http"]["paths"] += own["spec"]["rules"][0]["http"]["paths"]
        find(objects, "Rollout", name)["spec"]["strategy"]["canary"]["trafficRouting"]["nginx"][
            "stableIngress"
        ] = "webapp"
    _, problems = all_problems(objects)
    assert (
        "webapp.example.com/auth is in two canary Ingresses (frontend-webapp-canary, api-webapp-canary): ingress-nginx applies only one"
        in problems
    )


def test_a_nats_port_istio_would_sniff_is_caught(production: Objects) -> None:
    objects = copy.deepcopy(production)
    for port in find(objects, "Service", "nats")["spec"]["ports"]:
        port.pop("appProtocol")
    _, problems = all_problems(objects)
    assert problems == [
        "Service webapp-production/nats port client (4222) declares no protocol: Istio sniffs it (set appProtocol)"
    ]


def test_every_meshed_service_port_declares_its_protocol(production: Objects) -> None:
    from tools.rehearsal.protocols import istio_protocol

    declared = {
        (o["metadata"]["name"], p["name"]): istio_protocol(p)
        for o in production
        if o["kind"] == "Service" and o["metadata"]["namespace"] == "webapp-production"
        for p in o["spec"]["ports"]
    }
    assert "sniffed" not in declared.values()
    # Server-first and binary protocols as plain TCP.
    for key in (("nats", "client"), ("nats-headless", "cluster"), ("redis", "redis")):
        assert declared[key] == "tcp", key


def test_a_rollout_spread_by_the_deployment_hash_is_caught(production: Objects) -> None:
    objects = copy.deepcopy(production)
    for constraint in find(objects, "Rollout", "api")["spec"]["template"]["spec"][
        "topologySpreadConstraints"
    ]:
        constraint["matchLabelKeys"] = ["pod-template-hash"]
    _, problems = all_problems(objects)
    assert (
        problems
        == [
            "Rollout api: its pods carry no pod-template-hash; every revision would be spread together"
        ]
        * 2
    )


# --- the models themselves --------------------------------------------------------------------


@pytest.mark.parametrize(
    "replicas, weight, surge, expected",
    [
        # Upstream's own table: argo-rollouts v1.9.0 utils/replicaset/canary_test.go
        # TestApproximateWeightedNewStableReplicaCounts (maxWeight 100).
        (0, 0, 0, (0, 0)),
        (0, 50, 0, (0, 0)),
        (0, 100, 0, (0, 0)),
        (0, 0, 1, (0, 0)),
        (0, 50, 1, (0, 0)),
        (0, 100, 1, (0, 0)),
        (1, 0, 0, (0, 1)),
        (1, 1, 0, (0, 1)),
        (1, 49, 0, (0, 1)),
        (1, 50, 0, (1, 0)),
        (1, 99, 0, (1, 0)),
        (1, 100, 0, (1, 0)),
        (1, 0, 1, (0, 1)),
        (1, 1, 1, (1, 1)),
        (1, 49, 1, (1, 1)),
        (1, 50, 1, (1, 1)),
        (1, 99, 1, (1, 1)),
        (1, 100, 1, (1, 0)),
        (2, 0, 0, (0, 2)),
        (2, 1, 0, (1, 1)),
        (2, 50, 0, (1, 1)),
        (2, 99, 0, (1, 1)),
        (2, 100, 0, (2, 0)),
        (2, 0, 1, (0, 2)),
        (2, 1, 1, (1, 2)),
        (2, 50, 1, (1, 1)),
        (2, 99, 1, (2, 1)),
        (2, 100, 1, (2, 0)),
        (3, 10, 0, (1, 2)),
        (3, 25, 0, (1, 2)),
        (3, 33, 0, (1, 2)),
        (3, 34, 0, (1, 2)),
        (3, 49, 0, (1, 2)),
        (3, 50, 0, (2, 1)),
        (3, 10, 1, (1, 3)),
        (3, 25, 1, (1, 3)),
        (3, 33, 1, (1, 2)),
        (3, 34, 1, (1, 2)),
        (3, 49, 1, (2, 2)),
        (3, 50, 1, (2, 2)),
        (10, 0, 1, (0, 10)),
        (10, 1, 0, (1, 9)),
        (10, 14, 0, (1, 9)),
        (10, 15, 0, (2, 8)),
        (10, 16, 0, (2, 8)),
        (10, 99, 0, (9, 1)),
        (10, 100, 1, (10, 0)),
        (10, 0, 1, (0, 10)),
        (10, 1, 1, (1, 10)),
        (10, 18, 1, (2, 9)),
        (10, 19, 1, (2, 9)),
        (10, 20, 1, (2, 8)),
        (10, 23, 1, (2, 8)),
        (10, 24, 1, (3, 8)),
        (10, 25, 1, (3, 8)),
        (10, 99, 1, (10, 1)),
        (10, 100, 1, (10, 0)),
    ],
)
def test_the_basic_canary_counts_follow_argo(
    replicas: int, weight: int, surge: int, expected: tuple[int, int]
) -> None:
    assert argo.basic_counts(replicas, weight, surge) == expected


@pytest.mark.parametrize(
    "status, passes", [(200, True), (404, True), (500, False), (503, False), (None, False)]
)
def test_the_smoke_script_fails_on_5xx_and_refused_connections(
    status: int | None, passes: bool
) -> None:
    program("curl")
    assert an.run_smoke(SMOKE_SCRIPT, "/healthz /", 3, status) is passes


def test_promtool_values_are_read_back() -> None:
    program("promtool")
    series = [
        {"series": 'x{pod="a"}', "values": "0+60x20"},
        {"series": 'x{pod="b"}', "values": "0+30x20"},
    ]
    values = evaluate(
        ["sum(rate(x[2m]))", "sum(rate(y[2m])) or vector(0)", "sum(rate(y[2m]))"], series
    )
    assert values == {
        "sum(rate(x[2m]))": 1.5,
        "sum(rate(y[2m])) or vector(0)": 0.0,
        "sum(rate(y[2m]))": None,
    }


def test_make_rehearse_prints_the_step_table_and_exits_on_problems() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.rehearse", "production"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "release of api (canary, istio)" in result.stdout
    assert "stack production: 2 release(s) rehearsed, 0 problem(s)" in result.stdout
    readme = (ROOT / "README.md").read_text()
    assert "make rehearse STACK=production" in readme
    # The README's example is the tool's own output (its first step).
    example = readme.split("One step of production's api:\n\n```text\n", 1)[1].split(
        "\n  ...\n```", 1
    )[0]
    assert example in result.stdout


# --- the release gate's way out ------------------------------------------------------------------


def _gate_egress(run: StackRun, app: str) -> list[str]:
    policy = run.find("NetworkPolicy", f"{app}-release")
    return [peer["ipBlock"]["cidr"] for rule in policy["spec"]["egress"] for peer in rule["to"]]


def test_the_release_gate_reaches_only_where_the_api_server_answers(
    stack_run: Callable[..., StackRun],
) -> None:
    # AWS: EKS's `kubernetes` endpoints are the control plane's interfaces in the VPC.
    assert _gate_egress(stack_run("production"), "api") == ["10.30.0.0/16"]
    # Elsewhere the address is the cloud's: anywhere, unless config names it.
    assert _gate_egress(stack_run("staging"), "frontend") == ["0.0.0.0/0"]
    named = {
        "webapp:kubernetes": {
            **load_stack_config("staging")["webapp:kubernetes"],
            "apiServerCidr": "20.50.2.14/32",
        }
    }
    assert _gate_egress(stack_run("staging", named), "frontend") == ["20.50.2.14/32"]


# --- alerts see the canary ------------------------------------------------------------------------


def test_the_error_rate_alert_counts_the_canary_share(production: Objects) -> None:
    """At 25 %, a canary answering only 5xx makes a quarter of api's answers errors: the
    WebappHighErrorRate alert's query reads the canary's series (the PodMonitor labels them
    `service="api"` whichever Service reached them) and crosses its 5 % threshold."""
    from tools.rehearsal import _answered, _set_phase, scrape
    from tools.rehearsal.cluster import Cluster, static_pods
    from tools.rehearsal.prometheus import series
    from tools.rehearsal.routers import destinations

    objects = copy.deepcopy(production)
    cluster = Cluster(objects)
    rollout = find(objects, "Rollout", "api")
    phase = next(p for p in argo.phases(rollout) if p.name == "setWeight 25")
    base = static_pods(objects, {"webapp-production": True})
    _set_phase(cluster, base, rollout, phase)
    found = [
        (d, d.pods(cluster, "webapp-production")) for d in destinations(cluster, rollout, phase)
    ]
    rules = find(objects, "PrometheusRule", "webapp-alerts")["spec"]["groups"]
    (alert,) = [r for g in rules for r in g["rules"] if r.get("alert") == "WebappHighErrorRate"]
    # The alert's ratio, without its threshold, for api alone.
    ratio = alert["expr"].rsplit(" > ", 1)[0]
    query = f"({ratio}) and on(service) vector(1) * 0 + 1 or {ratio}"
    values = evaluate([ratio], series(cluster, scrape(cluster), _answered(found, "sick")))
    assert values[ratio] is not None and values[ratio] > 0.2, (query, values)
