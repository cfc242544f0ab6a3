"""The application's alert rules, in the three tiers of seed 000, scoped to one namespace.

Pure module. Every alert carries `severity` (critical, warning, info: Alertmanager routes on it,
`platform.monitoring`) and two absolute links under the conventional annotation names
(`runbook_url` is the one kube-prometheus-stack's own rules carry): `dashboard_url`, the Grafana
dashboard that explains it on the alert's namespace (`monitoring.grafanaUrl`), and
`runbook_url`, the README's runbook section named after the alert (`monitoring.runbookUrl` +
`#<alert name, lowercased>`).

- critical (page): a service has no available replica, answers > 5 % 5xx, p95 latency > 1 s
- warning (today): CPU or memory > 80 % of the limit, restarts, a certificate expiring in
  < 14 days, an ExternalSecret failing to sync, a release aborted, a database backup failed or
  missed
- info (for the record): a release (a Deployment's or a Rollout's) started or finished, an HPA
  scaled, a Secret's value changed (a rotation reaching the cluster)

A rule on series a stack cannot have is left out there: the request alerts where nobody counts
any service's requests, the aborted release without Rollouts, the sync failure without External
Secrets, the backup alerts without the in-cluster database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .dashboards import infrastructure, overview, security
from .dashboards.panels import DashboardContext, available_replicas, pod_resource
from .dashboards.requests import RequestSignal, error_ratio, p95_seconds, tag, union

SEVERITIES = ("critical", "warning", "info")
BACKUP_SCHEDULED = 'kube_cronjob_status_last_schedule_time{{{ns}, cronjob="postgres-backup"}}'
BACKUP_SUCCEEDED = 'kube_cronjob_status_last_successful_time{{{ns}, cronjob="postgres-backup"}}'
Measure = Callable[[RequestSignal, str, str], str]
"""A per-service query of `dashboards.requests` (signal, namespace, window)."""


@dataclass(frozen=True, kw_only=True)
class AlertLinks:
    """Where an alert's links point: both absolute, so they work from Slack, PagerDuty or a
    mail client, not only from inside Grafana or Alertmanager."""

    grafana_url: str
    """Grafana's external root URL, without a trailing slash (`monitoring.grafanaUrl`)."""
    runbook_url: str
    """The README.md holding a `Runbooks` section per alert (`monitoring.runbookUrl`)."""

    def dashboard(self, uid: str) -> str:
        """The dashboard `uid` on the alert's namespace (Prometheus fills in the template)."""
        return f"{self.grafana_url}/d/{uid}?var-namespace={{{{ $labels.namespace }}}}"

    def runbook(self, alert: str) -> str:
        """The alert's runbook: the README heading that is the alert's name (GitHub's anchor for
        a heading of letters and digits is the heading lowercased)."""
        return f"{self.runbook_url}#{alert.lower()}"


@dataclass(frozen=True)
class Alert:
    """One alerting rule, before its links are known."""

    name: str
    expr: str
    duration: str
    severity: str
    summary: str
    dashboard: str
    """The uid of the dashboard that explains it."""

    def rule(self, links: AlertLinks) -> dict[str, Any]:
        """The PrometheusRule entry, with absolute dashboard and runbook links."""
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.duration,
            "labels": {"severity": self.severity},
            "annotations": {
                "summary": self.summary,
                "description": self.summary + " (namespace {{ $labels.namespace }})",
                "dashboard_url": links.dashboard(self.dashboard),
                "runbook_url": links.runbook(self.name),
            },
        }


def _per_service(context: DashboardContext, namespace: str, build: Measure) -> str:
    """One query of every counted service, each labelled `namespace` and `service` (the edge's
    series carry neither: `dashboards.requests`)."""
    return union(
        [
            tag(build(signal, namespace, "5m"), service=signal.service, namespace=namespace)
            for signal in context.requests
        ]
    )


def critical_rules(namespace: str, context: DashboardContext) -> list[Alert]:
    """Page someone: a service is down, failing or slow."""
    found = [
        # From kube-state-metrics and Argo Rollouts' controller, so it fires for services that
        # expose no metrics of their own too (`dashboards.panels.available_replicas`).
        Alert(
            "WebappServiceDown",
            f"({available_replicas(namespace, context)}) == 0",
            "2m",
            "critical",
            "{{ $labels.deployment }} has no available replica",
            overview.UID,
        )
    ]
    if not context.requests:
        return found  # nobody counts any service's requests (`dashboards.requests`)
    return found + [
        # Each service's requests where they are counted: its own metrics (the metrics
        # contract), its sidecars, or the Gateway's route (`dashboards.requests`).
        Alert(
            "WebappHighErrorRate",
            f"({_per_service(context, namespace, error_ratio)}) > 0.05",
            "5m",
            "critical",
            "{{ $labels.service }} answers more than 5% of requests with 5xx",
            overview.UID,
        ),
        Alert(
            "WebappHighLatency",
            f"({_per_service(context, namespace, p95_seconds)}) > 1",
            "10m",
            "critical",
            "{{ $labels.service }} p95 latency is above 1 s",
            overview.UID,
        ),
    ]


def warning_rules(namespace: str, context: DashboardContext) -> list[Alert]:
    """Look at it today: saturation, restarts, a certificate about to expire, a stuck secret."""
    ns = f'namespace="{namespace}"'
    native = context.native_sidecars
    found = [
        Alert(
            "WebappHighCpu",
            "sum by (namespace, pod) "
            f'(rate(container_cpu_usage_seconds_total{{{ns}, container!=""}}[5m])) / '
            f"{pod_resource('limits', ns, 'cpu', native)} > 0.8",
            "15m",
            "warning",
            "{{ $labels.pod }} uses more than 80% of its CPU limit",
            infrastructure.UID,
        ),
        Alert(
            "WebappHighMemory",
            f'sum by (namespace, pod) (container_memory_working_set_bytes{{{ns}, container!=""}}) '
            f"/ {pod_resource('limits', ns, 'memory', native)} > 0.8",
            "15m",
            "warning",
            "{{ $labels.pod }} uses more than 80% of its memory limit",
            infrastructure.UID,
        ),
        Alert(
            "WebappPodRestarts",
            f"increase(kube_pod_container_status_restarts_total{{{ns}}}[1h]) > 3",
            "0m",
            "warning",
            "{{ $labels.pod }} restarted more than 3 times in an hour",
            infrastructure.UID,
        ),
        Alert(
            "WebappCertificateExpiry",
            f"certmanager_certificate_expiration_timestamp_seconds{{{ns}}} - time() "
            "< 14 * 24 * 3600",
            "1h",
            "warning",
            "certificate {{ $labels.name }} expires in less than 14 days",
            security.UID,
        ),
    ]
    if context.rollouts:
        # Argo Rollouts aborted a release (a failed analysis, a progress deadline): the stable
        # version serves again, and the new one needs a look (README "How a canary proceeds").
        found.insert(
            0,
            Alert(
                "WebappReleaseAborted",
                "max by (namespace, name, phase) "
                f'(rollout_info{{{ns}, phase=~"Abort|Timeout|Error"}}) == 1',
                "1m",
                "warning",
                "{{ $labels.name }}'s release stopped ({{ $labels.phase }}); the stable version "
                "serves",
                overview.UID,
            ),
        )
    if context.database == "in-cluster":
        # The backup CronJob exists only with the in-cluster database.
        found.extend(backup_rules(ns))
    if context.external_secrets:
        # Only where External Secrets delivers the Secrets (its controller's series).
        found.append(
            Alert(
                "WebappSecretSyncFailing",
                "sum by (namespace, name) "
                f"(increase(externalsecret_sync_calls_error{{{ns}}}[15m])) > 0",
                "15m",
                "warning",
                "ExternalSecret {{ $labels.name }} fails to sync from the store",
                security.UID,
            )
        )
    return found


def backup_rules(ns: str) -> list[Alert]:
    """The in-cluster database's backup CronJob (quiet where there is none), from
    kube-state-metrics' CronJob series (v2.17.0 `internal/store/cronjob.go`: the last schedule and
    last success times exist once set; the next schedule time is computed from the last
    schedule). `ns` is the namespace matcher."""
    scheduled, succeeded = BACKUP_SCHEDULED.format(ns=ns), BACKUP_SUCCEEDED.format(ns=ns)
    return [
        # The latest scheduled run has not succeeded within the Job's hour
        # (`activeDeadlineSeconds`), or none ever did (README "Restoring PostgreSQL").
        Alert(
            "WebappBackupFailed",
            f"(max by (namespace, cronjob) ({scheduled}) > max by (namespace, cronjob) "
            f"({succeeded}) or max by (namespace, cronjob) ({scheduled}) unless on (namespace, "
            f"cronjob) {succeeded}) and on (namespace, cronjob) (time() - max by (namespace, "
            f"cronjob) ({scheduled}) > 3600)",
            "5m",
            "warning",
            "the latest backup of {{ $labels.cronjob }} did not succeed",
            infrastructure.UID,
        ),
        # A run that should have started more than an hour ago did not (past its
        # startingDeadlineSeconds the controller skips it): the schedule is not being kept.
        Alert(
            "WebappBackupMissing",
            "time() - max by (namespace, cronjob) (kube_cronjob_next_schedule_time"
            f'{{{ns}, cronjob="postgres-backup"}}) > 3600',
            "5m",
            "warning",
            "{{ $labels.cronjob }} missed its scheduled backup",
            infrastructure.UID,
        ),
    ]


def _release_started(ns: str, context: DashboardContext) -> str:
    """A Deployment with a new spec not fully rolled out, or a Rollout progressing (or paused
    between steps): `rollout_info` carries only the current phase (argo-rollouts v1.9.0
    `controller/metrics/rollouts.go`)."""
    deployments = (
        f"max by (namespace, deployment) (kube_deployment_spec_replicas{{{ns}}}) > "
        f"max by (namespace, deployment) (kube_deployment_status_replicas_updated{{{ns}}})"
    )
    if not context.rollouts:
        return deployments
    rollouts = (
        f"max by (namespace, deployment) (label_replace(rollout_info{{{ns}, "
        f'phase=~"Progressing|Paused"}}, "deployment", "$1", "name", "(.*)")) == 1'
    )
    return f"({deployments}) or ({rollouts})"


def _release_finished(ns: str, context: DashboardContext) -> str:
    """A Deployment whose generation changed and is fully rolled out, or a Rollout completed
    that was progressing in the last 10 minutes."""
    deployments = (
        "max by (namespace, deployment) (changes("
        f"kube_deployment_status_observed_generation{{{ns}}}[10m])) > 0 and on "
        "(namespace, deployment) max by (namespace, deployment) (kube_deployment_spec_replicas"
        f"{{{ns}}}) == max by (namespace, deployment) ("
        f"kube_deployment_status_replicas_updated{{{ns}}})"
    )
    if not context.rollouts:
        return deployments
    completed = f'rollout_info{{{ns}, phase="Completed"}}'
    progressed = f'max_over_time(rollout_info{{{ns}, phase=~"Progressing|Paused"}}[10m])'
    rollouts = (
        f'max by (namespace, deployment) (label_replace({completed}, "deployment", "$1", '
        '"name", "(.*)")) and on (namespace, deployment) max by (namespace, deployment) '
        f'(label_replace({progressed}, "deployment", "$1", "name", "(.*)"))'
    )
    return f"({deployments}) or ({rollouts})"


def info_rules(namespace: str, context: DashboardContext) -> list[Alert]:
    """For the record (routed to a channel, never a page): releases, scaling, rotations."""
    ns = f'namespace="{namespace}"'
    return [
        # A new spec (image, config checksum, a Reloader restart) that the controller has not
        # finished rolling out yet; a Rollout's release, step by step.
        Alert(
            "WebappRolloutStarted",
            _release_started(ns, context),
            "0m",
            "info",
            "{{ $labels.deployment }} is rolling out a new version",
            overview.UID,
        ),
        Alert(
            "WebappRolloutFinished",
            _release_finished(ns, context),
            "0m",
            "info",
            "{{ $labels.deployment }} finished rolling out",
            overview.UID,
        ),
        Alert(
            "WebappScaled",
            "max by (namespace, horizontalpodautoscaler) (changes("
            f"kube_horizontalpodautoscaler_status_desired_replicas{{{ns}}}[10m])) > 0",
            "0m",
            "info",
            "{{ $labels.horizontalpodautoscaler }} changed its desired replicas",
            infrastructure.UID,
        ),
        # Every delivery path (ExternalSecrets, the CSI driver's sync, the program itself)
        # ends in the Kubernetes Secret, whose resourceVersion kube-state-metrics reports.
        Alert(
            "WebappSecretRotated",
            "max by (namespace, secret) (changes("
            f'kube_secret_metadata_resource_version{{{ns}, secret=~"webapp-.*"}}[10m])) > 0',
            "0m",
            "info",
            "Secret {{ $labels.secret }} changed (a rotation reached the cluster)",
            security.UID,
        ),
    ]


def alert_rules(
    namespace: str, context: DashboardContext, links: AlertLinks
) -> list[dict[str, Any]]:
    """The seed 000 alerting rules, one group per tier, each alert linking its dashboard and
    runbook."""
    tiers = {
        "critical": critical_rules(namespace, context),
        "warning": warning_rules(namespace, context),
        "info": info_rules(namespace, context),
    }
    return [
        {"name": f"webapp.{tier}", "rules": [alert.rule(links) for alert in alerts]}
        for tier, alerts in tiers.items()
    ]
