"""The application's alert rules, in the three tiers of seed 000, scoped to one namespace.

Pure module. Every alert carries `severity` (critical, warning, info: Alertmanager routes on it,
`platform.monitoring`) and two absolute links under the conventional annotation names
(`runbook_url` is the one kube-prometheus-stack's own rules carry): `dashboard_url`, the Grafana
dashboard that explains it on the alert's namespace (`monitoring.grafanaUrl`), and
`runbook_url`, the README's runbook section named after the alert (`monitoring.runbookUrl` +
`#<alert name, lowercased>`).

- critical (page): a service has no available replica, answers > 5 % 5xx, p95 latency > 1 s
- warning (today): CPU or memory > 80 % of the limit, restarts, a certificate expiring in
  < 14 days, an ExternalSecret failing to sync, a database backup failed or missed
- info (for the record): a rollout started or finished, an HPA scaled, a Secret's value changed
  (a rotation reaching the cluster)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from .dashboards import infrastructure, overview, security

SEVERITIES = ("critical", "warning", "info")
BACKUP_SCHEDULED = 'kube_cronjob_status_last_schedule_time{{{ns}, cronjob="postgres-backup"}}'
BACKUP_SUCCEEDED = 'kube_cronjob_status_last_successful_time{{{ns}, cronjob="postgres-backup"}}'


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


def critical_rules(namespace: str, services: Sequence[str]) -> list[Alert]:
    """Page someone: a service is down, failing or slow."""
    ns = f'namespace="{namespace}"'
    deployments = "|".join(services)
    return [
        # From kube-state-metrics, so it fires for services that expose no metrics of their own too.
        # A service run by an Argo Rollout has no Deployment: its controller's metrics count its
        # available pods (the Rollout's name, relabelled `deployment` so the alert reads alike).
        Alert(
            "WebappServiceDown",
            "sum by (namespace, deployment) (kube_deployment_status_replicas_available"
            f'{{{ns}, deployment=~"{deployments}"}}) == 0 or sum by (namespace, deployment) '
            "(label_replace(rollout_info_replicas_available"
            f'{{{ns}, name=~"{deployments}"}}, "deployment", "$1", "name", "(.*)")) == 0',
            "2m",
            "critical",
            "{{ $labels.deployment }} has no available replica",
            overview.UID,
        ),
        Alert(
            "WebappHighErrorRate",
            f'sum by (namespace, service) (rate(http_requests_total{{{ns}, status=~"5.."}}[5m])) / '
            f"sum by (namespace, service) (rate(http_requests_total{{{ns}}}[5m])) > 0.05",
            "5m",
            "critical",
            "{{ $labels.service }} answers more than 5% of requests with 5xx",
            overview.UID,
        ),
        Alert(
            "WebappHighLatency",
            "histogram_quantile(0.95, sum by (namespace, service, le) "
            f"(rate(http_request_duration_seconds_bucket{{{ns}}}[5m]))) > 1",
            "10m",
            "critical",
            "{{ $labels.service }} p95 latency is above 1 s",
            overview.UID,
        ),
    ]


def warning_rules(namespace: str) -> list[Alert]:
    """Look at it today: saturation, restarts, a certificate about to expire, a stuck secret."""
    ns = f'namespace="{namespace}"'
    return [
        # Argo Rollouts aborted a release (a failed analysis, a progress deadline): the stable
        # version serves again, and the new one needs a look (README "How a canary proceeds").
        Alert(
            "WebappReleaseAborted",
            "max by (namespace, name, phase) "
            f'(rollout_info{{{ns}, phase=~"Abort|Timeout|Error"}}) == 1',
            "1m",
            "warning",
            "{{ $labels.name }}'s release stopped ({{ $labels.phase }}); the stable version serves",
            overview.UID,
        ),
        Alert(
            "WebappHighCpu",
            "sum by (namespace, pod) "
            f'(rate(container_cpu_usage_seconds_total{{{ns}, container!=""}}[5m])) / '
            "sum by (namespace, pod) "
            f'(kube_pod_container_resource_limits{{{ns}, resource="cpu"}}) > 0.8',
            "15m",
            "warning",
            "{{ $labels.pod }} uses more than 80% of its CPU limit",
            infrastructure.UID,
        ),
        Alert(
            "WebappHighMemory",
            f'sum by (namespace, pod) (container_memory_working_set_bytes{{{ns}, container!=""}}) '
            "/ sum by (namespace, pod) "
            f'(kube_pod_container_resource_limits{{{ns}, resource="memory"}}) > 0.8',
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
        *backup_rules(ns),
        Alert(
            "WebappSecretSyncFailing",
            "sum by (namespace, name) "
            f"(increase(externalsecret_sync_calls_error{{{ns}}}[15m])) > 0",
            "15m",
            "warning",
            "ExternalSecret {{ $labels.name }} fails to sync from the store",
            security.UID,
        ),
    ]


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


def info_rules(namespace: str) -> list[Alert]:
    """For the record (routed to a channel, never a page): deployments, scaling, rotations."""
    ns = f'namespace="{namespace}"'
    return [
        # A new spec (image, config checksum, a Reloader restart) that the controller has not
        # finished rolling out yet.
        Alert(
            "WebappRolloutStarted",
            "max by (namespace, deployment) (kube_deployment_spec_replicas"
            f"{{{ns}}}) > max by (namespace, deployment) ("
            f"kube_deployment_status_replicas_updated{{{ns}}})",
            "0m",
            "info",
            "{{ $labels.deployment }} is rolling out a new version",
            overview.UID,
        ),
        Alert(
            "WebappRolloutFinished",
            "max by (namespace, deployment) (changes("
            f"kube_deployment_status_observed_generation{{{ns}}}[10m])) > 0 and on "
            "(namespace, deployment) max by (namespace, deployment) (kube_deployment_spec_replicas"
            f"{{{ns}}}) == max by (namespace, deployment) ("
            f"kube_deployment_status_replicas_updated{{{ns}}})",
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


def alert_rules(namespace: str, services: Sequence[str], links: AlertLinks) -> list[dict[str, Any]]:
    """The seed 000 alerting rules, one group per tier, each alert linking its dashboard and
    runbook."""
    tiers = {
        "critical": critical_rules(namespace, services),
        "warning": warning_rules(namespace),
        "info": info_rules(namespace),
    }
    return [
        {"name": f"webapp.{tier}", "rules": [alert.rule(links) for alert in alerts]}
        for tier, alerts in tiers.items()
    ]
