"""An AnalysisTemplate's verdict on the pods under test, as Argo Rollouts v1.9.0 reaches it.

Read in argoproj/argo-rollouts at v1.9.0:
- `analysis/analysis.go` `assessMetricStatus`: a metric fails when its failed measurements
  exceed `failureLimit`; an analysis run fails when one metric fails, and a failed step analysis
  aborts the Rollout (`rollout/analysis.go`), which the release gate then reports
  (`kubectl argo rollouts status` exits non-zero on Degraded, `pkg/kubectl-argo-rollouts/cmd/
  status/status.go`).
- `metricproviders/prometheus/prometheus.go`: the query's vector is `result`; the
  `successCondition` is evaluated on it (`utils/evaluate/evaluate.go`).
- `metricproviders/job/job.go`: a measurement is the Job's outcome (Complete: Successful,
  Failed: Failed).
- `utils/analysis/helpers.go` / `rollout/analysis.go`: `{{args.canary-hash}}` is the new
  ReplicaSet's `rollouts-pod-template-hash` (`podTemplateHashValue: Latest`).

A smoke Job's script is run for real, by `sh`, against a local HTTP server answering as the
pods behind its Service would: this checks the script, not our idea of it.
"""

from __future__ import annotations

import functools
import operator
import os
import re
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator, Optional

CONDITION = re.compile(r"result\[0\] (>=|<=|>|<) ([0-9.]+)")
OPERATORS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


@dataclass(frozen=True)
class Verdict:
    metric: str
    passed: bool
    value: str


def condition(success: str, value: Optional[float]) -> bool:
    match = CONDITION.fullmatch(success)
    assert match, f"successCondition {success!r} is not of the form result[0] <op> <number>"
    if value is None:
        # An empty result is an Error measurement: it does not count towards `count`, and once
        # the consecutive errors pass the limit (4) the run errs and the Rollout aborts
        # (`analysis/analysis.go`). Counted here as a failure: the same end, sooner.
        return False
    return bool(OPERATORS[match[1]](value, float(match[2])))


def metric_passes(metric: dict[str, Any], measurement_passes: bool) -> bool:
    """Every measurement alike: failures = count when it fails, against failureLimit."""
    failures = 0 if measurement_passes else int(metric.get("count", 1))
    return failures <= int(metric.get("failureLimit", 0))


def queries(template: dict[str, Any], revision: str) -> dict[str, str]:
    """Metric name -> its query as Argo sends it for `revision`."""
    return {
        metric["name"]: metric["provider"]["prometheus"]["query"].replace(
            "{{args.canary-hash}}", revision
        )
        for metric in template["spec"]["metrics"]
        if "prometheus" in metric["provider"]
    }


def smoke_target(metric: dict[str, Any]) -> tuple[str, str, str, int]:
    """(service, namespace, paths, requests) a smoke Job calls."""
    container = metric["provider"]["job"]["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container.get("env", [])}
    url = env["SMOKE_URL"]
    host = url.split("://", 1)[1].split(":", 1)[0]
    service, namespace = host.split(".")[:2]
    return service, namespace, env["SMOKE_PATHS"], int(env["SMOKE_REQUESTS"])


class _Handler(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


@functools.cache
def run_smoke(script: str, paths: str, requests: int, status: Optional[int]) -> bool:
    """The smoke script's verdict against pods answering `status` (None: nothing listens)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.status = status or 200  # type: ignore[attr-defined]
    port = server.server_address[1]
    if status is None:
        server.server_close()
    else:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = subprocess.run(
            ["sh", "-c", script],
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "SMOKE_URL": f"http://127.0.0.1:{port}",
                "SMOKE_PATHS": paths,
                "SMOKE_REQUESTS": str(requests),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        if status is not None:
            server.shutdown()
            server.server_close()
    return result.returncode == 0


def job_metrics(template: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for metric in template["spec"]["metrics"]:
        if "job" in metric["provider"]:
            yield metric


def script_of(metric: dict[str, Any]) -> str:
    container = metric["provider"]["job"]["spec"]["template"]["spec"]["containers"][0]
    command = list(container["command"])
    assert command[:2] == ["sh", "-c"], command
    return str(command[2])
