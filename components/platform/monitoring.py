"""Monitoring: the application's alert rules, dashboards and the scrape targets they need.

Creates (parented to the component):
- PrometheusRule `webapp-alerts`: the critical, warning and info tiers (`platform.alerts`), each
  alert linking its Grafana dashboard and its README runbook (absolute URLs)
- ConfigMap `webapp-dashboards` labelled `grafana_dashboard: "1"`: the six dashboards
  (`platform.dashboards`), which the Grafana sidecar of kube-prometheus-stack loads from every
  namespace
- PodMonitors for what publishes the dashboards' metrics outside the application's namespace, each
  only where this program runs it: the Envoy proxies of the stack's own Gateway (`:19001
  /stats/prometheus`, with the owning Gateway's labels), cert-manager's controller (`:9402`) and
  External Secrets' controller (`:8080`); the latter two keep their metrics' own `namespace`
  label (`honorLabels`), which names the Certificate's or ExternalSecret's namespace
- AlertmanagerConfig `webapp-alerts` when any severity has a receiver: critical, warning and info
  each to its own receiver (`monitoring.alerting`), the endpoints read from the `webapp-alerting`
  Secret the stack's store delivers; the operator scopes it to this namespace's alerts

In time: the custom resources wait for the Prometheus operator's CRDs (the monitoring add-on, when
this program installs it); nothing waits for them, and a change to a rule or dashboard updates in
place (the sidecar reloads the ConfigMap within a minute).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.kube import objects as kx
from components.platform.alerts import SEVERITIES, AlertLinks, alert_rules
from components.platform.dashboards import DashboardContext, render

MONITORING_API = kx.MONITORING_API
ENVOY_METRICS_PORT = "metrics"
"""Envoy Gateway names the proxy container's 19001 port `metrics` (v1.7.0
internal/infrastructure/kubernetes/proxy/resource.go)."""
GATEWAY_LABELS = (
    "gateway.envoyproxy.io/owning-gateway-name",
    "gateway.envoyproxy.io/owning-gateway-namespace",
)


@dataclass(frozen=True)
class ScrapeTarget:
    """Pods outside the application's namespace whose metrics the dashboards read."""

    name: str
    namespace: str
    selector: dict[str, str]
    port: str
    path: str = "/metrics"
    honor_labels: bool = False
    """Keep the metrics' own labels (a `namespace` label naming the object they describe)."""
    pod_labels: tuple[str, ...] = ()
    """Pod labels copied onto the series."""


def envoy_target(namespace: str, controller_namespace: str) -> ScrapeTarget:
    """The Envoy proxies of the `webapp` Gateway in `namespace`."""
    return ScrapeTarget(
        name=f"envoy-{namespace}",
        namespace=controller_namespace,
        selector={GATEWAY_LABELS[0]: "webapp", GATEWAY_LABELS[1]: namespace},
        port=ENVOY_METRICS_PORT,
        path="/stats/prometheus",
        pod_labels=GATEWAY_LABELS,
    )


CERT_MANAGER = ScrapeTarget(
    name="cert-manager",
    namespace="cert-manager",
    selector={
        "app.kubernetes.io/name": "cert-manager",
        "app.kubernetes.io/component": "controller",
    },
    port="http-metrics",
    honor_labels=True,
)
"""cert-manager v1.19.1's controller (chart templates/deployment.yaml: port `http-metrics`)."""
EXTERNAL_SECRETS = ScrapeTarget(
    name="external-secrets",
    namespace="external-secrets",
    selector={"app.kubernetes.io/name": "external-secrets"},
    port="metrics",
    honor_labels=True,
)
"""External Secrets 0.19.2's controller (chart templates/deployment.yaml: port `metrics`)."""
ARGO_ROLLOUTS = ScrapeTarget(
    name="argo-rollouts",
    namespace="argo-rollouts",
    selector={
        "app.kubernetes.io/name": "argo-rollouts",
        "app.kubernetes.io/component": "rollouts-controller",
    },
    port="metrics",
    honor_labels=True,
)
"""Argo Rollouts' controller (chart 2.41.0 templates/controller/deployment.yaml: port `metrics`,
8090): `rollout_info*` per Rollout, labelled with the Rollout's own namespace."""


@dataclass(frozen=True, kw_only=True)
class MonitoringArgs:
    namespace: str
    """The namespace the alerts and dashboards are scoped to."""
    instance: str
    """The stack name (labels)."""
    dashboards: DashboardContext
    """What the dashboards and the alerts need to know about the stack (its services, where
    their requests are counted, which run as Rollouts)."""
    links: AlertLinks
    """Where the alerts' dashboard and runbook links point (`monitoring.grafanaUrl`,
    `monitoring.runbookUrl`)."""
    scrape_targets: tuple[ScrapeTarget, ...] = ()
    """Pods in other namespaces to scrape (a PodMonitor each). Default none."""
    receivers: Mapping[str, str] = field(default_factory=dict)
    """Severity -> receiver kind (`none`, `slack`, `webhook`, `pagerduty`). Default: none."""
    receiver_secret: str = "webapp-alerting"
    """The Secret holding each severity's endpoint under a key named after it."""
    crd_dependencies: Sequence[pulumi.Resource] = ()
    """What installs the CRDs this component's custom resources need, when this program installs
    it (waited for). Default: nothing.
    """


def pod_monitor_spec(target: ScrapeTarget) -> dict[str, Any]:
    endpoint: dict[str, Any] = {"port": target.port, "path": target.path, "interval": "30s"}
    if target.honor_labels:
        endpoint["honorLabels"] = True
    spec: dict[str, Any] = {
        "selector": {"matchLabels": dict(target.selector)},
        "namespaceSelector": {"matchNames": [target.namespace]},
        "podMetricsEndpoints": [endpoint],
    }
    if target.pod_labels:
        spec["podTargetLabels"] = list(target.pod_labels)
    return spec


REPEAT = {"critical": "1h", "warning": "4h", "info": "24h"}
"""How often an unresolved alert is sent again, per severity."""
BLACKHOLE = "discard"
SLACK_TEXT = (
    "{{ range .Alerts }}{{ .Annotations.description }}\n"
    "Dashboard: {{ .Annotations.dashboard_url }}\nRunbook: {{ .Annotations.runbook_url }}\n"
    "{{ end }}"
)
"""Each alert's description and its two links (`platform.alerts`: absolute, so Slack can open
them)."""


def _receiver(severity: str, kind: str, secret: str) -> dict[str, Any]:
    """One severity's receiver; its endpoint is the Secret's key named after the severity."""
    endpoint = {"name": secret, "key": severity}
    configs: dict[str, dict[str, Any]] = {
        "slack": {"slackConfigs": [{"apiURL": endpoint, "sendResolved": True, "text": SLACK_TEXT}]},
        "webhook": {"webhookConfigs": [{"urlSecret": endpoint, "sendResolved": True}]},
        "pagerduty": {
            "pagerdutyConfigs": [
                {"routingKey": endpoint, "sendResolved": True, "severity": severity}
            ]
        },
    }
    return {"name": severity, **configs[kind]}


def alert_routing(receivers: Mapping[str, str], secret: str) -> dict[str, Any]:
    """The AlertmanagerConfig spec: each severity to its receiver, anything else discarded."""
    routed = [severity for severity in SEVERITIES if receivers.get(severity, "none") != "none"]
    return {
        "route": {
            "receiver": BLACKHOLE,
            "groupBy": ["alertname", "namespace"],
            "groupWait": "30s",
            "groupInterval": "5m",
            "repeatInterval": "24h",
            "routes": [
                {
                    "receiver": severity,
                    "matchers": [{"name": "severity", "value": severity, "matchType": "="}],
                    "repeatInterval": REPEAT[severity],
                }
                for severity in routed
            ],
        },
        "receivers": [
            {"name": BLACKHOLE},
            *(_receiver(severity, receivers[severity], secret) for severity in routed),
        ],
    }


class Monitoring(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: MonitoringArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:platform:Monitoring", name, None, opts)
        lbl = kx.labels("webapp-monitoring", args.instance, "monitoring", "v1")
        crds = kx.child_options(self, opts, args.crd_dependencies)
        k8s.apiextensions.CustomResource(
            f"{name}-alerts",
            api_version=MONITORING_API,
            kind="PrometheusRule",
            metadata=kx.metadata("webapp-alerts", args.namespace, lbl),
            spec={"groups": alert_rules(args.namespace, args.dashboards, args.links)},
            opts=crds,
        )
        k8s.core.v1.ConfigMap(
            f"{name}-dashboards",
            metadata=kx.metadata(
                "webapp-dashboards", args.namespace, {**lbl, "grafana_dashboard": "1"}
            ),
            data=render(args.dashboards),
            opts=kx.child_options(self, opts),
        )
        if any(kind != "none" for kind in args.receivers.values()):
            k8s.apiextensions.CustomResource(
                f"{name}-alert-routing",
                api_version="monitoring.coreos.com/v1alpha1",
                kind="AlertmanagerConfig",
                metadata=kx.metadata("webapp-alerts", args.namespace, lbl),
                spec=alert_routing(args.receivers, args.receiver_secret),
                opts=crds,
            )
        for target in args.scrape_targets:
            k8s.apiextensions.CustomResource(
                f"{name}-podmonitor-{target.name}",
                api_version=MONITORING_API,
                kind="PodMonitor",
                metadata=kx.metadata(f"webapp-{target.name}", target.namespace, lbl),
                spec=pod_monitor_spec(target),
                opts=crds,
            )
        self.register_outputs({})
