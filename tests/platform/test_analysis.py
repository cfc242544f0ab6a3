"""The Rollout analysis and KEDA's load triggers, run by the real `promtool` on sample series named
as kube-state-metrics, the services and the NATS exporter publish them: each query parses, measures
only the pods of the template under test, and returns what its success condition expects (a
healthy canary passes, a sick one fails, no traffic passes instead of NaN)."""

from __future__ import annotations

import operator
import re
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from components.config.catalogue import LOAD_TRIGGERS
from tests.support import program
from tools.offline import StackRun

NS = "webapp-production"
CANARY = "6b7d9c5f4"
STABLE = "58c4f7d9b"
AT = "10m"


def ready(app: str, template: str, pod: int, is_ready: bool) -> list[dict[str, str]]:
    """kube-state-metrics: one series per condition, 1 on the pod's current one."""
    name = f"{app}-{template}-pod{pod}"
    current = "true" if is_ready else "false"
    return [
        {
            "series": (
                f'kube_pod_status_ready{{namespace="{NS}", pod="{name}", condition="{condition}"}}'
            ),
            "values": "1x20" if condition == current else "0x20",
        }
        for condition in ("true", "false", "unknown")
    ]


def requests(app: str, template: str, status: str, per_minute: int) -> dict[str, str]:
    return {
        "series": (
            f'http_requests_total{{namespace="{NS}", service="{app}", '
            f'pod="{app}-{template}-pod0", status="{status}"}}'
        ),
        "values": f"0+{per_minute}x20",
    }


def stable_noise(app: str) -> list[dict[str, str]]:
    """The stable pods, failing loudly: nothing of theirs may count for the canary."""
    return [
        *ready(app, STABLE, 0, False),
        *ready(app, STABLE, 1, False),
        requests(app, STABLE, "503", 600),
    ]


def cases(app: str) -> list[tuple[str, list[dict[str, str]], dict[str, float]]]:
    """(what, input series, expected value of each metric)."""
    healthy_pods = [*ready(app, CANARY, 0, True), *ready(app, CANARY, 1, True)]
    return [
        (
            "healthy canary: every pod ready, 5 % errors",
            [*healthy_pods, requests(app, CANARY, "200", 57), requests(app, CANARY, "500", 3)],
            {"pod-ready-ratio": 1.0, "error-rate": 0.05},
        ),
        (
            "four of five ready (the threshold), no requests yet",
            [
                *(s for i in range(4) for s in ready(app, CANARY, i, True)),
                *ready(app, CANARY, 4, False),
            ],
            {"pod-ready-ratio": 0.8, "error-rate": 0.0},
        ),
        (
            "sick canary: half ready, 20 % errors",
            [
                *ready(app, CANARY, 0, True),
                *ready(app, CANARY, 1, False),
                requests(app, CANARY, "200", 48),
                requests(app, CANARY, "502", 12),
            ],
            {"pod-ready-ratio": 0.5, "error-rate": 0.2},
        ),
        (
            "idle canary: counters that do not move are 0, not NaN",
            [*healthy_pods, {**requests(app, CANARY, "200", 0), "values": "7x20"}],
            {"pod-ready-ratio": 1.0, "error-rate": 0.0},
        ),
    ]


CONDITION = re.compile(r"result\[0\] (>=|<=) ([0-9.]+)")
OPERATORS = {">=": operator.ge, "<=": operator.le}


def passes(condition: str, value: float) -> bool:
    match = CONDITION.fullmatch(condition)
    assert match, condition
    return bool(OPERATORS[match[1]](value, float(match[2])))


def promtool_test(tmp_path: Path, tests: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "tests.yaml").write_text(
        yaml.safe_dump({"rule_files": [], "evaluation_interval": "1m", "tests": tests})
    )
    return subprocess.run(
        [program("promtool"), "test", "rules", "tests.yaml"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


@pytest.mark.parametrize("app", ["frontend", "api"])
def test_the_analysis_queries_return_what_their_conditions_expect(
    app: str, stack_run: Callable[..., StackRun], tmp_path: Path
) -> None:
    metrics = stack_run("production").find("AnalysisTemplate", app)["spec"]["metrics"]
    tests = []
    verdicts = []
    for what, series, expected in cases(app):
        checks = []
        for metric in metrics:
            query = metric["provider"]["prometheus"]["query"].replace(
                "{{args.canary-hash}}", CANARY
            )
            value = expected[metric["name"]]
            checks.append(
                {"expr": query, "eval_time": AT, "exp_samples": [{"labels": "{}", "value": value}]}
            )
            verdicts.append((what, metric["name"], passes(metric["successCondition"], value)))
        tests.append(
            {
                "interval": "1m",
                "input_series": [*series, *stable_noise(app)],
                "promql_expr_test": checks,
            }
        )
    result = promtool_test(tmp_path, tests)
    assert result.returncode == 0, result.stdout + result.stderr
    assert verdicts == [
        (what, name, "sick" not in what)
        for what, _, _ in cases(app)
        for name in ("pod-ready-ratio", "error-rate")
    ]


def test_a_query_that_promtool_rejects_fails_here(tmp_path: Path) -> None:
    """The check is real: a broken query (a missing bracket) is refused."""
    result = promtool_test(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [],
                "promql_expr_test": [
                    {
                        "expr": "sum(rate(http_requests_total[2m])",
                        "eval_time": AT,
                        "exp_samples": [],
                    }
                ],
            }
        ],
    )
    assert result.returncode != 0


def test_the_load_triggers_measure_the_load_per_second(
    stack_run: Callable[..., StackRun], tmp_path: Path
) -> None:
    """api: the requests of all its pods (two pods at 1/s and 2/s: 3/s, against 50 per replica);
    broadcaster: the messages entering NATS across its servers (2 x 5/s)."""
    run = stack_run("production")
    queries = {
        name: next(
            t
            for t in run.find("ScaledObject", name)["spec"]["triggers"]
            if t["type"] == "prometheus"
        )["metadata"]
        for name in ("api", "broadcaster")
    }
    assert queries["api"]["query"] == LOAD_TRIGGERS["api"].query.format(namespace=NS)
    series = [
        {
            "series": f'http_requests_total{{namespace="{NS}", service="api", pod="api-a", status="200"}}',
            "values": "0+60x20",
        },
        {
            "series": f'http_requests_total{{namespace="{NS}", service="api", pod="api-b", status="200"}}',
            "values": "0+120x20",
        },
        {
            "series": f'http_requests_total{{namespace="{NS}", service="auth", pod="auth-a", status="200"}}',
            "values": "0+600x20",
        },
        *(
            {
                "series": f'gnatsd_varz_in_msgs{{namespace="{NS}", server_id="nats-{i}"}}',
                "values": "0+300x20",
            }
            for i in range(2)
        ),
        {"series": 'gnatsd_varz_in_msgs{namespace="other", server_id="x"}', "values": "0+6000x20"},
    ]
    result = promtool_test(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": queries["api"]["query"],
                        "eval_time": AT,
                        "exp_samples": [{"labels": "{}", "value": 3}],
                    },
                    {
                        "expr": queries["broadcaster"]["query"],
                        "eval_time": AT,
                        "exp_samples": [{"labels": "{}", "value": 10}],
                    },
                ],
            }
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (queries["api"]["threshold"], queries["broadcaster"]["threshold"]) == ("50", "100")
