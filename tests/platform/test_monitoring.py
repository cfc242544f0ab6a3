"""The alert rules: `promtool check rules`, and `promtool test rules` proving the alerts fire."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable

from tests.support import program
from tools.offline import StackRun

# ----------------------------------------------------------------------------------------------
# Prometheus alert rules: promtool checks the syntax and unit-tests that the alerts fire
# ----------------------------------------------------------------------------------------------

ALERT_TESTS = """
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'kube_deployment_status_replicas_available{namespace="NS", deployment="api"}'
        values: '0x10'
      - series: 'kube_deployment_status_replicas_available{namespace="NS", deployment="frontend"}'
        values: '3x10'
      - series: 'http_requests_total{namespace="NS", service="api", status="500"}'
        values: '0+10x20'
      - series: 'http_requests_total{namespace="NS", service="api", status="200"}'
        values: '0+90x20'
      - series: 'http_requests_total{namespace="NS", service="auth", status="500"}'
        values: '0+1x20'
      - series: 'http_requests_total{namespace="NS", service="auth", status="200"}'
        values: '0+99x20'
      - series: 'kube_pod_container_status_restarts_total{namespace="NS", pod="api-1"}'
        values: '0 1 2 3 4 5 6'
    alert_rule_test:
      - eval_time: 5m
        alertname: WebappServiceDown
        exp_alerts:
          - exp_labels: {severity: critical, namespace: NS, deployment: api}
            exp_annotations:
              summary: "api has no available replica"
              description: "api has no available replica (namespace NS)"
      - eval_time: 15m
        alertname: WebappHighErrorRate
        exp_alerts:
          - exp_labels: {severity: critical, namespace: NS, service: api}
            exp_annotations:
              summary: "api answers more than 5% of requests with 5xx"
              description: "api answers more than 5% of requests with 5xx (namespace NS)"
      - eval_time: 6m
        alertname: WebappPodRestarts
        exp_alerts:
          - exp_labels: {severity: warning, namespace: NS, pod: api-1}
            exp_annotations:
              summary: "api-1 restarted more than 3 times in an hour"
              description: "api-1 restarted more than 3 times in an hour (namespace NS)"
"""


def _rules_file(run: StackRun, tmp_path: Path) -> Path:
    import yaml

    rule = run.find("PrometheusRule", "webapp-alerts")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    return path


def test_promtool_accepts_the_alert_rules(
    stack_run: Callable[..., StackRun], tmp_path: Path
) -> None:
    promtool = program("promtool")
    rules = _rules_file(stack_run("production"), tmp_path)
    result = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 rules found" in result.stdout


def test_alerts_fire_on_the_seed_conditions(
    stack_run: Callable[..., StackRun], tmp_path: Path
) -> None:
    promtool = program("promtool")
    _rules_file(stack_run("production"), tmp_path)
    (tmp_path / "tests.yaml").write_text(ALERT_TESTS.replace("NS", "webapp-production"))
    result = subprocess.run(
        [promtool, "test", "rules", "tests.yaml"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
