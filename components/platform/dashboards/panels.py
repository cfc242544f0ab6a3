"""What every dashboard shares: its variables, the panel shapes, and how a dashboard becomes JSON.

Built with Grafana's `grafana-foundation-sdk` (the typed builders Grafana generates from its own
schema; pinned in requirements.txt to the build for Grafana 12, which kube-prometheus-stack
79.7.1's Grafana chart 10.2.0 ships as 12.3.0).

Every panel queries the `datasource` variable (a Prometheus datasource: the in-cluster one, or an
Azure Monitor workspace's) and filters on the `namespace` variable, whose default is the stack's
namespace: one dashboard serves every namespace (branch stacks included) by picking it. Queries use
`$__rate_interval`, which Grafana sizes to the scrape interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from .requests import RequestSignal

PROMETHEUS = common.DataSourceRef(type_val="prometheus", uid="${datasource}")
NAMESPACE = 'namespace="$namespace"'
"""The label matcher every query of the application's metrics carries."""
RATE = "$__rate_interval"
WIDTH = 12
HEIGHT = 8


@dataclass(frozen=True, kw_only=True)
class DashboardContext:
    """What a dashboard needs to know about the stack it is shipped with."""

    namespace: str
    """The default of the `namespace` variable."""
    monitoring_namespace: str
    """Where Prometheus runs (its own volume claims are there)."""
    services: tuple[str, ...]
    """The application's services."""
    rollouts: tuple[str, ...] = ()
    """The services run by an Argo Rollout (the rest are Deployments)."""
    requests: tuple[RequestSignal, ...] = ()
    """Where each service's requests are counted (`requests.resolve`); a service absent from it
    has no request panels."""
    external_secrets: bool = True
    """Whether External Secrets delivers the stack's Secrets (its metrics exist only then)."""
    native_sidecars: bool = False
    """Whether the pods carry Istio's proxy as a native sidecar (an init container with
    `restartPolicy: Always`), whose requests and limits kube-state-metrics reports apart."""
    route_clusters: dict[str, str] = field(default_factory=dict)
    """Service -> the Envoy cluster of its Gateway route (`httproute/<ns>/<route>/rule/<n>`)."""
    database: str = "in-cluster"
    """`in-cluster` (postgres_exporter), `rds` or `flexible-server`."""
    database_resource: str = ""
    """The managed database's identifier (the RDS instance) or ARM resource id (the server)."""
    region: str = ""
    """The managed database's AWS region (CloudWatch)."""


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel, and the legend of its series."""

    expr: str
    legend: str = ""


def _targets(queries: list[Query]) -> list[cogbuilder.Builder[variants.Dataquery]]:
    refs = "ABCDEFGH"
    return [
        prometheus.Dataquery()
        .expr(query.expr)
        .legend_format(query.legend or "__auto")
        .ref_id(refs[index])
        .datasource(PROMETHEUS)
        for index, query in enumerate(queries)
    ]


def graph(title: str, unit: str, *queries: Query, description: str = "") -> timeseries.Panel:
    """A time series panel of one or more PromQL queries."""
    panel = (
        timeseries.Panel()
        .title(title)
        .unit(unit)
        .datasource(PROMETHEUS)
        .height(HEIGHT)
        .span(WIDTH)
        .targets(_targets(list(queries)))
    )
    return panel.description(description) if description else panel


def single(title: str, unit: str, query: Query, description: str = "") -> stat.Panel:
    """A single-value panel (the latest value of one query)."""
    panel = (
        stat.Panel()
        .title(title)
        .unit(unit)
        .datasource(PROMETHEUS)
        .height(HEIGHT // 2)
        .span(WIDTH // 2)
        .targets(_targets([query]))
    )
    return panel.description(description) if description else panel


def board(uid: str, title: str, context: DashboardContext, description: str) -> gd.Dashboard:
    """A dashboard with the shared variables, tags, time range and refresh."""
    return (
        gd.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["webapp"])
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .readonly()
        .with_variable(
            gd.DatasourceVariable("datasource")
            .label("Prometheus")
            .type("prometheus")
            .current(model.VariableOption(selected=True, text="Prometheus", value="prometheus"))
        )
        .with_variable(
            gd.QueryVariable("namespace")
            .label("Namespace")
            .datasource(PROMETHEUS)
            .query("label_values(kube_pod_info, namespace)")
            .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
            .current(
                model.VariableOption(selected=True, text=context.namespace, value=context.namespace)
            )
        )
    )


def to_json(builder: gd.Dashboard) -> str:
    """The dashboard as Grafana reads it, deterministic (sorted keys), every panel and row with
    a stable id in layout order (links and alerts may point at `viewPanel=<id>`)."""
    built = builder.build()
    for index, panel in enumerate(built.panels or [], start=1):
        panel.id_val = index
    return JSONEncoder(sort_keys=True, indent=2).encode(built)


def prometheus_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every Prometheus query of a dashboard's JSON, rows included."""
    found: list[tuple[str, str]] = []

    def visit(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            visit(panel.get("panels") or [])
            for target in panel.get("targets") or []:
                datasource: Optional[dict[str, Any]] = target.get("datasource")
                if datasource and datasource.get("type") == "prometheus":
                    found.append((panel["title"], target["expr"]))

    visit(dashboard.get("panels") or [])
    return found


def available_replicas(namespace: str, context: DashboardContext) -> str:
    """Available replicas of every service, labelled `namespace` and `deployment`: kube-state-
    metrics' for a Deployment, Argo Rollouts' controller's for a Rollout (a service run by a
    Rollout has no Deployment; `rollout_info_replicas_available{namespace, name}`, argo-rollouts
    v1.9.0 `controller/metrics/prommetrics.go`), relabelled `deployment` so both read alike."""
    ns = f'namespace="{namespace}"'
    deployments = "|".join(name for name in context.services if name not in context.rollouts)
    parts = []
    if deployments:
        parts.append(
            "sum by (namespace, deployment) (kube_deployment_status_replicas_available"
            f'{{{ns}, deployment=~"{deployments}"}})'
        )
    if context.rollouts:
        parts.append(
            "sum by (namespace, deployment) (label_replace(rollout_info_replicas_available"
            f'{{{ns}, name=~"{"|".join(context.rollouts)}"}}, "deployment", "$1", "name", "(.*)"))'
        )
    return " or ".join(parts)


def pod_resource(kind: str, matcher: str, resource: str, native_sidecars: bool) -> str:
    """Each pod's `kind` (`requests` or `limits`) of `resource`, labelled `namespace`, `pod`.

    kube-state-metrics v2.17.0 reports an init container's under
    `kube_pod_init_container_resource_<kind>` (`internal/store/pod.go`), and Istio's native
    sidecar is one (`restartPolicy: Always`, which `kube_pod_init_container_info` carries as
    `restart_policy`), while cAdvisor's usage counts it like any running container: with native
    sidecars the sidecar's share is added, and only theirs (a run-once init container is not
    running beside the others)."""
    containers = f'kube_pod_container_resource_{kind}{{{matcher}, resource="{resource}"}}'
    if not native_sidecars:
        return f"sum by (namespace, pod) ({containers})"
    sidecars = (
        f'kube_pod_init_container_resource_{kind}{{{matcher}, resource="{resource}"}}'
        " * on (namespace, pod, container) group_left () max by (namespace, pod, container) "
        f'(kube_pod_init_container_info{{{matcher}, restart_policy="Always"}})'
    )
    return f"sum by (namespace, pod) ({containers} or {sidecars})"
