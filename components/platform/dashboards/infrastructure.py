"""Infrastructure: are the pods sized right, and is storage filling up (seed 000 dashboard 2).

Metrics: cAdvisor through the kubelet (`container_cpu_usage_seconds_total`,
`container_memory_working_set_bytes`, `container_cpu_cfs_throttled_periods_total` /
`container_cpu_cfs_periods_total`), kube-state-metrics (`kube_pod_container_resource_requests`,
`..._limits`, and with native sidecars `kube_pod_init_container_resource_*` of the init
containers whose `kube_pod_init_container_info` says `restart_policy="Always"`,
`kube_pod_container_status_restarts_total`,
`kube_horizontalpodautoscaler_status_current_replicas` / `..._desired_replicas`) and the
kubelet's volume stats (`kubelet_volume_stats_used_bytes` / `..._capacity_bytes`) for the NATS,
Redis and PostgreSQL claims and Prometheus' own.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as gd

from .panels import NAMESPACE, RATE, DashboardContext, Query, board, graph, pod_resource

UID = "webapp-infrastructure"
CONTAINERS = f'{NAMESPACE}, container!=""'


def _against(used: str, resource: str, context: DashboardContext) -> tuple[Query, Query, Query]:
    """Usage (cAdvisor: every running container, a native sidecar included) against the pods'
    requests and limits counted the same way (`panels.pod_resource`)."""
    native = context.native_sidecars
    return (
        Query(f"sum by (pod) ({used})", "{{pod}} used"),
        Query(pod_resource("requests", NAMESPACE, resource, native), "{{pod}} request"),
        Query(pod_resource("limits", NAMESPACE, resource, native), "{{pod}} limit"),
    )


def build(context: DashboardContext) -> gd.Dashboard:
    cpu = f"rate(container_cpu_usage_seconds_total{{{CONTAINERS}}}[{RATE}])"
    memory = f"container_memory_working_set_bytes{{{CONTAINERS}}}"
    claims = (
        f"kubelet_volume_stats_used_bytes{{{NAMESPACE}}} / "
        f"kubelet_volume_stats_capacity_bytes{{{NAMESPACE}}}"
    )
    prometheus_claims = (
        f'kubelet_volume_stats_used_bytes{{namespace="{context.monitoring_namespace}"}} / '
        f'kubelet_volume_stats_capacity_bytes{{namespace="{context.monitoring_namespace}"}}'
    )
    return (
        board(UID, "WebApp Infrastructure", context, "CPU, memory, throttling, scaling, volumes.")
        .with_row(gd.Row("Pods against their requests and limits"))
        .with_panel(graph("CPU", "cores", *_against(cpu, "cpu", context)))
        .with_panel(graph("Memory", "bytes", *_against(memory, "memory", context)))
        .with_panel(
            graph(
                "CPU throttling",
                "percentunit",
                Query(
                    "sum by (pod) (rate(container_cpu_cfs_throttled_periods_total"
                    f"{{{CONTAINERS}}}[{RATE}])) / sum by (pod) (rate("
                    f"container_cpu_cfs_periods_total{{{CONTAINERS}}}[{RATE}]))",
                    "{{pod}}",
                ),
            )
        )
        .with_panel(
            graph(
                "Restarts (1 h)",
                "short",
                Query(
                    "sum by (pod) (increase(kube_pod_container_status_restarts_total"
                    f"{{{NAMESPACE}}}[1h]))",
                    "{{pod}}",
                ),
            )
        )
        .with_row(gd.Row("Scaling"))
        .with_panel(
            graph(
                "HPA: current against desired replicas",
                "short",
                Query(
                    "sum by (horizontalpodautoscaler) ("
                    f"kube_horizontalpodautoscaler_status_current_replicas{{{NAMESPACE}}})",
                    "{{horizontalpodautoscaler}} current",
                ),
                Query(
                    "sum by (horizontalpodautoscaler) ("
                    f"kube_horizontalpodautoscaler_status_desired_replicas{{{NAMESPACE}}})",
                    "{{horizontalpodautoscaler}} desired",
                ),
            )
        )
        .with_row(gd.Row("Volumes"))
        .with_panel(
            graph(
                "Claims used (NATS, Redis, PostgreSQL)",
                "percentunit",
                Query(f"max by (persistentvolumeclaim) ({claims})", "{{persistentvolumeclaim}}"),
            )
        )
        .with_panel(
            graph(
                "Prometheus' claims used",
                "percentunit",
                Query(
                    f"max by (persistentvolumeclaim) ({prometheus_claims})",
                    "{{persistentvolumeclaim}}",
                ),
            )
        )
    )
