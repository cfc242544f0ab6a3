"""Alerts and dashboards, checked with the real `promtool`: every expression parses, every alert of
each tier fires on its condition, and every dashboard query returns data for series named exactly
as the exporters publish them (so a renamed metric fails here, not on an on-call's screen)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from components.app.application import routes
from components.platform import dashboards
from components.platform.alerts import SEVERITIES
from components.platform.dashboards.panels import prometheus_queries
from components.platform.edge import route_clusters
from tests.platform import exporters as ex
from tests.platform.exporters import KUBE_STATE_METRICS, published
from tests.support import STACKS, program, readme_sections
from tools.golden import variant_overrides
from tools.offline import ROOT, StackRun

NS = "webapp-production"
IN_CLUSTER = variant_overrides("production", "cloud-none")


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [program("promtool"), *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def rules_of(run: StackRun) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = run.find("PrometheusRule", "webapp-alerts")["spec"]["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboards_of(run: StackRun) -> dict[str, dict[str, Any]]:
    data = run.find("ConfigMap", "webapp-dashboards")["data"]
    return {name: json.loads(text) for name, text in data.items()}


# ----------------------------------------------------------------------------------------------
# Alert rules
# ----------------------------------------------------------------------------------------------


GRAFANA = "https://grafana.webapp.example.com"
"""Production's Grafana (`monitoring.grafanaUrl` unset: `https://grafana.<domain>`)."""
RUNBOOKS = "https://github.com/OWNER/REPO/blob/main/README.md"
"""Production's README (`monitoring.runbookUrl` unset: the placeholder)."""


def _dashboard(uid: str) -> str:
    return f"{GRAFANA}/d/{uid}?var-namespace={NS}"


def _with_runbook(alert: str, expected: dict[str, Any]) -> dict[str, Any]:
    """An expected alert with its runbook link: the README section named after the alert."""
    annotations = {**expected["exp_annotations"], "runbook_url": f"{RUNBOOKS}#{alert.lower()}"}
    return {**expected, "exp_annotations": annotations}


def _expected(summary: str, uid: str, **labels: str) -> dict[str, Any]:
    return {
        "exp_labels": labels,
        "exp_annotations": {
            "summary": summary,
            "description": f"{summary} (namespace {NS})",
            "dashboard_url": _dashboard(uid),
        },
    }


KSM = {"namespace": NS}
"""kube-state-metrics' series keep their own `namespace` (the chart's honorLabels)."""


def _app(service: str, pod: str) -> dict[str, str]:
    """The target labels of a pod's metrics port (its PodMonitor: `service` from the pod)."""
    return {"namespace": NS, "service": service, "pod": pod, "container": service}


def _ksm(metric: str, values: str, **labels: str) -> dict[str, str]:
    return published(ex.KUBE_STATE_METRICS, metric, KSM, values, **labels)


def _rollouts(metric: str, values: str, **labels: str) -> dict[str, str]:
    return published(ex.ARGO_ROLLOUTS, metric, KSM, values, **labels)


def _usage(name: str, pod: str, container: str, values: str) -> dict[str, str]:
    target = {"namespace": NS, "pod": pod, "container": container}
    return published(ex.CADVISOR, name, target, values)


PROMETHEUS_NET = ex.APPLICATION["prometheus-net"]
CANARY = {"strategy": "canary", "traffic_router": "Istio"}

ALERT_SERIES = [
    # Production runs websocket, auth and broadcaster as Deployments, api and frontend as
    # Rollouts (Argo Rollouts' controller publishes theirs).
    _ksm("kube_deployment_status_replicas_available", "0x40", deployment="websocket"),
    _ksm("kube_deployment_status_replicas_available", "3x40", deployment="auth"),
    _rollouts("rollout_info_replicas_available", "0x40", name="api"),
    _rollouts("rollout_info_replicas_available", "2x40", name="frontend"),
    _rollouts("rollout_info", "1x40", name="api", phase="Abort", **CANARY),
    # frontend's release: progressing for three minutes, then completed.
    _rollouts("rollout_info", "1 1 1 _x37", name="frontend", phase="Progressing", **CANARY),
    _rollouts("rollout_info", "_ _ _ 1x37", name="frontend", phase="Completed", **CANARY),
    # The api counts its own requests (prometheus-net's middleware, the contract's default):
    # 10 % 5xx. auth publishes none; its sidecars count 1 % as the server saw it, while the
    # callers' sidecars (reporter="source") saw 50 %, which must not count.
    published(
        PROMETHEUS_NET, "http_requests_received_total", _app("api", "api-1"), "0+10x40", code="500"
    ),
    published(
        PROMETHEUS_NET, "http_requests_received_total", _app("api", "api-1"), "0+90x40", code="200"
    ),
    *(
        published(
            ex.ISTIO,
            "istio_requests_total",
            _app("auth", "auth-1"),
            values,
            reporter=reporter,
            response_code=code,
        )
        for reporter, code, values in (
            ("destination", "500", "0+1x40"),
            ("destination", "200", "0+99x40"),
            ("source", "500", "0+50x40"),
            ("source", "200", "0+50x40"),
        )
    ),
    # CPU against the limit, a native sidecar on both sides: api-1 uses 0.3 + 0.2 cores of
    # 0.5 + 0.5 (50 %); ws-1 uses 0.45 of 0.5 (90 %), and its run-once init container's limit
    # (restart_policy "") does not dilute it.
    _usage("container_cpu_usage_seconds_total", "api-1", "api", "0+18x40"),
    _usage("container_cpu_usage_seconds_total", "api-1", "istio-proxy", "0+12x40"),
    _usage("container_cpu_usage_seconds_total", "ws-1", "websocket", "0+27x40"),
    _ksm(
        "kube_pod_container_resource_limits", "0.5x40", pod="api-1", container="api", resource="cpu"
    ),
    _ksm(
        "kube_pod_init_container_resource_limits",
        "0.5x40",
        pod="api-1",
        container="istio-proxy",
        resource="cpu",
    ),
    _ksm(
        "kube_pod_init_container_info",
        "1x40",
        pod="api-1",
        container="istio-proxy",
        restart_policy="Always",
    ),
    _ksm(
        "kube_pod_container_resource_limits",
        "0.5x40",
        pod="ws-1",
        container="websocket",
        resource="cpu",
    ),
    _ksm(
        "kube_pod_init_container_resource_limits",
        "10x40",
        pod="ws-1",
        container="migrate",
        resource="cpu",
    ),
    _ksm(
        "kube_pod_init_container_info", "1x40", pod="ws-1", container="migrate", restart_policy=""
    ),
    _ksm("kube_pod_container_status_restarts_total", "0 1 2 3 4 5 6", pod="api-1", container="api"),
    published(
        ex.EXTERNAL_SECRETS, "externalsecret_sync_calls_error", KSM, "0+1x40", name="webapp-redis"
    ),
    _ksm("kube_deployment_spec_replicas", "3x40", deployment="websocket"),
    _ksm("kube_deployment_status_replicas_updated", "1x40", deployment="websocket"),
    _ksm("kube_deployment_spec_replicas", "2x40", deployment="auth"),
    _ksm("kube_deployment_status_replicas_updated", "2x40", deployment="auth"),
    _ksm("kube_deployment_status_observed_generation", "1 1 1 2 2 2 2 2", deployment="auth"),
    _ksm(
        "kube_horizontalpodautoscaler_status_desired_replicas",
        "3 3 3 5 5 5 5",
        horizontalpodautoscaler="api",
    ),
    _ksm("kube_secret_metadata_resource_version", "100 100 180 180 180", secret="webapp-redis"),
]

ALERT_CASES = [
    (
        "5m",
        "WebappServiceDown",
        [
            _expected(
                "api has no available replica",
                "webapp-overview",
                severity="critical",
                namespace=NS,
                deployment="api",
            ),
            _expected(
                "websocket has no available replica",
                "webapp-overview",
                severity="critical",
                namespace=NS,
                deployment="websocket",
            ),
        ],
    ),
    (
        "5m",
        "WebappReleaseAborted",
        [
            _expected(
                "api's release stopped (Abort); the stable version serves",
                "webapp-overview",
                severity="warning",
                namespace=NS,
                name="api",
                phase="Abort",
            )
        ],
    ),
    (
        "15m",
        "WebappHighErrorRate",
        [
            _expected(
                "api answers more than 5% of requests with 5xx",
                "webapp-overview",
                severity="critical",
                namespace=NS,
                service="api",
            )
        ],
    ),
    (
        "6m",
        "WebappPodRestarts",
        [
            _expected(
                "api-1 restarted more than 3 times in an hour",
                "webapp-infrastructure",
                severity="warning",
                namespace=NS,
                pod="api-1",
                container="api",
            )
        ],
    ),
    (
        "35m",
        "WebappSecretSyncFailing",
        [
            _expected(
                "ExternalSecret webapp-redis fails to sync from the store",
                "webapp-security",
                severity="warning",
                namespace=NS,
                name="webapp-redis",
            )
        ],
    ),
    (
        "2m",
        "WebappRolloutStarted",
        [
            _expected(
                f"{name} is rolling out a new version",
                "webapp-overview",
                severity="info",
                namespace=NS,
                deployment=name,
            )
            for name in ("frontend", "websocket")
        ],
    ),
    (
        "5m",
        "WebappRolloutFinished",
        [
            _expected(
                f"{name} finished rolling out",
                "webapp-overview",
                severity="info",
                namespace=NS,
                deployment=name,
            )
            for name in ("auth", "frontend")
        ],
    ),
    (
        "20m",
        "WebappHighCpu",
        [
            _expected(
                "ws-1 uses more than 80% of its CPU limit",
                "webapp-infrastructure",
                severity="warning",
                namespace=NS,
                pod="ws-1",
            )
        ],
    ),
    (
        "5m",
        "WebappScaled",
        [
            _expected(
                "api changed its desired replicas",
                "webapp-infrastructure",
                severity="info",
                namespace=NS,
                horizontalpodautoscaler="api",
            )
        ],
    ),
    (
        "3m",
        "WebappSecretRotated",
        [
            _expected(
                "Secret webapp-redis changed (a rotation reached the cluster)",
                "webapp-security",
                severity="info",
                namespace=NS,
                secret="webapp-redis",
            )
        ],
    ),
    # Quiet once nothing changes: the HPA has kept its replicas for the last 10 minutes.
    ("30m", "WebappScaled", []),
]


def test_promtool_accepts_every_rule_and_each_links_its_dashboard(
    stack_run: Callable[..., StackRun], tmp_path: Path
) -> None:
    run = stack_run("production")
    groups = run.find("PrometheusRule", "webapp-alerts")["spec"]["groups"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    result = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "13 rules found" in result.stdout
    uids = {board["uid"] for board in dashboards_of(run).values()}
    tiers = {rule["labels"]["severity"] for rule in rules_of(run)}
    assert tiers == set(SEVERITIES)
    for rule in rules_of(run):
        link = rule["annotations"]["dashboard_url"]
        assert link.split("?")[0].removeprefix(f"{GRAFANA}/d/") in uids, rule["alert"]


README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("stack", STACKS)
def test_every_alert_links_an_absolute_dashboard_and_a_runbook_that_exists(
    stack: str, stack_run: Callable[..., StackRun]
) -> None:
    run = stack_run(stack, variant_overrides(stack, "monitoring-flipped"))
    if not any(o["kind"] == "PrometheusRule" for o in run.kubernetes_objects()):
        run = stack_run(stack)
    sections = readme_sections(README)
    rules = rules_of(run)
    # Production has all 13 but the backup pair (RDS backs itself up); staging no ExternalSecrets
    # (the CSI driver delivers its Secrets) and no backup pair (Flexible Server); dev neither
    # ExternalSecrets nor Rollouts, and the in-cluster database's two backup alerts.
    assert len(rules) == {"production": 13, "staging": 12, "dev": 13}[stack]
    for rule in rules:
        annotations = rule["annotations"]
        assert "dashboard" not in annotations, "the relative link is gone"
        for key in ("dashboard_url", "runbook_url"):
            url = urlsplit(annotations[key])
            assert url.scheme == "https" and url.hostname, (rule["alert"], key, annotations[key])
        runbook, _, anchor = annotations["runbook_url"].partition("#")
        assert runbook.endswith("/README.md"), runbook
        assert sections.get(anchor) == "Runbooks", f"{rule['alert']}: no runbook #{anchor}"


def test_alerts_of_every_tier_fire_on_their_conditions(
    stack_run: Callable[..., StackRun], tmp_path: Path
) -> None:
    groups = stack_run("production").find("PrometheusRule", "webapp-alerts")["spec"]["groups"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": ALERT_SERIES,
                "alert_rule_test": [
                    {
                        "eval_time": at,
                        "alertname": name,
                        "exp_alerts": [_with_runbook(name, alert) for alert in expected],
                    }
                    for at, name, expected in ALERT_CASES
                ],
            }
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests))
    fired = {name for _, name, expected in ALERT_CASES if expected}
    severities = {
        rule["labels"]["severity"]
        for rule in rules_of(stack_run("production"))
        if rule["alert"] in fired
    }
    assert severities == set(SEVERITIES)
    result = promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def _backup_test(
    series: list[tuple[str, str]], cases: list[tuple[str, str, bool]]
) -> dict[str, Any]:
    """A promtool test of the backup alerts over kube-state-metrics' CronJob series (v2.17.0
    `internal/store/cronjob.go`: `namespace` and `cronjob` labels, Unix-time values; the last
    schedule and last success series exist only once set). promtool's clock starts at 0."""
    cronjob = {"cronjob": "postgres-backup"}
    summaries = {
        "WebappBackupFailed": "the latest backup of postgres-backup did not succeed",
        "WebappBackupMissing": "postgres-backup missed its scheduled backup",
    }
    return {
        "interval": "1m",
        "input_series": [
            published(KUBE_STATE_METRICS, name, {"namespace": NS}, values, **cronjob)
            for name, values in series
        ],
        "alert_rule_test": [
            {
                "eval_time": at,
                "alertname": name,
                "exp_alerts": [
                    _with_runbook(
                        name,
                        _expected(
                            summaries[name],
                            "webapp-infrastructure",
                            severity="warning",
                            namespace=NS,
                            cronjob="postgres-backup",
                        ),
                    )
                ]
                if fires
                else [],
            }
            for at, name, fires in cases
        ],
    }


def test_backup_alerts_fire_on_a_failed_a_missed_and_a_never_successful_backup(
    stack_run: Callable[..., StackRun], tmp_path: Path
) -> None:
    # Production with the in-cluster database (RDS backs itself up: no backup alerts there).
    groups = stack_run("production", IN_CLUSTER).find("PrometheusRule", "webapp-alerts")["spec"][
        "groups"
    ]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    failed_then_fixed = _backup_test(
        [
            # Scheduled at 10m (600 s); the previous success at 0; a manual run succeeds at 90m.
            ("kube_cronjob_status_last_schedule_time", "600x120"),
            ("kube_cronjob_status_last_successful_time", "0x89 5400x30"),
            # The controller scheduled it: the next run is a day later.
            ("kube_cronjob_next_schedule_time", "87000x120"),
        ],
        [
            ("40m", "WebappBackupFailed", False),  # still within its hour
            ("80m", "WebappBackupFailed", True),
            ("100m", "WebappBackupFailed", False),  # the manual run succeeded
            ("80m", "WebappBackupMissing", False),
        ],
    )
    never = _backup_test(
        [
            ("kube_cronjob_status_last_schedule_time", "600x120"),
            ("kube_cronjob_next_schedule_time", "87000x120"),
        ],
        [("80m", "WebappBackupFailed", True)],
    )
    missed = _backup_test(
        # Never scheduled: the next run, due at 10m, stays in the past.
        [("kube_cronjob_next_schedule_time", "600x120")],
        [
            ("40m", "WebappBackupMissing", False),
            ("80m", "WebappBackupMissing", True),
            ("80m", "WebappBackupFailed", False),
        ],
    )
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [failed_then_fixed, never, missed],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests))
    result = promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# ----------------------------------------------------------------------------------------------
# Dashboards
# ----------------------------------------------------------------------------------------------


def _auth_cluster() -> str:
    return route_clusters(NS, routes())["auth"]


def exporter_series() -> list[dict[str, str]]:
    """One series per metric the dashboards read, as its exporter publishes it
    (`tests.platform.exporters`), with the target labels Prometheus adds (namespace, pod,
    service)."""
    api = _app("api", "api-1")
    nats = {"namespace": NS, "service": "nats", "pod": "nats-0"}
    postgres = {"namespace": NS, "service": "postgres", "pod": "postgres-0"}
    broadcaster = _app("broadcaster", "broadcaster-1")
    gateway = {
        "namespace": "envoy-gateway-system",
        "pod": "envoy-webapp-1",
        "gateway_envoyproxy_io_owning_gateway_namespace": NS,
    }
    pod = {"namespace": NS, "pod": "api-1", "container": "api"}
    claims = {"namespace": NS, "persistentvolumeclaim": "data-nats-0"}
    prometheus_claims = {"namespace": "monitoring", "persistentvolumeclaim": "prometheus-db-0"}
    dotnet, pg, nats_exporter = ex.DOTNET_RUNTIME, ex.POSTGRES_EXPORTER, ex.NATS_EXPORTER
    mesh = [
        published(ex.ISTIO, name, _app(service, f"{service}-1"), "0+100x20", **labels)
        for service in ("frontend", "websocket", "auth")
        for name, labels in (
            ("istio_requests_total", {"reporter": "destination", "response_code": "200"}),
            ("istio_requests_total", {"reporter": "destination", "response_code": "503"}),
            (
                "istio_request_duration_milliseconds_bucket",
                {"reporter": "destination", "le": "250"},
            ),
            (
                "istio_request_duration_milliseconds_bucket",
                {"reporter": "destination", "le": "+Inf"},
            ),
        )
    ]
    return [
        # The api's own requests (the contract's prometheus-net preset); the other services'
        # from their sidecars (production is in the mesh).
        published(PROMETHEUS_NET, "http_requests_received_total", api, "0+100x20", code="200"),
        published(PROMETHEUS_NET, "http_requests_received_total", api, "0+1x20", code="503"),
        published(PROMETHEUS_NET, "http_request_duration_seconds_bucket", api, "0+90x20", le="0.5"),
        published(
            PROMETHEUS_NET, "http_request_duration_seconds_bucket", api, "0+100x20", le="+Inf"
        ),
        *mesh,
        # kube-state-metrics and Argo Rollouts' controller.
        _ksm("kube_deployment_status_replicas_available", "2x20", deployment="websocket"),
        _rollouts("rollout_info_replicas_available", "2x20", name="api"),
        *(
            _ksm(
                f"kube_pod_{kind}_resource_{which}",
                value,
                pod="api-1",
                container=container,
                resource=resource,
            )
            for kind, container in (("container", "api"), ("init_container", "istio-proxy"))
            for which in ("requests", "limits")
            for resource, value in (("cpu", "0.1x20"), ("memory", "1e8x20"))
        ),
        _ksm(
            "kube_pod_init_container_info",
            "1x20",
            pod="api-1",
            container="istio-proxy",
            restart_policy="Always",
        ),
        _ksm("kube_pod_container_status_restarts_total", "0x20", pod="api-1", container="api"),
        _ksm(
            "kube_horizontalpodautoscaler_status_current_replicas",
            "3x20",
            horizontalpodautoscaler="api",
        ),
        _ksm(
            "kube_horizontalpodautoscaler_status_desired_replicas",
            "3x20",
            horizontalpodautoscaler="api",
        ),
        # cAdvisor and the kubelet.
        published(ex.CADVISOR, "container_cpu_usage_seconds_total", pod, "0+6x20"),
        published(ex.CADVISOR, "container_memory_working_set_bytes", pod, "2e8x20"),
        published(ex.CADVISOR, "container_cpu_cfs_throttled_periods_total", pod, "0+1x20"),
        published(ex.CADVISOR, "container_cpu_cfs_periods_total", pod, "0+10x20"),
        published(ex.KUBELET, "kubelet_volume_stats_used_bytes", claims, "1e9x20"),
        published(ex.KUBELET, "kubelet_volume_stats_capacity_bytes", claims, "1e10x20"),
        published(
            ex.KUBELET,
            "kubelet_volume_stats_capacity_bytes",
            {**claims, "persistentvolumeclaim": "data-postgres-0"},
            "1e10x20",
        ),
        published(ex.KUBELET, "kubelet_volume_stats_used_bytes", prometheus_claims, "1e9x20"),
        published(ex.KUBELET, "kubelet_volume_stats_capacity_bytes", prometheus_claims, "5e10x20"),
        # prometheus-net.DotNetRuntime and prometheus-net in the api.
        published(dotnet, "dotnet_gc_collection_count_total", api, "0+3x20", gc_generation="0"),
        published(dotnet, "dotnet_gc_pause_ratio", api, "0.01x20"),
        published(dotnet, "dotnet_gc_heap_size_bytes", api, "1e7x20", gc_generation="0"),
        published(dotnet, "process_working_set_bytes", api, "3e8x20"),
        published(dotnet, "dotnet_threadpool_queue_length_bucket", api, "0+5x20", le="10"),
        published(dotnet, "dotnet_threadpool_queue_length_bucket", api, "0+6x20", le="+Inf"),
        published(dotnet, "dotnet_threadpool_num_threads", api, "12x20"),
        published(dotnet, "dotnet_exceptions_total", api, "0+2x20"),
        # Envoy, through the proxies' PodMonitor.
        published(
            ex.ENVOY,
            "envoy_cluster_upstream_rq",
            gateway,
            "0+4x20",
            envoy_cluster_name=_auth_cluster(),
            envoy_response_code="401",
        ),
        published(ex.ENVOY, "envoy_http_local_rate_limit_rate_limited", gateway, "0+2x20"),
        # cert-manager and External Secrets (honorLabels: the object's namespace).
        published(
            ex.CERT_MANAGER,
            "certmanager_certificate_expiration_timestamp_seconds",
            KSM,
            "2e9x20",
            name="webapp-tls",
        ),
        published(
            ex.EXTERNAL_SECRETS,
            "externalsecret_sync_calls_error",
            KSM,
            "0+1x20",
            name="webapp-redis",
        ),
        published(
            ex.EXTERNAL_SECRETS,
            "externalsecret_status_condition",
            KSM,
            "1x20",
            name="webapp-redis",
            condition="Ready",
            status="False",
        ),
        # postgres_exporter beside the in-cluster database.
        published(
            pg, "pg_stat_database_numbackends", postgres, "7x20", datname="webapp", datid="1"
        ),
        published(pg, "pg_settings_max_connections", postgres, "100x20"),
        published(pg, "pg_stat_database_xact_commit", postgres, "0+50x20", datname="webapp"),
        published(pg, "pg_stat_database_xact_rollback", postgres, "0+1x20", datname="webapp"),
        published(
            pg,
            "pg_stat_activity_max_tx_duration",
            postgres,
            "0.2x20",
            datname="webapp",
            state="active",
        ),
        published(pg, "pg_replication_lag_seconds", postgres, "0x20"),
        published(pg, "pg_database_size_bytes", postgres, "5e8x20", datname="webapp"),
        # prometheus-nats-exporter (-varz, -connz; no -jsz: JetStream is off) and the broadcaster.
        *(
            published(nats_exporter, name, nats, values, server_id="NABC")
            for name, values in (
                ("gnatsd_varz_connections", "4x20"),
                ("gnatsd_varz_in_msgs", "0+30x20"),
                ("gnatsd_varz_out_msgs", "0+30x20"),
                ("gnatsd_connz_in_msgs", "0+20x20"),
                ("gnatsd_varz_slow_consumers", "0x20"),
            )
        ),
        published(ex.BROADCASTER, "broadcaster_messages_processed_total", broadcaster, "0+30x20"),
        published(
            ex.BROADCASTER,
            "broadcaster_webhook_requests_total",
            broadcaster,
            "0+29x20",
            status="200",
        ),
        published(
            ex.BROADCASTER,
            "broadcaster_webhook_requests_total",
            broadcaster,
            "0+1x20",
            status="500",
        ),
        published(ex.BROADCASTER, "broadcaster_nats_connected", broadcaster, "1x20"),
    ]


def _concrete(expr: str) -> str:
    """A dashboard query as Grafana sends it, for the stack's namespace."""
    return expr.replace("$namespace", NS).replace("$__rate_interval", "5m")


def all_queries(stack_run: Callable[..., StackRun]) -> list[tuple[str, str, str]]:
    """(dashboard, panel, expr) of every Prometheus query of production's dashboards, and of the
    in-cluster database's (the Database dashboard differs)."""
    found: dict[str, tuple[str, str, str]] = {}
    for run in (stack_run("production"), stack_run("production", IN_CLUSTER)):
        for name, board in dashboards_of(run).items():
            for title, expr in prometheus_queries(board):
                found.setdefault(expr, (name, title, expr))
    return list(found.values())


def test_every_dashboard_query_parses(stack_run: Callable[..., StackRun], tmp_path: Path) -> None:
    queries = all_queries(stack_run)
    rules = [
        {"record": f"dashboard:query{index}", "expr": _concrete(expr)}
        for index, (_, _, expr) in enumerate(queries)
    ]
    (tmp_path / "queries.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]})
    )
    result = promtool("check", "rules", "queries.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(queries) >= 40


def test_every_dashboard_query_returns_data_for_the_exporters_metrics(
    stack_run: Callable[..., StackRun], tmp_path: Path
) -> None:
    queries = all_queries(stack_run)
    (tmp_path / "none.yaml").write_text(yaml.safe_dump({"groups": []}))
    tests = {
        "rule_files": ["none.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": exporter_series(),
                "promql_expr_test": [
                    {
                        "expr": f"count({_concrete(expr)}) > bool 0",
                        "eval_time": "15m",
                        "exp_samples": [{"labels": "{}", "value": 1}],
                    }
                    for _, _, expr in queries
                ],
            }
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests))
    result = promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_a_renamed_metric_is_caught(tmp_path: Path) -> None:
    """The check is real: the same test with one exporter metric renamed fails."""
    renamed = [
        {**series, "series": series["series"].replace("gnatsd_varz_slow_consumers", "slow")}
        for series in exporter_series()
    ]
    (tmp_path / "none.yaml").write_text(yaml.safe_dump({"groups": []}))
    expr = _concrete(f'sum by (pod) (gnatsd_varz_slow_consumers{{namespace="{NS}"}})')
    tests = {
        "rule_files": ["none.yaml"],
        "tests": [
            {
                "interval": "1m",
                "input_series": renamed,
                "promql_expr_test": [
                    {
                        "expr": f"count({expr}) > bool 0",
                        "eval_time": "15m",
                        "exp_samples": [{"labels": "{}", "value": 1}],
                    }
                ],
            }
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests))
    assert promtool("test", "rules", "tests.yaml", cwd=tmp_path).returncode != 0


GRAFANA_SCHEMA_VERSION = 41
"""What the pinned SDK build for Grafana 12 writes (the chart's Grafana is 12.3.0, which migrates
older schema versions forward and reads this one as is)."""
PANEL_TYPES = {"row", "timeseries", "stat"}


@pytest.mark.parametrize(
    "stack, overrides", [("production", None), ("production", IN_CLUSTER), ("staging", None)]
)
def test_dashboards_are_valid_grafana_json_with_stable_ids(
    stack: str, overrides: Any, stack_run: Callable[..., StackRun]
) -> None:
    run = stack_run(stack, overrides)
    namespace = run.find("Namespace", f"webapp-{stack}")["metadata"]["name"]
    boards = dashboards_of(run)
    assert sorted(boards) == sorted(f"{module.UID}.json" for module in dashboards.MODULES)
    for name, board in boards.items():
        assert name == f"{board['uid']}.json" and len(board["uid"]) <= 40
        assert board["schemaVersion"] == GRAFANA_SCHEMA_VERSION and board["editable"] is False
        variables = {variable["name"]: variable for variable in board["templating"]["list"]}
        assert variables["datasource"]["query"] == "prometheus"
        assert variables["namespace"]["current"]["value"] == namespace
        ids = [panel["id"] for panel in board["panels"]]
        assert ids == list(range(1, len(ids) + 1)), name
        for panel in board["panels"]:
            assert panel["type"] in PANEL_TYPES, (name, panel["type"])
            for target in panel.get("targets") or []:
                assert target["refId"] and target["datasource"]["uid"].startswith("${")
                if target["datasource"]["type"] == "prometheus":
                    assert "$namespace" in target["expr"] or "monitoring" in target["expr"]
        # The SDK's own model reads it back unchanged: no field Grafana's schema lacks.
        again = json.loads(JSONEncoder(sort_keys=True).encode(Dashboard.from_json(board)))
        assert again == board, name


def test_the_database_dashboard_follows_the_database(stack_run: Callable[..., StackRun]) -> None:
    """postgres_exporter's panels in-cluster; the platform's own metrics for RDS (CloudWatch)
    and the Flexible Server (Azure Monitor), on the stack's instance."""
    kinds = {}
    for label, run in (
        ("in-cluster", stack_run("production", IN_CLUSTER)),
        ("rds", stack_run("production")),
        ("flexible", stack_run("staging")),
    ):
        board = dashboards_of(run)["webapp-database.json"]
        kinds[label] = {
            target["datasource"]["type"]
            for panel in board["panels"]
            for target in panel.get("targets") or []
        }
        if label == "rds":
            dimensions = {
                target["dimensions"]["DBInstanceIdentifier"]
                for panel in board["panels"]
                for target in panel.get("targets") or []
            }
            assert dimensions == {"webapp-production"}
    assert kinds == {
        "in-cluster": {"prometheus"},
        "rds": {"cloudwatch"},
        "flexible": {"grafana-azure-monitor-datasource"},
    }


def test_the_gateway_and_add_ons_are_scraped_where_this_program_runs_them(
    stack_run: Callable[..., StackRun],
) -> None:
    def monitors(run: StackRun) -> dict[str, dict[str, Any]]:
        return {
            obj["metadata"]["name"]: obj
            for obj in run.kubernetes_objects()
            if obj["kind"] == "PodMonitor"
        }

    production = monitors(stack_run("production"))
    assert set(production) == {
        "webapp-envoy-webapp-production",
        "webapp-cert-manager",
        "webapp-external-secrets",
        "webapp-argo-rollouts",  # its Rollouts' metrics (WebappServiceDown, WebappReleaseAborted)
        # The application's own metrics, one target per pod (canary pods too), and in the mesh
        # every sidecar's statistics (the analysis' request counts).
        "api",
        "broadcaster",
        "istio-proxies",
    }
    sidecars = production["istio-proxies"]["spec"]
    assert sidecars["selector"] == {"matchLabels": {"security.istio.io/tlsMode": "istio"}}
    assert sidecars["podMetricsEndpoints"][0]["port"] == "http-envoy-prom"
    envoy = production["webapp-envoy-webapp-production"]["spec"]
    assert envoy["podMetricsEndpoints"][0]["path"] == "/stats/prometheus"
    assert envoy["selector"]["matchLabels"]["gateway.envoyproxy.io/owning-gateway-namespace"] == NS
    assert production["webapp-external-secrets"]["spec"]["podMetricsEndpoints"][0]["honorLabels"]
    assert production["webapp-argo-rollouts"]["spec"]["podMetricsEndpoints"][0]["honorLabels"]
    assert "webapp-external-secrets" not in monitors(stack_run("staging"))  # CSI delivery
    assert not monitors(stack_run("dev"))  # monitoring off
    assert "istio-proxies" not in monitors(stack_run("staging"))  # no mesh


# ----------------------------------------------------------------------------------------------
# Alert routing
# ----------------------------------------------------------------------------------------------


def _routing(run: StackRun) -> dict[str, Any]:
    spec: dict[str, Any] = run.find("AlertmanagerConfig", "webapp-alerts")["spec"]
    return spec


def test_each_severity_goes_to_its_receiver_with_its_endpoint_from_the_store(
    stack_run: Callable[..., StackRun],
) -> None:
    spec = _routing(stack_run("production"))
    routes = {route["matchers"][0]["value"]: route["receiver"] for route in spec["route"]["routes"]}
    assert routes == {"critical": "critical", "warning": "warning", "info": "info"}
    assert spec["route"]["receiver"] == "discard"  # anything without a severity goes nowhere
    receivers = {receiver["name"]: receiver for receiver in spec["receivers"]}
    assert receivers["discard"] == {"name": "discard"}
    page = receivers["critical"]["pagerdutyConfigs"][0]
    assert page["routingKey"] == {"name": "webapp-alerting", "key": "critical"}
    for severity in ("warning", "info"):
        (slack,) = receivers[severity]["slackConfigs"]
        assert slack["apiURL"] == {"name": "webapp-alerting", "key": severity}
        assert "Annotations.dashboard_url" in slack["text"] and slack["sendResolved"]
        assert "Annotations.runbook_url" in slack["text"]
    # The Secret is the store's (an ExternalSecret from Secrets Manager), written by operators.
    secret = stack_run("production").find("ExternalSecret", "webapp-alerting")
    assert {item["secretKey"] for item in secret["spec"]["data"]} == set(SEVERITIES)


def test_staging_routes_what_it_names_and_keeps_the_endpoints_synced_with_the_csi_driver(
    stack_run: Callable[..., StackRun],
) -> None:
    run = stack_run("staging")
    spec = _routing(run)
    assert [route["receiver"] for route in spec["route"]["routes"]] == ["critical", "warning"]
    sync = run.find("Deployment", "secret-sync")["spec"]["template"]["spec"]
    classes = [volume["csi"]["volumeAttributes"] for volume in sync["volumes"]]
    assert classes == [{"secretProviderClass": "webapp-alerting"}]
    probe = sync["containers"][0]["readinessProbe"]["exec"]["command"][-1]
    assert "/mnt/secrets-store/webapp-alerting" in probe
    assert run.find("SecretProviderClass", "webapp-alerting")


def test_no_routing_without_receivers(stack_run: Callable[..., StackRun]) -> None:
    for run in (
        stack_run("dev"),
        stack_run("production", variant_overrides("production", "monitoring-flipped")),
    ):
        kinds = {obj["kind"] for obj in run.kubernetes_objects()}
        assert "AlertmanagerConfig" not in kinds
        assert not any(
            obj["kind"] == "Deployment" and obj["metadata"]["name"] == "secret-sync"
            for obj in run.kubernetes_objects()
        )
