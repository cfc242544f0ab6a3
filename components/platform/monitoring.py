"""Monitoring: alert rules and Grafana dashboards for the application (seed 000).

Creates (parented to the component):
- PrometheusRule `webapp-alerts`: critical (service down, 5xx rate > 5%, p95 latency > 1 s) and
  warning (CPU or memory > 80% of limits, container restarts, certificate expiring in < 14 days)
- ConfigMap `webapp-dashboards` labelled `grafana_dashboard: "1"` so the Grafana sidecar of
  kube-prometheus-stack loads the dashboards
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.kube import objects as kx


@dataclass(frozen=True, kw_only=True)
class MonitoringArgs:
    namespace: str
    """The namespace the alerts and dashboards are scoped to."""
    instance: str
    """The stack name (labels)."""
    services: tuple[str, ...]
    """Services whose availability, errors and latency are alerted on."""
    crd_dependencies: Sequence[pulumi.Resource] = ()
    """What installs the CRDs this component's custom resources need, when this program installs
    it (waited for). Default: nothing.
    """


def _alert(name: str, expr: str, duration: str, severity: str, summary: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {
            "summary": summary,
            "description": summary + " (namespace {{ $labels.namespace }})",
        },
    }


def critical_rules(namespace: str, services: Sequence[str]) -> list[dict[str, Any]]:
    """Page someone: a service is down, failing or slow."""
    ns = f'namespace="{namespace}"'
    deployments = "|".join(services)
    return [
        # From kube-state-metrics, so it fires for services that expose no metrics of their own too.
        _alert(
            "WebappServiceDown",
            "sum by (namespace, deployment) (kube_deployment_status_replicas_available"
            f'{{{ns}, deployment=~"{deployments}"}}) == 0',
            "2m",
            "critical",
            "{{ $labels.deployment }} has no available replica",
        ),
        _alert(
            "WebappHighErrorRate",
            f'sum by (namespace, service) (rate(http_requests_total{{{ns}, status=~"5.."}}[5m])) / '
            f"sum by (namespace, service) (rate(http_requests_total{{{ns}}}[5m])) > 0.05",
            "5m",
            "critical",
            "{{ $labels.service }} answers more than 5% of requests with 5xx",
        ),
        _alert(
            "WebappHighLatency",
            "histogram_quantile(0.95, sum by (namespace, service, le) "
            f"(rate(http_request_duration_seconds_bucket{{{ns}}}[5m]))) > 1",
            "10m",
            "critical",
            "{{ $labels.service }} p95 latency is above 1 s",
        ),
    ]


def warning_rules(namespace: str) -> list[dict[str, Any]]:
    """Look at it today: saturation, restarts, a certificate about to expire."""
    ns = f'namespace="{namespace}"'
    return [
        _alert(
            "WebappHighCpu",
            "sum by (namespace, pod) "
            f'(rate(container_cpu_usage_seconds_total{{{ns}, container!=""}}[5m])) / '
            "sum by (namespace, pod) "
            f'(kube_pod_container_resource_limits{{{ns}, resource="cpu"}}) > 0.8',
            "15m",
            "warning",
            "{{ $labels.pod }} uses more than 80% of its CPU limit",
        ),
        _alert(
            "WebappHighMemory",
            f'sum by (namespace, pod) (container_memory_working_set_bytes{{{ns}, container!=""}}) '
            "/ sum by (namespace, pod) "
            f'(kube_pod_container_resource_limits{{{ns}, resource="memory"}}) > 0.8',
            "15m",
            "warning",
            "{{ $labels.pod }} uses more than 80% of its memory limit",
        ),
        _alert(
            "WebappPodRestarts",
            f"increase(kube_pod_container_status_restarts_total{{{ns}}}[1h]) > 3",
            "0m",
            "warning",
            "{{ $labels.pod }} restarted more than 3 times in an hour",
        ),
        _alert(
            "WebappCertificateExpiry",
            f"certmanager_certificate_expiration_timestamp_seconds{{{ns}}} - time() "
            "< 14 * 24 * 3600",
            "1h",
            "warning",
            "certificate {{ $labels.name }} expires in less than 14 days",
        ),
    ]


def alert_rules(namespace: str, services: Sequence[str]) -> list[dict[str, Any]]:
    """The seed 000 alerting rules, scoped to one namespace."""
    return [
        {"name": "webapp.critical", "rules": critical_rules(namespace, services)},
        {"name": "webapp.warning", "rules": warning_rules(namespace)},
    ]


def overview_dashboard(namespace: str) -> dict[str, Any]:
    ns = f'namespace="{namespace}"'

    def panel(index: int, title: str, expr: str, unit: str) -> dict[str, Any]:
        return {
            "id": index,
            "type": "timeseries",
            "title": title,
            "datasource": {"type": "prometheus", "uid": "prometheus"},
            "gridPos": {"h": 8, "w": 12, "x": (index - 1) % 2 * 12, "y": (index - 1) // 2 * 8},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"expr": expr, "legendFormat": "{{service}}{{pod}}", "refId": "A"}],
        }

    return {
        "uid": f"webapp-{namespace}"[:40],
        "title": f"WebApp Overview ({namespace})",
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "tags": ["webapp"],
        "panels": [
            panel(
                1,
                "Requests per second",
                f"sum by (service) (rate(http_requests_total{{{ns}}}[5m]))",
                "reqps",
            ),
            panel(
                2,
                "5xx ratio",
                f'sum by (service) (rate(http_requests_total{{{ns}, status=~"5.."}}[5m])) / '
                f"sum by (service) (rate(http_requests_total{{{ns}}}[5m]))",
                "percentunit",
            ),
            panel(
                3,
                "p95 latency",
                "histogram_quantile(0.95, sum by (service, le) "
                f"(rate(http_request_duration_seconds_bucket{{{ns}}}[5m])))",
                "s",
            ),
            panel(
                4,
                "CPU by pod",
                "sum by (pod) "
                f'(rate(container_cpu_usage_seconds_total{{{ns}, container!=""}}[5m]))',
                "cores",
            ),
            panel(
                5,
                "Memory by pod",
                f'sum by (pod) (container_memory_working_set_bytes{{{ns}, container!=""}})',
                "bytes",
            ),
            panel(
                6,
                "Restarts (1h)",
                f"sum by (pod) (increase(kube_pod_container_status_restarts_total{{{ns}}}[1h]))",
                "short",
            ),
        ],
    }


class Monitoring(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: MonitoringArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:platform:Monitoring", name, None, opts)
        lbl = kx.labels("webapp-monitoring", args.instance, "monitoring", "v1")
        k8s.apiextensions.CustomResource(
            f"{name}-alerts",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=kx.metadata("webapp-alerts", args.namespace, lbl),
            spec={"groups": alert_rules(args.namespace, args.services)},
            opts=kx.child_options(self, opts, args.crd_dependencies),
        )
        k8s.core.v1.ConfigMap(
            f"{name}-dashboards",
            metadata=kx.metadata(
                "webapp-dashboards", args.namespace, {**lbl, "grafana_dashboard": "1"}
            ),
            data={
                "webapp-overview.json": json.dumps(
                    overview_dashboard(args.namespace), indent=2, sort_keys=True
                )
            },
            opts=kx.child_options(self, opts),
        )
        self.register_outputs({})
