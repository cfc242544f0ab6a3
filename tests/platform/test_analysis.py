"""KEDA's load triggers run by the real `promtool` on sample series named as the services (their
metrics contract) and the NATS exporter publish them (`tests.platform.exporters`). The Rollouts' analysis is judged by the release rehearsal
(`tools.rehearsal`, tests/workloads/test_rehearsal.py), on the series prometheus-operator's
targets would carry for canary and stable pods, rather than on series written here."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Callable

import yaml

from components.config.catalogue import LOAD_TRIGGERS
from components.config.metrics import PRESETS
from tests.platform import exporters as ex
from tests.platform.exporters import published
from tests.support import program
from tools.offline import StackRun

NS = "webapp-production"
AT = "10m"


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
    """api: the requests of all its pods, as its image counts them (the contract's
    prometheus-net preset; two pods at 1/s and 2/s: 3/s, against 50 per replica), never another
    service's; broadcaster: the messages its clients publish across the NATS servers (2 x 5/s),
    not what the servers route to each other (varz' in_msgs counts both)."""
    run = stack_run("production")
    queries = {
        name: next(
            t
            for t in run.find("ScaledObject", name)["spec"]["triggers"]
            if t["type"] == "prometheus"
        )["metadata"]
        for name in ("api", "broadcaster")
    }
    api = LOAD_TRIGGERS["api"]
    counted = PRESETS["prometheus-net"].of_pods(NS, api.pods)
    assert queries["api"]["query"] == api.query.format(namespace=NS, requests=counted)
    app = ex.APPLICATION["prometheus-net"]

    def requests(pod: str, values: str) -> dict[str, str]:
        target = {"namespace": NS, "pod": pod, "service": pod.split("-")[0]}
        return published(app, "http_requests_received_total", target, values, code="200")

    def nats(metric: str, namespace: str, server: str, values: str) -> dict[str, str]:
        target = {"namespace": namespace, "service": "nats", "pod": server}
        return published(ex.NATS_EXPORTER, metric, target, values, server_id=server)

    series = [
        requests("api-6c9d8f7b5d-x2m4q", "0+60x20"),
        requests("api-7f4b9c6d84-k8z2r", "0+120x20"),
        requests("auth-6c9d8f7b5d-x2m4q", "0+600x20"),
        *(nats("gnatsd_connz_in_msgs", NS, f"nats-{i}", "0+300x20") for i in range(2)),
        # Routed between the servers and system messages: in varz, not in connz.
        *(nats("gnatsd_varz_in_msgs", NS, f"nats-{i}", "0+3000x20") for i in range(2)),
        nats("gnatsd_connz_in_msgs", "other", "x", "0+6000x20"),
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
