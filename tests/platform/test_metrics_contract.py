"""Every rendered query reads series that are published: each selector of every dashboard panel,
alert rule, analysis metric and KEDA trigger, in every stack, per metrics-contract preset and per
datasource, matches a family an exporter publishes (`tests.platform.exporters`, read from the
exporters' source) with the labels the datasource's scrape configuration gives it, and every
`by (...)` groups on labels its series carry.

The scrape configuration is read from the render, never assumed:
- in-cluster Prometheus (kube-prometheus-stack): the program's PodMonitors and ServiceMonitors,
  with the target labels prometheus-operator v0.86.x gives them (`pkg/prometheus/promcfg.go`:
  `namespace`, `pod`, `container`, `endpoint`, `job`; a ServiceMonitor's `service` is the
  Service's name; then the endpoint's `relabelings` and the monitor's `podTargetLabels`), and the
  chart's own kube-state-metrics (`honorLabels`), kubelet and cAdvisor jobs;
- Azure Monitor managed Prometheus (`azure.managedPrometheus`, dashboards only): the
  `ama-metrics-prometheus-config` jobs the program writes (their `target_label`s), and the
  agent's default kube-state-metrics, kubelet and cAdvisor targets.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Optional

import pytest
import yaml

from components.config.catalogue import CATALOGUE
from components.config.metrics import DEFAULTS, PRESETS, MetricsSettings
from components.config.parsing import parse_settings
from components.platform.dashboards.panels import prometheus_queries
from tests.platform import exporters as ex
from tools.golden import variant_overrides
from tools.offline import ROOT, StackRun, load_stack_config

CANARY_HASH = "6c9d8f7b5d"
ANY = ex.ANY


@dataclass(frozen=True)
class Source:
    """One exporter as one datasource scrapes it: its families and the target's labels."""

    exporter: ex.Exporter
    target: Mapping[str, ex.Values]
    honor: bool = False
    """The exporter's own labels win over the target's (`honorLabels`)."""

    def labels(self, family: ex.Family) -> dict[str, ex.Values]:
        if self.honor:
            return {**self.target, **family.labels}
        return {**family.labels, **self.target}


@dataclass
class Datasource:
    name: str
    sources: list[Source] = field(default_factory=list)

    def series(self, name: str) -> list[dict[str, ex.Values]]:
        found = []
        for source in self.sources:
            family = source.exporter.family(name)
            if family is not None:
                found.append(source.labels(family))
        return found


# --- what each datasource scrapes, from the render ------------------------------------------------

CLUSTER_JOBS = (ex.KUBE_STATE_METRICS, ex.CADVISOR, ex.KUBELET)
"""Scraped on both datasources by their own configuration (the chart's jobs; the agent's default
targets), each series keeping its own `namespace`."""


def _app_exporters(app: str, contract: MetricsSettings) -> list[ex.Exporter]:
    """What the application's metrics port publishes (the contract, and the images' own)."""
    found = []
    preset = contract.requests.get(app, "none")
    if preset in ex.APPLICATION:
        found.append(ex.APPLICATION[preset])
    if app == "api":
        found.append(ex.DOTNET_RUNTIME)
    if app == "broadcaster":
        found.append(ex.BROADCASTER)
    return found


ADDONS = {
    "webapp-cert-manager": ex.CERT_MANAGER,
    "webapp-external-secrets": ex.EXTERNAL_SECRETS,
    "webapp-argo-rollouts": ex.ARGO_ROLLOUTS,
}


def _sanitise(label: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", label)


def _pod_monitor(monitor: dict[str, Any], contract: MetricsSettings) -> list[Source]:
    meta, spec = monitor["metadata"], monitor["spec"]
    endpoint = spec["podMetricsEndpoints"][0]
    app = spec["selector"]["matchLabels"].get("app.kubernetes.io/name", "")
    target: dict[str, ex.Values] = {
        "namespace": (spec["namespaceSelector"]["matchNames"][0],),
        "pod": ANY,
        "container": ANY,
        "endpoint": (endpoint["port"],),
        "job": ANY,
    }
    for relabeling in endpoint.get("relabelings", []):
        # The program's only relabeling: the pod's app.kubernetes.io/name as `service`.
        assert relabeling["sourceLabels"] == [
            "__meta_kubernetes_pod_label_app_kubernetes_io_name"
        ], relabeling
        target[relabeling["targetLabel"]] = (app,) if app else ANY
    for label in spec.get("podTargetLabels", []):
        target[_sanitise(label)] = ANY
    honor = bool(endpoint.get("honorLabels"))
    if meta["name"] == "istio-proxies":
        exporters = [ex.ISTIO]
    elif meta["name"].startswith("webapp-envoy-"):
        exporters = [ex.ENVOY]
    elif meta["name"] in ADDONS:
        exporters = [ADDONS[meta["name"]]]
    else:
        exporters = _app_exporters(app, contract)
    return [Source(exporter, target, honor) for exporter in exporters]


def _service_monitor(monitor: dict[str, Any]) -> list[Source]:
    name = monitor["metadata"]["name"]
    exporter = {"nats": ex.NATS_EXPORTER, "postgres": ex.POSTGRES_EXPORTER}.get(name)
    if exporter is None:
        return []
    target: dict[str, ex.Values] = {
        "namespace": (monitor["metadata"]["namespace"],),
        "service": (name,),
        "pod": ANY,
        "container": ANY,
        "endpoint": ANY,
        "job": ANY,
    }
    return [Source(exporter, target)]


def in_cluster(run: StackRun, contract: MetricsSettings) -> Datasource:
    source = Datasource("in-cluster")
    source.sources += [Source(exporter, {"job": ANY}, honor=True) for exporter in CLUSTER_JOBS]
    for obj in run.kubernetes_objects():
        if obj["kind"] == "PodMonitor":
            source.sources += _pod_monitor(obj, contract)
        elif obj["kind"] == "ServiceMonitor":
            source.sources += _service_monitor(obj)
    return source


def _annotated_apps(run: StackRun) -> dict[str, str]:
    """App name -> namespace of every workload whose pods carry `prometheus.io/scrape`."""
    found = {}
    for obj in run.kubernetes_objects():
        template = (obj.get("spec") or {}).get("template") or {}
        meta = template.get("metadata") or {}
        if (meta.get("annotations") or {}).get("prometheus.io/scrape") == "true":
            found[meta["labels"]["app.kubernetes.io/name"]] = obj["metadata"]["namespace"]
    return found


def managed(run: StackRun, contract: MetricsSettings) -> Optional[Datasource]:
    configs = [
        obj
        for obj in run.kubernetes_objects()
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "ama-metrics-prometheus-config"
    ]
    if not configs:
        return None
    source = Datasource("managed")
    source.sources += [Source(exporter, {"job": ANY}, honor=True) for exporter in CLUSTER_JOBS]
    jobs = yaml.safe_load(configs[0]["data"]["prometheus-config"])["scrape_configs"]
    for job in jobs:
        labelled = {
            rule["target_label"] for rule in job["relabel_configs"] if "target_label" in rule
        }
        labelled -= {"__address__", "__metrics_path__"}
        target: dict[str, ex.Values] = {label: ANY for label in labelled} | {"job": ANY}
        honor = bool(job.get("honor_labels"))
        name = job["job_name"]
        if name == "kubernetes-pods":
            for app, namespace in _annotated_apps(run).items():
                labels = {**target, "namespace": (namespace,)}
                if "service" in labelled:
                    labels["service"] = (app,)
                exporters = (
                    _app_exporters(app, contract)
                    + ([ex.NATS_EXPORTER] if app == "nats" else [])
                    + ([ex.POSTGRES_EXPORTER] if app == "postgres" else [])
                )
                source.sources += [Source(exporter, labels) for exporter in exporters]
        elif name.startswith("webapp-envoy-"):
            source.sources.append(Source(ex.ENVOY, target))
        elif name in ADDONS:
            source.sources.append(Source(ADDONS[name], target, honor))
    return source


# --- the queries, and what they select ------------------------------------------------------------

SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^{}]*)\}")
MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')
GROUPING = re.compile(r"\bby \(([^)]*)\) \(")
REPLACED = re.compile(r'label_replace\(.*?, "([a-zA-Z_]+)", "')


def concrete(expr: str, namespace: str) -> str:
    return (
        expr.replace("$namespace", namespace)
        .replace("$__rate_interval", "5m")
        .replace("{{args.canary-hash}}", CANARY_HASH)
    )


def _dashboard_queries(obj: dict[str, Any], namespace: str) -> list[tuple[str, str]]:
    return [
        (f"{file}: {title}", concrete(expr, namespace))
        for file, text in obj["data"].items()
        for title, expr in prometheus_queries(json.loads(text))
    ]


def _server_queries(obj: dict[str, Any], namespace: str) -> list[tuple[str, str]]:
    """An alert rule's, an analysis metric's or a KEDA trigger's queries."""
    kind, name, spec = obj["kind"], obj["metadata"]["name"], obj.get("spec") or {}
    if kind == "PrometheusRule":
        rules = [rule for group in spec["groups"] for rule in group["rules"]]
        return [(f"alert {rule['alert']}", rule["expr"]) for rule in rules]
    if kind == "AnalysisTemplate":
        return [
            (
                f"analysis {name}/{metric['name']}",
                concrete(metric["provider"]["prometheus"]["query"], namespace),
            )
            for metric in spec["metrics"]
            if "prometheus" in metric["provider"]
        ]
    if kind == "ScaledObject":
        return [
            (f"KEDA {name}", trigger["metadata"]["query"])
            for trigger in spec["triggers"]
            if trigger["type"] == "prometheus"
        ]
    return []


def rendered_queries(run: StackRun, namespace: str) -> dict[str, list[tuple[str, str]]]:
    """Datasource kind -> (where, expr): the dashboards' (every datasource) and the alerts',
    analyses' and triggers' (the in-cluster Prometheus only)."""
    found: dict[str, list[tuple[str, str]]] = {"dashboards": [], "in-cluster": []}
    for obj in run.kubernetes_objects():
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "webapp-dashboards":
            found["dashboards"] += _dashboard_queries(obj, namespace)
        else:
            found["in-cluster"] += _server_queries(obj, namespace)
    return found


def _matches(matchers: str, labels: Mapping[str, ex.Values]) -> bool:
    for label, op, value in MATCHER.findall(matchers):
        values = labels[label] if label in labels else ("",)
        if values is None:
            # Any value: only `=""`-like matchers could fail, and the queries use none.
            continue
        if op == "=":
            ok = value in values
        elif op == "!=":
            ok = any(v != value for v in values)
        elif op == "=~":
            ok = any(re.fullmatch(value, v) for v in values)
        else:
            ok = any(not re.fullmatch(value, v) for v in values)
        if not ok:
            return False
    return True


def _carried(body: str, label: str, datasource: Datasource) -> bool:
    """Whether every selector inside `body` carries `label` (or a label_replace sets it)."""
    if label in REPLACED.findall(body):
        return True
    for name, matchers in SELECTOR.findall(body):
        series = [labels for labels in datasource.series(name) if _matches(matchers, labels)]
        if series and not all(label in labels for labels in series):
            return False
    return True


def _body(expr: str, start: int) -> str:
    """The parenthesised expression opening at `start`."""
    depth = 0
    for index in range(start, len(expr)):
        depth += {"(": 1, ")": -1}.get(expr[index], 0)
        if depth == 0:
            return expr[start : index + 1]
    raise AssertionError(f"unbalanced: {expr}")


def problems_of(expr: str, datasource: Datasource) -> list[str]:
    """Every selector of `expr` that matches no published series, and every grouping on a label
    its series lack."""
    found = []
    for name, matchers in SELECTOR.findall(expr):
        candidates = datasource.series(name)
        if not candidates:
            found.append(f"{name}: nothing publishes it on {datasource.name}")
        elif not any(_matches(matchers, labels) for labels in candidates):
            found.append(f"{name}{{{matchers}}}: no {datasource.name} series has these labels")
    for match in GROUPING.finditer(expr):
        body = _body(expr, match.end() - 1)
        for label in (part.strip() for part in match.group(1).split(",")):
            if not _carried(body, label, datasource):
                found.append(f"by ({label}) over {body[:80]}...: a series lacks {label}")
    return found


def check(run: StackRun, stack: str, contract: MetricsSettings) -> list[str]:
    namespace = run.find("Namespace", f"webapp-{stack}")["metadata"]["name"]
    queries = rendered_queries(run, namespace)
    cluster = in_cluster(run, contract)
    datasources = [cluster] + [d for d in [managed(run, contract)] if d is not None]
    found = []
    for datasource in datasources:
        for where, expr in queries["dashboards"]:
            found += [f"{where} [{datasource.name}]: {p}" for p in problems_of(expr, datasource)]
    for where, expr in queries["in-cluster"]:
        found += [f"{where}: {p}" for p in problems_of(expr, cluster)]
    return found


VARIANTS = {
    "dev": ("dev", {}),
    "dev-monitoring": ("dev", variant_overrides("dev", "monitoring-flipped")),
    "staging": ("staging", {}),
    "production": ("production", {}),
    # Each preset of the contract for the api; `none` is counted by the mesh (production) or the
    # Gateway's route (staging).
    **{
        f"{stack}-api-{preset}": (stack, {"webapp:metrics": {"requests": {"api": preset}}})
        for stack, presets in (
            ("staging", ("opentelemetry", "status", "none")),
            ("production", ("none",)),
        )
        for preset in presets
    },
}


def _contract(stack: str, overrides: Mapping[str, Any]) -> MetricsSettings:
    raw = {**load_stack_config(stack), **overrides}
    return parse_settings(raw, stack, check_data_lock=False).metrics


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_query_reads_published_series(
    variant: str, stack_run: Callable[..., StackRun]
) -> None:
    stack, overrides = VARIANTS[variant]
    run = stack_run(stack, overrides or None)
    assert check(run, stack, _contract(stack, overrides)) == []


def test_the_variants_cover_every_preset_source_and_datasource(
    stack_run: Callable[..., StackRun],
) -> None:
    """The variants above read the api's requests from each preset, the sidecars and the Gateway,
    on both datasources."""
    seen = set()
    for stack, overrides in VARIANTS.values():
        run = stack_run(stack, overrides or None)
        text = str(rendered_queries(run, f"webapp-{stack}"))
        for name, series in {**ex.APPLICATION, "mesh": ex.ISTIO}.items():
            if series.families[0].name + "{" in text:
                seen.add(name)
        if "envoy_cluster_upstream_rq_xx{" in text:
            seen.add("edge")
        if managed(run, _contract(stack, overrides)) is not None:
            seen.add("managed")
    assert seen == {"prometheus-net", "opentelemetry", "status", "mesh", "edge", "managed"}


# --- the check is real ----------------------------------------------------------------------------


def test_a_label_the_exporter_lacks_is_caught(stack_run: Callable[..., StackRun]) -> None:
    """prometheus-net publishes no `status` label; Envoy no `service`."""
    run = stack_run("staging")
    cluster = in_cluster(run, MetricsSettings())
    wrong = 'sum(rate(http_requests_received_total{namespace="webapp-staging", status=~"5.."}[5m]))'
    assert problems_of(wrong, cluster)
    edge = 'sum by (service) (rate(envoy_cluster_upstream_rq_xx{envoy_cluster_name="x"}[5m]))'
    assert any("lacks service" in p for p in problems_of(edge, cluster))
    renamed = 'sum(rate(gnatsd_varz_slow_consumer{namespace="webapp-staging"}[5m]))'
    assert problems_of(renamed, cluster)


def test_managed_prometheus_without_the_service_label_is_caught(
    stack_run: Callable[..., StackRun],
) -> None:
    """The scrape job that labels only `namespace` and `pod` (item 4 of issue 27) leaves every
    `service=` matcher of the dashboards empty on that datasource."""
    run = stack_run("staging")
    queries = rendered_queries(run, "webapp-staging")["dashboards"]
    datasource = managed(run, MetricsSettings())
    assert datasource is not None
    assert not [p for _, expr in queries for p in problems_of(expr, datasource)]
    unlabelled = Datasource(
        "managed without service",
        [
            replace(source, target={k: v for k, v in source.target.items() if k != "service"})
            for source in datasource.sources
        ],
    )
    problems = [p for _, expr in queries for p in problems_of(expr, unlabelled)]
    assert any('service="api"' in p for p in problems), problems


# --- the README states the contract ---------------------------------------------------------------


def test_the_readme_states_the_contract_the_program_reads() -> None:
    """README "Metrics contract": one row per preset with its series and labels, the metrics
    ports, and the defaults, as `config.metrics` and the catalogue have them."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Metrics contract", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            preset, counter, histogram, labels = (cell.replace("`", "") for cell in cells)
            rows[preset] = (counter, histogram, tuple(labels.split(", ")))
    assert rows == {
        name: (series.counter, series.bucket.removesuffix("_bucket"), series.labels)
        for name, series in PRESETS.items()
    }
    ports = {service.name: service.metrics_port for service in CATALOGUE if service.metrics_port}
    for name, port in ports.items():
        assert f"{name} `{port}`" in section, name
    assert "the api's\n  default" in section and DEFAULTS == {"api": "prometheus-net"}
    assert "`webapp:metrics.requests.<name>`" in section
