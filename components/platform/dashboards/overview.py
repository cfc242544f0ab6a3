"""WebApp Overview: is the application serving, for every service (seed 000 dashboard 1).

Metrics: `http_requests_total` and `http_request_duration_seconds` (labels `service`, `status`),
which the services publish on their metrics port, and kube-state-metrics' Deployment replicas. The
thresholds are the critical alerts' (`platform.alerts`): 5 % errors, 1 s p95, no available replica.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as gd

from .panels import NAMESPACE, RATE, DashboardContext, Query, board, graph

UID = "webapp-overview"


def build(context: DashboardContext) -> gd.Dashboard:
    requests = f"sum by (service) (rate(http_requests_total{{{NAMESPACE}}}[{RATE}]))"
    errors = f'sum by (service) (rate(http_requests_total{{{NAMESPACE}, status=~"5.."}}[{RATE}]))'
    deployments = "|".join(context.services)
    return (
        board(UID, "WebApp Overview", context, "Requests, errors, latency and availability.")
        .with_row(gd.Row("Traffic"))
        .with_panel(graph("Requests per second", "reqps", Query(requests, "{{service}}")))
        .with_panel(
            graph(
                "5xx ratio (alert above 5 %)",
                "percentunit",
                Query(f"{errors} / {requests}", "{{service}}"),
            )
        )
        .with_panel(
            graph(
                "p95 latency (alert above 1 s)",
                "s",
                Query(
                    "histogram_quantile(0.95, sum by (service, le) (rate("
                    f"http_request_duration_seconds_bucket{{{NAMESPACE}}}[{RATE}])))",
                    "{{service}}",
                ),
            )
        )
        .with_row(gd.Row("Availability"))
        .with_panel(
            graph(
                "Available replicas (alert at 0)",
                "short",
                Query(
                    "sum by (deployment) (kube_deployment_status_replicas_available"
                    f'{{{NAMESPACE}, deployment=~"{deployments}"}})',
                    "{{deployment}}",
                ),
            )
        )
        .with_panel(
            graph(
                "Requests answered without a 5xx",
                "percentunit",
                Query(f"1 - ({errors} / {requests})", "{{service}}"),
            )
        )
    )
