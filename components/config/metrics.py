"""`webapp:metrics`: the metrics contract of the application images (pure; part of parsing).

Which request metrics each service publishes on its metrics port, named as a preset of a common
library (the series names and labels are that library's, read from its source):

- `prometheus-net`: prometheus-net's ASP.NET Core middleware (`UseHttpMetrics()`):
  `http_requests_received_total{code, method, controller, action}` and the histogram
  `http_request_duration_seconds{code, method, controller, action}` (prometheus-net v8.2.0
  `Prometheus.AspNetCore/HttpMetrics/HttpRequestCountMiddleware.cs`,
  `HttpRequestDurationMiddleware.cs`, `HttpRequestLabelNames.cs`);
- `opentelemetry`: OpenTelemetry's HTTP semantic conventions through a Prometheus exporter: the
  histogram `http.server.request.duration` (unit `s`; attributes `http.request.method`,
  `http.response.status_code`, `http.route`, `url.scheme`, `network.protocol.version`;
  open-telemetry/semantic-conventions `docs/http/http-metrics.md`), which the exporter names
  `http_server_request_duration_seconds` with `_bucket`/`_count`/`_sum` and dots as underscores
  (opentelemetry-specification `specification/compatibility/prometheus_and_openmetrics.md`);
  its `_count` counts the requests;
- `status`: `http_requests_total{status}` and `http_request_duration_seconds` (the shape seed
  002's alert uses);
- `none`: the service publishes no request metrics (the default for every service but the api,
  whose .NET image ships prometheus-net).

A service that publishes none gets its request signals from the mesh (its sidecars'
`istio_requests_total`, `reporter="destination"`) when the stack runs one, else from the edge
(Envoy Gateway's statistics of its route's cluster) when the stack's own Gateway routes to it;
`platform.dashboards.requests` resolves that, and the README's "Metrics contract" tells the
application teams.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

from components.config import catalogue
from components.config.reader import Reader


@dataclass(frozen=True, kw_only=True)
class RequestSeries:
    """How one publisher names a service's request count and duration."""

    preset: str
    """The preset (or source) name."""
    counter: str
    """The series counting requests (a counter, or a histogram's `_count`)."""
    code: str
    """The label carrying the HTTP status code."""
    errors: str
    """The matcher on `code` that selects the server errors."""
    bucket: str
    """The duration histogram's `_bucket` series."""
    seconds_per_unit: float
    """The duration histogram's unit in seconds (1, or 0.001 for milliseconds)."""
    labels: tuple[str, ...]
    """Every label the publisher sets on these series (the README's contract, the tests'
    fixture)."""
    scope: str = ""
    """Matchers that keep only the serving side's count (the mesh's `reporter="destination"`)."""

    def of_pods(self, namespace: str, pods: str) -> str:
        """The counter of the pods whose names match `pods` in `namespace`."""
        scope = f", {self.scope}" if self.scope else ""
        return f'{self.counter}{{namespace="{namespace}", pod=~"{pods}"{scope}}}'


PRESETS: Mapping[str, RequestSeries] = {
    "prometheus-net": RequestSeries(
        preset="prometheus-net",
        counter="http_requests_received_total",
        code="code",
        errors='code=~"5.."',
        bucket="http_request_duration_seconds_bucket",
        seconds_per_unit=1,
        labels=("code", "method", "controller", "action"),
    ),
    "opentelemetry": RequestSeries(
        preset="opentelemetry",
        counter="http_server_request_duration_seconds_count",
        code="http_response_status_code",
        errors='http_response_status_code=~"5.."',
        bucket="http_server_request_duration_seconds_bucket",
        seconds_per_unit=1,
        labels=(
            "http_request_method",
            "http_response_status_code",
            "http_route",
            "url_scheme",
            "network_protocol_version",
        ),
    ),
    "status": RequestSeries(
        preset="status",
        counter="http_requests_total",
        code="status",
        errors='status=~"5.."',
        bucket="http_request_duration_seconds_bucket",
        seconds_per_unit=1,
        labels=("status",),
    ),
}
"""The application-side presets (module docstring)."""
MESH = RequestSeries(
    preset="istio",
    counter="istio_requests_total",
    code="response_code",
    errors='response_code=~"5.."',
    bucket="istio_request_duration_milliseconds_bucket",
    seconds_per_unit=0.001,
    scope='reporter="destination"',
    labels=(
        "reporter",
        "response_code",
        "source_workload",
        "destination_workload",
        "destination_workload_namespace",
        "destination_service_name",
    ),
)
EDGE = RequestSeries(
    preset="envoy-gateway",
    counter="envoy_cluster_upstream_rq_xx",
    code="envoy_response_code_class",
    errors='envoy_response_code_class="5"',
    bucket="envoy_cluster_upstream_rq_time_bucket",
    seconds_per_unit=0.001,
    labels=("envoy_cluster_name", "envoy_response_code_class"),
)
"""Where a service that publishes none is counted instead: its Istio sidecars (Istio 1.30.3's
standard metrics, `tests/integration/telemetry/api/stats_test.go`), or the Envoy Gateway route's
cluster (Envoy Gateway v1.7.0 `charts/gateway-addons-helm/dashboards/envoy-clusters.json`); both
histograms are in milliseconds."""
NONE = "none"
CHOICES = (*PRESETS, NONE)
DEFAULTS: Mapping[str, str] = {"api": "prometheus-net"}
"""A service not named here publishes no request metrics by default."""


@dataclass(frozen=True, kw_only=True)
class MetricsSettings:
    """`webapp:metrics`: what each service's image publishes."""

    requests: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULTS))
    """Service -> its request-metrics preset (`PRESETS`) or `none`. Default: api
    `prometheus-net`, every other service `none`."""

    def published(self, service: str) -> Optional[RequestSeries]:
        """The request series the service's image publishes, or None."""
        return PRESETS.get(self.requests.get(service, NONE))


def parse_metrics(reader: Reader) -> MetricsSettings:
    """`metrics.requests.<service>`: a preset only for a service with a metrics port."""
    section = reader.section("requests")
    chosen = dict(DEFAULTS)
    ports = {service.name: service.metrics_port for service in catalogue.CATALOGUE}
    with_port = ", ".join(name for name, port in ports.items() if port)
    for name, _ in section.items():
        key, value = section.key(name), section.value(name)
        if name not in ports:
            reader.report(
                f"{key}: unknown service; expected one of {', '.join(catalogue.APP_SERVICES)}"
            )
            continue
        if value not in CHOICES:
            reader.report(f"{key}: {value!r} is not allowed; expected one of {', '.join(CHOICES)}")
            continue
        if value != NONE and not ports[name]:
            reader.report(
                f"{key}: {value!r} is not allowed; {name} has no metrics port (only {with_port} "
                "do), so it publishes none: its requests are read from the mesh or the Gateway"
            )
            continue
        chosen[name] = value
    reader.finish(("requests",))
    return MetricsSettings(requests=chosen)


SHIPPED = MetricsSettings()
"""The contract as shipped (no `webapp:metrics` set)."""
