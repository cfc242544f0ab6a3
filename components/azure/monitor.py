"""ManagedPrometheusConfig: Azure Monitor managed Prometheus scraping for the stack's namespace
(seed 001).

Creates (parented to the component), in `kube-system` where the ama-metrics agent reads them:
- ConfigMap `ama-metrics-settings-configmap`: annotation-based pod scraping limited to the
  stack's namespace
- ConfigMap `ama-metrics-prometheus-config`: a `kubernetes-pods` scrape job whose service
  discovery is limited to the stack's namespace, labelling each series `namespace`, `pod` and
  `service` (the pod's `app.kubernetes.io/name`, as the in-cluster PodMonitors do), and one job
  per add-on the dashboards read (the Gateway's Envoy proxies, cert-manager, External Secrets,
  Argo Rollouts: the in-cluster PodMonitors' targets, `AddonScrape`). kube-state-metrics,
  cAdvisor and the kubelet are the agent's own default targets.

The agent reads one pair per cluster: exactly one stack per cluster should turn
`webapp:azure.managedPrometheus` on (branch stacks leave it off).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.kube import objects as kx

SERVICE_LABEL = "__meta_kubernetes_pod_label_app_kubernetes_io_name"
"""The pod label the `service` target label is copied from, as the in-cluster PodMonitors do
(`kube.objects.SERVICE_RELABELING`): the dashboards' `service=` matchers and `by (service)` read
it on both datasources."""


@dataclass(frozen=True, kw_only=True)
class AddonScrape:
    """Pods outside the stack's namespace whose metrics the dashboards read (an add-on's
    controller, the Gateway's proxies), scraped by their container port's name."""

    name: str
    namespace: str
    selector: Mapping[str, str]
    port: str
    path: str = "/metrics"
    honor_labels: bool = False
    """Keep the metrics' own `namespace` (the object's) over the pod's."""
    pod_labels: tuple[str, ...] = ()
    """Pod labels copied onto the series, named as prometheus-operator's `podTargetLabels`
    names them (every character outside [a-zA-Z0-9_] as `_`)."""


def _meta(label: str) -> str:
    return "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", label)


def _pod_labels() -> list[dict[str, Any]]:
    return [
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": [SERVICE_LABEL], "target_label": "service"},
    ]


def _addon_job(addon: AddonScrape) -> dict[str, Any]:
    """One add-on's pods at their named port: the same targets as the in-cluster PodMonitor."""
    keep = [
        {"source_labels": [_meta(key)], "action": "keep", "regex": value}
        for key, value in sorted(addon.selector.items())
    ] + [
        {
            "source_labels": ["__meta_kubernetes_pod_container_port_name"],
            "action": "keep",
            "regex": addon.port,
        }
    ]
    copied = [
        {"source_labels": [_meta(label)], "target_label": _meta(label).split("_label_", 1)[1]}
        for label in addon.pod_labels
    ]
    job: dict[str, Any] = {
        "job_name": f"webapp-{addon.name}",
        "metrics_path": addon.path,
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [addon.namespace]}}],
        # `namespace` and `pod` as the PodMonitor's targets carry them (no `service`: the
        # add-ons' series are not the application's).
        "relabel_configs": keep + _pod_labels()[:2] + copied,
    }
    if addon.honor_labels:
        job["honor_labels"] = True
    return job


def scrape_config(namespace: str, addons: Sequence[AddonScrape] = ()) -> str:
    """The agent's custom scrape jobs: the stack's annotated pods (labelled `namespace`, `pod`
    and `service`), and each add-on the dashboards read."""
    pods = {
        "job_name": "kubernetes-pods",
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [namespace]}}],
        "relabel_configs": [
            {
                "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
                "action": "keep",
                "regex": "true",
            },
            {
                "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"],
                "action": "replace",
                "target_label": "__metrics_path__",
                "regex": "(.+)",
            },
            {
                "source_labels": [
                    "__address__",
                    "__meta_kubernetes_pod_annotation_prometheus_io_port",
                ],
                "action": "replace",
                "regex": "([^:]+)(?::\\d+)?;(\\d+)",
                "replacement": "$1:$2",
                "target_label": "__address__",
            },
            *_pod_labels(),
        ],
    }
    config = {"scrape_configs": [pods, *(_addon_job(addon) for addon in addons)]}
    return yaml.safe_dump(config, sort_keys=False)


@dataclass(frozen=True, kw_only=True)
class ManagedPrometheusConfigArgs:
    namespace: str
    """The only namespace whose annotated pods are scraped."""
    instance: str
    """The stack name (labels)."""
    addons: tuple[AddonScrape, ...] = ()
    """The add-ons' and the Gateway's pods the dashboards read, where this program runs them.
    Default none."""


class ManagedPrometheusConfig(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        args: ManagedPrometheusConfigArgs,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("webapp:azure:ManagedPrometheusConfig", name, None, opts)
        child = kx.child_options(self, opts)
        lbl = kx.labels("ama-metrics", args.instance, "monitoring", "v1")
        k8s.core.v1.ConfigMap(
            f"{name}-settings",
            metadata=kx.metadata("ama-metrics-settings-configmap", "kube-system", lbl),
            data={
                "schema-version": "v1",
                "config-version": "ver1",
                "pod-annotation-based-scraping": (
                    f'podannotationnamespaceregex = "^{args.namespace}$"'
                ),
            },
            opts=child,
        )
        k8s.core.v1.ConfigMap(
            f"{name}-scrape",
            metadata=kx.metadata("ama-metrics-prometheus-config", "kube-system", lbl),
            data={"prometheus-config": scrape_config(args.namespace, args.addons)},
            opts=child,
        )
        self.register_outputs({})
