"""The first `pulumi up` in time, from the graph each stack declares (`tools.timeline`)."""

from __future__ import annotations

import dataclasses
from typing import Callable

import pytest

from tests.support import STACKS
from tools.golden import VARIANTS, variant_overrides
from tools.offline import ROOT, StackRun
from tools.timeline import report, timeline


@pytest.mark.parametrize("stack,variant", [(s, v) for s in STACKS for v in VARIANTS])
def test_no_await_can_time_out_on_a_first_up(
    stack: str, variant: str, stack_run: Callable[..., StackRun]
) -> None:
    plan = timeline(stack_run(stack, variant_overrides(stack, variant)))
    assert not plan.overruns(), [(s.urn, s.wait, s.timeout) for s in plan.overruns()]
    assert len(plan.steps) > 80 and plan.path


def test_production_takes_about_its_database(stack_run: Callable[..., StackRun]) -> None:
    """RDS is the slowest resource and nothing but api and auth waits for it: the first up ends
    within 1.1 times the instance's creation."""
    plan = timeline(stack_run("production"))
    slowest = plan.slowest
    assert slowest.urn.endswith("aws:rds/instance:Instance::webapp-rds-instance")
    assert plan.total <= 1.1 * (slowest.finish - slowest.start)
    assert plan.path[-1].rsplit("::", 1)[1] in ("webapp-api-deployment", "webapp-auth-deployment")


def test_a_workload_declared_before_its_secrets_is_reported(
    stack_run: Callable[..., StackRun],
) -> None:
    """The check is real: drop what the api Deployment waits for, and its rollout wait starts
    with the RDS instance, past the provider's 10 minutes."""
    run = stack_run("production")
    api = next(r for r in run.resources if r.name == "webapp-api-deployment")
    bare = dataclasses.replace(
        run,
        resources=[
            dataclasses.replace(r, depends_on=[]) if r.urn == api.urn else r for r in run.resources
        ],
    )
    (overrun,) = timeline(bare).overruns()
    assert overrun.urn == api.urn and overrun.wait > overrun.timeout == 600


@pytest.mark.parametrize("stack", STACKS)
def test_the_readme_shows_each_timeline(stack: str, stack_run: Callable[..., StackRun]) -> None:
    readme = (ROOT / "README.md").read_text()
    assert report(stack_run(stack)) in readme, f"README: run `make timeline STACK={stack}`"
