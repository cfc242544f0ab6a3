"""What a release is judged by: the AnalysisTemplate `<app>` of a canary or blue-green service
(pure builders; `workloads.release` declares it).

Every metric looks only at the pods of the template under test: Argo passes their pod-template
hash (`{{args.canary-hash}}`, `podTemplateHashValue: Latest`), and a Rollout's pods are named
`<rollout>-<hash>-<suffix>` (their ReplicaSet's name), so `pod=~"<app>-<hash>-.*"` selects them
whatever Service they are reached through. The measurements (seed 002):

- `pod-ready-ratio` >= 0.8 (kube-state-metrics' `kube_pod_status_ready`), always.
- `error-rate` <= 5 % of the requests the tested pods answered, where their answers are counted:
  in the mesh by their own sidecars (`istio_requests_total`, `reporter="destination"`, scraped by
  the namespace's PodMonitor `istio-proxies`, `platform.monitoring`), which every service has,
  the frontend's NGINX included; outside it by the service's own metrics as its image's metrics
  contract names them (`webapp:metrics.requests.<service>`, `config.metrics.PRESETS`: e.g.
  prometheus-net's `http_requests_received_total{code}`; its PodMonitor). No requests yet is a
  pass (0), never 0/0.
- `smoke`: a Job (Argo's job provider) that sends `SMOKE_REQUESTS` requests to each probe path of
  the tested Service and fails on any 5xx or refused connection. Where the tested pods receive no
  user traffic (a blue-green preview: nothing routes to it before promotion) or nothing counts
  their answers (a service without metrics outside the mesh, as the frontend's NGINX), an
  error-rate alone could never fail; the smoke requests make a sick release fail there too.

Why not the Services' series: prometheus-operator labels a ServiceMonitor target with the
Service it was discovered through (`service`), and a canary pod is an endpoint of `<app>-canary`
only, so a query on `service="<app>"` would never see it (prometheus-operator v0.86.x
`pkg/prometheus/promcfg.go`); the PodMonitors give every pod one target whichever Services select
it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from components.config.metrics import RequestSeries
from components.config.settings import Delivery

CANARY_HASH = "canary-hash"
"""The analysis argument: the pod-template hash of the pods under test (their ReplicaSet's)."""
HASH_ARG = "{{args." + CANARY_HASH + "}}"

Signal = Literal["mesh", "app"]
"""Who counts the tested pods' answers: their Istio sidecars, or the service itself."""

SMOKE_IMAGE = "curlimages/curl:8.17.0"
"""curl's own image (non-root, a shell and curl): the smoke Job's only program."""
SMOKE_REQUESTS = 10
"""Requests per probe path; any 5xx or failed connection fails the release."""
SMOKE_SECONDS = 120
"""The smoke Job's deadline (`activeDeadlineSeconds`); Argo counts a Job past it as failed."""
SMOKE_SUFFIX = "smoke"
"""The smoke pods' `app.kubernetes.io/name` is `<app>-smoke` (their NetworkPolicy's and the
tested service's caller)."""
SMOKE_USER = 65532
"""The smoke pods' UID/GID (non-root; no file of the image needs another)."""

SMOKE_SCRIPT = """\
set -u
failed=0
for path in $SMOKE_PATHS; do
  i=0
  while [ "$i" -lt "$SMOKE_REQUESTS" ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$SMOKE_URL$path") || code=000
    case "$code" in 5*|000) echo "$path: $code"; failed=$((failed + 1));; esac
    i=$((i + 1))
  done
done
echo "$failed failed"
[ "$failed" -eq 0 ]
"""
"""POSIX sh: every request to every path; the exit status is the verdict (Argo's job provider:
a succeeded Job is a successful measurement, a failed one a failed measurement)."""


@dataclass(frozen=True, kw_only=True)
class Subject:
    """What one service's analysis measures."""

    app: str
    namespace: str
    instance: str
    delivery: Delivery
    port: int
    """The tested Service's HTTP port."""
    tested_service: str
    """The Service that reaches only the pods under test (`<app>-canary`, `<app>-preview`)."""
    paths: tuple[str, ...]
    """Where the smoke requests go (the service's probe paths)."""
    requests: Optional[Signal]
    """Who counts the tested pods' answers; None where nobody does."""
    published: Optional[RequestSeries] = None
    """`app` only: the request series the service's image publishes (its metrics contract)."""
    resources: dict[str, Any] = field(default_factory=dict)
    """The smoke container's requests and limits (the namespace quota requires them)."""

    @property
    def smoke(self) -> bool:
        """A smoke Job where real traffic cannot judge the release (module docstring)."""
        return self.delivery == "blue-green" or self.requests is None

    @property
    def smoke_app(self) -> str:
        return f"{self.app}-{SMOKE_SUFFIX}"


@dataclass(frozen=True)
class Metric:
    """One analysis measurement (seed 002's AnalysisTemplate)."""

    name: str
    interval: int
    """Seconds between measurements."""
    count: int
    success: str
    failure_limit: int
    query: Optional[str] = None
    """PromQL as Argo sends it, with `{{args.canary-hash}}` for Argo to fill."""
    job: Optional[dict[str, Any]] = None
    """A Job spec (Argo's job provider) instead of a query."""

    @property
    def seconds(self) -> int:
        """From the first measurement (at once) to the last (a Job: its deadline)."""
        if self.job is not None:
            return SMOKE_SECONDS
        return self.interval * (self.count - 1)


def _pods(subject: Subject) -> str:
    # A Rollout's pods are named <rollout>-<pod-template-hash>-<suffix> (their ReplicaSet's).
    return f'namespace="{subject.namespace}", pod=~"{subject.app}-{HASH_ARG}-.*"'


def error_query(subject: Subject) -> str:
    """The tested pods' share of 5xx answers; no answers yet is 0."""
    pods = _pods(subject)
    if subject.requests == "mesh":
        # The server side's own count (reporter="destination"): each tested pod's sidecar.
        series = f'istio_requests_total{{reporter="destination", {pods}'
        errors = 'response_code=~"5.."'
    else:
        assert subject.published is not None, "an app signal names its metrics contract"
        series = f"{subject.published.counter}{{{pods}"
        errors = subject.published.errors
    # No requests yet is a pass (0), never 0/0 = NaN, which fails every condition.
    return (
        f"(sum(rate({series}, {errors}}}[2m])) or vector(0))"
        f" / (sum(rate({series}}}[2m])) > 0) or vector(0)"
    )


def smoke_job(subject: Subject) -> dict[str, Any]:
    """The smoke Job's spec: restricted, no API token, one try, a deadline."""
    labels = {
        "app.kubernetes.io/name": subject.smoke_app,
        "app.kubernetes.io/instance": subject.instance,
        "app.kubernetes.io/part-of": "webapp",
        "app.kubernetes.io/component": "release-analysis",
    }
    url = f"http://{subject.tested_service}.{subject.namespace}.svc.cluster.local:{subject.port}"
    return {
        "backoffLimit": 0,
        "activeDeadlineSeconds": SMOKE_SECONDS,
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "restartPolicy": "Never",
                "serviceAccountName": subject.smoke_app,
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": SMOKE_USER,
                    "runAsGroup": SMOKE_USER,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "smoke",
                        "image": SMOKE_IMAGE,
                        "command": ["sh", "-c", SMOKE_SCRIPT],
                        "env": [
                            {"name": "SMOKE_URL", "value": url},
                            {"name": "SMOKE_PATHS", "value": " ".join(subject.paths)},
                            {"name": "SMOKE_REQUESTS", "value": str(SMOKE_REQUESTS)},
                        ],
                        "resources": subject.resources,
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True,
                            "privileged": False,
                            "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                    }
                ],
            },
        },
    }


def metrics(subject: Subject) -> tuple[Metric, ...]:
    pods = _pods(subject)
    found = [
        Metric(
            name="pod-ready-ratio",
            interval=10,
            count=3,
            success="result[0] >= 0.8",
            failure_limit=2,
            # Every pod has one kube_pod_status_ready series per condition (true, false,
            # unknown), so the sum over all conditions counts the pods.
            query=(
                f'(sum(kube_pod_status_ready{{condition="true", {pods}}}) or vector(0))'
                f" / (sum(kube_pod_status_ready{{{pods}}}) or vector(1))"
            ),
        )
    ]
    if subject.requests is not None:
        found.append(
            Metric(
                name="error-rate",
                interval=30,
                count=3,
                success="result[0] <= 0.05",
                failure_limit=1,
                query=error_query(subject),
            )
        )
    if subject.smoke:
        found.append(
            Metric(
                name="smoke",
                interval=0,
                count=1,
                success="",
                failure_limit=0,
                job=smoke_job(subject),
            )
        )
    return tuple(found)


def analysis_seconds(subject: Subject) -> int:
    """How long one analysis run takes (its metrics run side by side)."""
    return max(metric.seconds for metric in metrics(subject))


def analysis_spec(subject: Subject, prometheus: str) -> dict[str, Any]:
    """The AnalysisTemplate `<app>`: every metric on the pods of the tested template."""
    specs: list[dict[str, Any]] = []
    for metric in metrics(subject):
        if metric.job is not None:
            # One measurement; a failed Job is a failed measurement, and any failure fails the
            # run (failureLimit 0).
            specs.append(
                {
                    "name": metric.name,
                    "count": metric.count,
                    "failureLimit": metric.failure_limit,
                    "provider": {"job": {"spec": metric.job}},
                }
            )
            continue
        specs.append(
            {
                "name": metric.name,
                "interval": f"{metric.interval}s",
                "count": metric.count,
                "successCondition": metric.success,
                "failureLimit": metric.failure_limit,
                "provider": {"prometheus": {"address": prometheus, "query": metric.query}},
            }
        )
    return {"args": [{"name": CANARY_HASH}], "metrics": specs}


def analysis_step(app: str) -> dict[str, Any]:
    """A Rollout's reference to the template, on the newest pods."""
    return {
        "templates": [{"templateName": app}],
        "args": [{"name": CANARY_HASH, "valueFrom": {"podTemplateHashValue": "Latest"}}],
    }
