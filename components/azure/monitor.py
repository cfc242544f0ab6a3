"""ManagedPrometheusConfig: Azure Monitor managed Prometheus scraping for the stack's namespace
(seed 001).

Creates (parented to the component), in `kube-system` where the ama-metrics agent reads them:
- ConfigMap `ama-metrics-settings-configmap`: annotation-based pod scraping limited to the
  stack's namespace
- ConfigMap `ama-metrics-prometheus-config`: a `kubernetes-pods` scrape job whose service
  discovery is limited to the stack's namespace (checked with `promtool check config`)

The agent reads one pair per cluster: exactly one stack per cluster should turn
`webapp:azure.managedPrometheus` on (branch stacks leave it off).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.kube import objects as kx


def scrape_config(namespace: str) -> str:
    config = {
        "scrape_configs": [
            {
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
                    {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
                    {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
                ],
            }
        ]
    }
    return yaml.safe_dump(config, sort_keys=False)


@dataclass(frozen=True, kw_only=True)
class ManagedPrometheusConfigArgs:
    namespace: str
    """The only namespace whose annotated pods are scraped."""
    instance: str
    """The stack name (labels)."""


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
            data={"prometheus-config": scrape_config(args.namespace)},
            opts=child,
        )
        self.register_outputs({})
