"""Where each service's request signals are read, and the PromQL that reads them (pure).

A service's requests are counted by whoever publishes them, in this order (`resolve`):
1. its own image, through the metrics contract (`webapp:metrics.requests.<service>`,
   `config.metrics.PRESETS`), scraped by its PodMonitor (`namespace`, `service` = the pod's
   `app.kubernetes.io/name`);
2. its Istio sidecars when the stack runs the mesh: `istio_requests_total{reporter="destination",
   response_code}` and `istio_request_duration_milliseconds` (Istio 1.30.3's standard metrics,
   `tests/integration/telemetry/api/stats_test.go`), scraped by the PodMonitor `istio-proxies`
   with the same `service` label;
3. the stack's own Gateway when it routes to the service: Envoy's per-cluster statistics of the
   route's cluster (`envoy_cluster_upstream_rq_xx{envoy_cluster_name, envoy_response_code_class}`
   and `envoy_cluster_upstream_rq_time` in milliseconds, as Envoy Gateway v1.7.0's own dashboards
   read them, `charts/gateway-addons-helm/dashboards/envoy-clusters.json`), which carry neither the
   application's namespace nor a `service` label: the queries add `service` themselves.
A service none of them counts (an internal one without metrics, outside a mesh) has no request
panels; its availability still comes from kube-state-metrics and Argo Rollouts.

Every query of several services is a union (`or`) of one query per service, each labelled
`service`, so the legends and the alerts' labels read alike whatever the source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from components.config.metrics import EDGE, MESH, RequestSeries

Source = Literal["app", "mesh", "edge"]


@dataclass(frozen=True)
class RequestSignal:
    """Where one service's requests are counted."""

    service: str
    source: Source
    series: RequestSeries
    cluster: str = ""
    """The edge only: the route's Envoy cluster (`httproute/<ns>/<route>/rule/<n>`)."""

    def selector(self, namespace: str) -> str:
        """The label matchers of the service's series in `namespace` (a literal or `$namespace`)."""
        if self.source == "edge":
            return f'envoy_cluster_name="{self.cluster_in(namespace)}"'
        scope = f'namespace="{namespace}", service="{self.service}"'
        return f"{scope}, {self.series.scope}" if self.series.scope else scope

    def cluster_in(self, namespace: str) -> str:
        """The route's cluster for `namespace` (the dashboards' `$namespace`)."""
        parts = self.cluster.split("/")
        return "/".join([parts[0], namespace, *parts[2:]])


def resolve(
    service: str, published: Optional[RequestSeries], mesh: bool, cluster: Optional[str]
) -> Optional[RequestSignal]:
    """The service's request signal (module docstring), or None where nobody counts them."""
    if published is not None:
        return RequestSignal(service, "app", published)
    if mesh:
        return RequestSignal(service, "mesh", MESH)
    if cluster:
        return RequestSignal(service, "edge", EDGE, cluster)
    return None


def tag(expr: str, **labels: str) -> str:
    """`expr` with each label set to a fixed value (`label_replace` with an empty source)."""
    for key, value in labels.items():
        expr = f'label_replace({expr}, "{key}", "{value}", "", "")'
    return expr


def request_rate(signal: RequestSignal, namespace: str, window: str, errors: bool = False) -> str:
    """Requests per second of the service (only its 5xx with `errors`), one series."""
    matchers = signal.selector(namespace) + (f", {signal.series.errors}" if errors else "")
    return f"sum(rate({signal.series.counter}{{{matchers}}}[{window}]))"


def error_ratio(signal: RequestSignal, namespace: str, window: str) -> str:
    """The service's share of 5xx answers (nothing while it answers nothing)."""
    errors = request_rate(signal, namespace, window, errors=True)
    return f"{errors} / {request_rate(signal, namespace, window)}"


def p95_seconds(signal: RequestSignal, namespace: str, window: str) -> str:
    """The service's 95th percentile latency in seconds."""
    buckets = f"{signal.series.bucket}{{{signal.selector(namespace)}}}"
    quantile = f"histogram_quantile(0.95, sum by (le) (rate({buckets}[{window}])))"
    scale = signal.series.seconds_per_unit
    return quantile if scale == 1 else f"{quantile} * {scale:g}"


def union(parts: list[str]) -> str:
    """One query of every part (each already labelled apart)."""
    return " or ".join(f"({part})" if " or " in part else part for part in parts)
