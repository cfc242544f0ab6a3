"""What each exporter the stacks scrape really publishes: metric names and the labels each carries,
read from its source at the pinned tag (cited per exporter), never from our queries.

Every promtool test builds its input series through `published()`, which refuses a metric or a
label the exporter does not publish, and `tests/platform/test_metrics_contract.py` checks every
rendered query's selectors against these families plus the labels each datasource's scrape
configuration adds (`TARGET_LABELS`). The application's own request series come from the metrics
contract's presets (`components.config.metrics.PRESETS`, cited there), the mesh's and the Gateway's
from `MESH` / `EDGE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

from components.config.metrics import EDGE, MESH, PRESETS, RequestSeries

Values = Optional[tuple[str, ...]]
"""The values a label takes, where the exporter fixes them; None: any (a name, an id)."""
ANY: Values = None


@dataclass(frozen=True)
class Family:
    """One metric family and its own labels (the target labels come from the scrape)."""

    name: str
    labels: Mapping[str, Values]


@dataclass(frozen=True)
class Exporter:
    name: str
    source: str
    """Repository, tag and file(s) the names and labels were read from."""
    families: tuple[Family, ...]

    def family(self, name: str) -> Optional[Family]:
        return next((family for family in self.families if family.name == name), None)


def _fam(name: str, *labels: str, **fixed: tuple[str, ...]) -> Family:
    return Family(name, {**{label: ANY for label in labels}, **fixed})


POD = ("namespace", "pod", "uid")
"""kube-state-metrics' pod families' own labels (`descPodLabelsDefaultLabels`)."""
RESOURCE = ("container", "node", "unit")
RESOURCES = ("cpu", "memory", "ephemeral_storage")

KUBE_STATE_METRICS = Exporter(
    "kube-state-metrics",
    "kubernetes/kube-state-metrics v2.17.0 internal/store/{deployment,pod,"
    "horizontalpodautoscaler,secret,cronjob}.go",
    (
        *(
            _fam(f"kube_deployment_{suffix}", "namespace", "deployment")
            for suffix in (
                "status_replicas_available",
                "status_replicas_updated",
                "status_observed_generation",
                "spec_replicas",
            )
        ),
        *(
            _fam(f"kube_pod_{kind}_resource_{which}", *POD, *RESOURCE, resource=RESOURCES)
            for kind in ("container", "init_container")
            for which in ("requests", "limits")
        ),
        _fam(
            "kube_pod_init_container_info",
            *POD,
            "container",
            "image_spec",
            "image",
            "image_id",
            "container_id",
            restart_policy=("Always", ""),
        ),
        _fam("kube_pod_container_status_restarts_total", *POD, "container"),
        _fam("kube_pod_status_ready", *POD, condition=("true", "false", "unknown")),
        _fam(
            "kube_pod_info",
            *POD,
            "host_ip",
            "pod_ip",
            "node",
            "created_by_kind",
            "created_by_name",
            "priority_class",
            "host_network",
        ),
        *(
            _fam(
                f"kube_horizontalpodautoscaler_status_{which}",
                "namespace",
                "horizontalpodautoscaler",
            )
            for which in ("current_replicas", "desired_replicas")
        ),
        _fam("kube_secret_metadata_resource_version", "namespace", "secret"),
        # cronjob.go: `descCronJobLabelsDefaultLabels` (namespace, cronjob) on each; Unix times.
        *(
            _fam(f"kube_cronjob_{suffix}", "namespace", "cronjob")
            for suffix in (
                "status_last_schedule_time",
                "status_last_successful_time",
                "next_schedule_time",
                "status_active",
            )
        ),
    ),
)
CADVISOR = Exporter(
    "cadvisor",
    "google/cadvisor metrics/prometheus.go (the families; `cpu` on the usage counter), with the "
    "kubelet's container labels `container`, `pod`, `namespace`, `image`, `id`, `name`",
    tuple(
        _fam(name, "container", "pod", "namespace", "image", "id", "name", *extra)
        for name, extra in (
            ("container_cpu_usage_seconds_total", ("cpu",)),
            ("container_memory_working_set_bytes", ()),
            ("container_cpu_cfs_throttled_periods_total", ()),
            ("container_cpu_cfs_periods_total", ()),
        )
    ),
)
KUBELET = Exporter(
    "kubelet",
    "kubernetes pkg/kubelet/metrics/collectors/volume_stats.go: `namespace`, "
    "`persistentvolumeclaim`",
    tuple(
        _fam(f"kubelet_volume_stats_{which}_bytes", "namespace", "persistentvolumeclaim")
        for which in ("used", "capacity")
    ),
)
ARGO_ROLLOUTS = Exporter(
    "argo-rollouts",
    "argoproj/argo-rollouts v1.9.0 controller/metrics/prommetrics.go, rollouts.go (phases "
    "Completed, Progressing, Paused, Timeout, Error, Abort; strategy blueGreen or canary)",
    (
        _fam(
            "rollout_info",
            "namespace",
            "name",
            "traffic_router",
            strategy=("blueGreen", "canary"),
            phase=("Completed", "Progressing", "Paused", "Timeout", "Error", "Abort"),
        ),
        *(
            _fam(f"rollout_info_replicas_{which}", "namespace", "name")
            for which in ("available", "unavailable", "desired", "updated")
        ),
    ),
)
CERT_MANAGER = Exporter(
    "cert-manager",
    "cert-manager/cert-manager v1.19.1 internal/collectors/certificate_collector.go",
    (
        _fam(
            "certmanager_certificate_expiration_timestamp_seconds",
            "name",
            "namespace",
            "issuer_name",
            "issuer_kind",
            "issuer_group",
        ),
    ),
)
EXTERNAL_SECRETS = Exporter(
    "external-secrets",
    "external-secrets/external-secrets v0.19.2 pkg/controllers/externalsecret/esmetrics/"
    "esmetrics.go, pkg/controllers/metrics/labels.go",
    (
        _fam("externalsecret_sync_calls_error", "name", "namespace"),
        _fam(
            "externalsecret_status_condition",
            "name",
            "namespace",
            condition=("Ready", "Deleted"),
            status=("True", "False", "Unknown"),
        ),
    ),
)
POSTGRES_EXPORTER = Exporter(
    "postgres_exporter",
    "prometheus-community/postgres_exporter v0.20.1 collector/pg_stat_database.go, "
    "pg_setting.go, pg_stat_activity.go, pg_replication.go, pg_database.go",
    (
        _fam("pg_stat_database_numbackends", "datid", "datname"),
        _fam("pg_stat_database_xact_commit", "datid", "datname"),
        _fam("pg_stat_database_xact_rollback", "datid", "datname"),
        _fam("pg_settings_max_connections"),
        _fam(
            "pg_stat_activity_max_tx_duration",
            "datname",
            "state",
            "usename",
            "application_name",
            "backend_type",
            "wait_event_type",
            "wait_event",
        ),
        _fam("pg_replication_lag_seconds"),
        _fam("pg_database_size_bytes", "datname"),
    ),
)
NATS_EXPORTER = Exporter(
    "prometheus-nats-exporter",
    "nats-io/prometheus-nats-exporter v0.17.3 collector/collector.go (varz: `server_id`), "
    "collector/connz.go (`-connz`: client connections only, `server_id`); no `jetstream_*`: the "
    "program runs it without `-jsz` (components/data/nats.py, JetStream off)",
    (
        *(
            _fam(f"gnatsd_varz_{name}", "server_id")
            for name in ("connections", "in_msgs", "out_msgs", "slow_consumers")
        ),
        *(_fam(f"gnatsd_connz_{name}", "server_id") for name in ("in_msgs", "out_msgs", "total")),
    ),
)
ENVOY = Exporter(
    "envoy",
    "Envoy's cluster and local rate limit statistics as Envoy Gateway v1.7.0's own dashboards "
    "read them (charts/gateway-addons-helm/dashboards/envoy-clusters.json)",
    (
        _fam(EDGE.counter, "envoy_cluster_name", envoy_response_code_class=tuple("12345")),
        _fam("envoy_cluster_upstream_rq", "envoy_cluster_name", "envoy_response_code"),
        _fam(EDGE.bucket, "envoy_cluster_name", "le"),
        _fam("envoy_http_local_rate_limit_rate_limited", "envoy_local_http_ratelimit_prefix"),
    ),
)
DOTNET_RUNTIME = Exporter(
    "prometheus-net.DotNetRuntime",
    "djluck/prometheus-net.DotNetRuntime 4.x (DotNetRuntimeStatsBuilder.Default()) and "
    "prometheus-net's process metrics",
    (
        _fam("dotnet_gc_collection_count_total", "gc_generation"),
        _fam("dotnet_gc_pause_ratio"),
        _fam("dotnet_gc_heap_size_bytes", "gc_generation"),
        _fam("process_working_set_bytes"),
        _fam("dotnet_threadpool_queue_length_bucket", "le"),
        _fam("dotnet_threadpool_num_threads"),
        _fam("dotnet_exceptions_total"),
    ),
)
BROADCASTER = Exporter(
    "broadcaster",
    "the broadcaster image's own metrics (the README's metrics contract)",
    (
        _fam("broadcaster_messages_processed_total"),
        _fam("broadcaster_webhook_requests_total", "status"),
        _fam("broadcaster_nats_connected"),
    ),
)


def request_exporter(series: RequestSeries) -> Exporter:
    """The request families of a preset (or of the mesh), with their labels."""
    labels = {label: ANY for label in series.labels}
    counter = series.counter
    families = [Family(counter, labels), Family(series.bucket, {**labels, "le": ANY})]
    if series is MESH:
        labels = {**labels, "reporter": ("source", "destination")}
        families = [Family(counter, labels), Family(series.bucket, {**labels, "le": ANY})]
    return Exporter(series.preset, f"config.metrics: {series.preset}", tuple(families))


ISTIO = request_exporter(MESH)
APPLICATION = {name: request_exporter(series) for name, series in PRESETS.items()}


def published(
    exporter: Exporter, metric: str, target: Mapping[str, str], values: str, **labels: str
) -> dict[str, str]:
    """A promtool input series of `metric` as `exporter` publishes it, with the target labels the
    scrape adds; refuses a family or a label the exporter does not publish, or a value it never
    takes."""
    family = exporter.family(metric)
    assert family is not None, f"{exporter.name} publishes no {metric} ({exporter.source})"
    for key, value in labels.items():
        assert key in family.labels, f"{exporter.name}'s {metric} has no label {key}"
        allowed = family.labels[key]
        assert allowed is None or value in allowed, f"{metric}{{{key}={value!r}}}: not {allowed}"
    merged = {**target, **labels}
    text = ", ".join(f'{key}="{value}"' for key, value in merged.items())
    return {"series": f"{metric}{{{text}}}", "values": values}
