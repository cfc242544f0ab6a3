"""WebApp Overview: is the application serving, for every service (seed 000 dashboard 1).

Metrics: each service's requests where they are counted (`requests`: its own metrics through the
metrics contract, its sidecars in the mesh, or the Gateway's route statistics), labelled
`service`; available replicas from kube-state-metrics (Deployments) and Argo Rollouts' controller
(Rollouts). The thresholds are the critical alerts' (`platform.alerts`): 5 % errors, 1 s p95, no
available replica.
"""

from __future__ import annotations

from typing import Callable

from grafana_foundation_sdk.builders import dashboard as gd

from .panels import RATE, DashboardContext, Query, available_replicas, board, graph
from .requests import RequestSignal, error_ratio, p95_seconds, request_rate, tag, union

UID = "webapp-overview"
NAMESPACE_VALUE = "$namespace"


def _per_service(context: DashboardContext, build: Callable[[RequestSignal, str, str], str]) -> str:
    """One query of every counted service, each labelled `service`."""
    return union(
        [
            tag(build(signal, NAMESPACE_VALUE, RATE), service=signal.service)
            for signal in context.requests
        ]
    )


def _traffic(builder: gd.Dashboard, context: DashboardContext) -> gd.Dashboard:
    if not context.requests:
        return builder
    requests = _per_service(context, request_rate)
    errors = _per_service(context, error_ratio)
    return (
        builder.with_row(gd.Row("Traffic"))
        .with_panel(graph("Requests per second", "reqps", Query(requests, "{{service}}")))
        .with_panel(
            graph("5xx ratio (alert above 5 %)", "percentunit", Query(errors, "{{service}}"))
        )
        .with_panel(
            graph(
                "p95 latency (alert above 1 s)",
                "s",
                Query(_per_service(context, p95_seconds), "{{service}}"),
            )
        )
        .with_panel(
            graph(
                "Requests answered without a 5xx",
                "percentunit",
                Query(f"1 - ({errors})", "{{service}}"),
            )
        )
    )


def build(context: DashboardContext) -> gd.Dashboard:
    builder = board(UID, "WebApp Overview", context, "Requests, errors, latency and availability.")
    return (
        _traffic(builder, context)
        .with_row(gd.Row("Availability"))
        .with_panel(
            graph(
                "Available replicas (alert at 0)",
                "short",
                Query(available_replicas(NAMESPACE_VALUE, context), "{{deployment}}"),
            )
        )
    )
