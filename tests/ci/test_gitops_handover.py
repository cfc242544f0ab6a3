"""GitOps mode: the `deploy` workflow stops applying a stack the GitOps project hands over
(`python -m tools.ci handed-over <stack>`); previews, the policy pack and PR comments stay.

The workflow condition is wired by the maintainers of `.github/workflows` (see README "GitOps",
"Taking a stack back"): until then the workflow test is an expected failure, and turns into a
failure (strict) the moment the condition lands, so the marker is removed with it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.ci.test_workflows import load
from tools import ci
from tools.offline import ROOT

HANDED_OVER = re.compile(r"python -m tools\.ci handed-over (\w+)")


def test_handed_over_reads_the_gitops_stack_files(monkeypatch: pytest.MonkeyPatch) -> None:
    from gitops import program

    assert [ci.handed_over(stack) for stack in ("dev", "staging", "production")] == [False] * 3
    real = program.load_settings

    def active(name: str, config: Any = None) -> Any:
        settings = real(name, config)
        import dataclasses

        return dataclasses.replace(settings, hand_over=True)

    monkeypatch.setattr(program, "load_settings", active)
    # As shipped, production's GitOps stack holds staging and production, dev's holds dev.
    assert [ci.handed_over(stack) for stack in ("dev", "staging", "production")] == [True] * 3


def test_handed_over_prints_true_or_false(capsys: pytest.CaptureFixture[str]) -> None:
    assert ci.main(["handed-over", "production"]) == 0
    assert capsys.readouterr().out == "false\n"


def test_a_stack_is_handed_over_by_one_gitops_stack_at_most() -> None:
    from gitops.program import gitops_stacks, load_settings

    seen: dict[str, str] = {}
    for name in gitops_stacks():
        for stack in load_settings(name).stacks:
            assert stack not in seen, f"{stack} is in gitops stacks {seen[stack]} and {name}"
            seen[stack] = name
    assert set(seen) <= {path.name[7:-5] for path in ROOT.glob("Pulumi.*.yaml")}


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def test_deploy_skips_applying_a_handed_over_stack() -> None:
    deploy = load("deploy")
    for stack in ("staging", "production"):
        ups = [
            (job, step)
            for job in deploy["jobs"].values()
            for step in _steps(job)
            if re.search(rf"pulumi up\b[^\n]*--stack {stack}\b", step.get("run", ""))
        ]
        assert ups, stack
        for job, step in ups:
            checks = [
                s for s in _steps(job) if HANDED_OVER.search(s.get("run", "")) and s.get("id")
            ]
            assert checks and HANDED_OVER.search(checks[0]["run"]).group(1) == stack  # type: ignore[union-attr]
            output = f"steps.{checks[0]['id']}.outputs.handed-over"
            assert output in str(step.get("if", "")) and "'true'" in str(step["if"]), step
