"""The first `pulumi up` in time, from the graph each stack declares (`tools.timeline`)."""

from __future__ import annotations

import dataclasses
from typing import Callable

import pytest

from tests.support import STACKS
from tools.golden import VARIANTS, variant_overrides
from tools.offline import ROOT, StackRun
from tools.timeline import ROLES_STEP, releases, report, timeline
from tools.timeline import database as database_of


@pytest.mark.parametrize("stack,variant", [(s, v) for s in STACKS for v in VARIANTS])
def test_no_await_can_time_out_on_a_first_up(
    stack: str, variant: str, stack_run: Callable[..., StackRun]
) -> None:
    plan = timeline(stack_run(stack, variant_overrides(stack, variant)))
    assert not plan.overruns(), [(s.urn, s.wait, s.timeout) for s in plan.overruns()]
    assert len(plan.steps) > 80 and plan.path


@pytest.mark.parametrize("stack,variant", [(s, v) for s in STACKS for v in VARIANTS])
def test_a_first_up_takes_about_its_slowest_resource(
    stack: str, variant: str, stack_run: Callable[..., StackRun]
) -> None:
    """Nothing slow waits for what it does not need: every first up ends within 1.1 times the
    create time of its slowest single resource (a database, the monitoring stack, a chart), plus
    the one step that must follow the database before its clients log in: their roles
    (`ROLES_STEP`, seconds)."""
    plan = timeline(stack_run(stack, variant_overrides(stack, variant)))
    assert plan.total <= 1.1 * plan.slowest.own + ROLES_STEP, report(stack_run(stack))


@pytest.mark.parametrize("stack", STACKS)
def test_the_roles_job_runs_as_soon_as_the_database_answers(
    stack: str, stack_run: Callable[..., StackRun]
) -> None:
    """The roles Job is created while the database is (its pod polls until it answers; on AWS once
    the admin's Secret is delivered, after RDS), and the
    clients' Secret only once the Job completed; api and auth are created before that Secret
    exists and are Ready one kubelet retry and one probe after it."""
    run = stack_run(stack)
    plan = timeline(run)
    by_name = {s.urn.rsplit("::", 1)[1]: s for s in plan.steps.values()}
    namespace = next(r for r in run.resources if r.name == "webapp-database-roles-job").inputs[
        "metadata"
    ]["namespace"]
    job, secret = by_name["webapp-database-roles-job"], by_name["webapp-database-roles-app"]
    database = max(
        (plan.steps[urn] for urn in database_of(run, namespace)), key=lambda step: step.finish
    )
    assert database.finish <= job.finish <= max(job.start + job.own, database.finish + ROLES_STEP)
    if "aws:rds" not in database.urn:
        # RDS's admin Secret needs the instance (its managed master secret); the others do not.
        assert job.start < database.finish
    assert secret.start >= job.finish
    for name in ("webapp-api-deployment", "webapp-api-rollout", "webapp-auth-deployment"):
        if name in by_name:
            client = by_name[name]
            assert client.start < secret.finish < client.finish
            assert client.finish <= max(client.start + client.own, secret.finish + 30)


def test_production_takes_about_its_database(stack_run: Callable[..., StackRun]) -> None:
    """RDS is the slowest resource and nothing but api and auth waits for it."""
    plan = timeline(stack_run("production"))
    assert plan.slowest.urn.endswith("aws:rds/instance:Instance::webapp-rds-instance")
    # api is a canary in production: its Rollout's first deploy is as long as a Deployment's.
    assert plan.path[-1].rsplit("::", 1)[1] in (
        "webapp-api-rollout",
        "webapp-api-release-job",  # the release gate: done once the Rollout is
        "webapp-auth-deployment",
    )


def test_api_and_auth_start_while_a_flexible_server_is_created(
    stack_run: Callable[..., StackRun],
) -> None:
    """Staging's Key Vault secrets name the server before it exists, so api and auth pull and
    start during its creation and are Ready one readiness probe after it; their first rollout
    is awaited for 30 minutes (a zone-redundant server takes up to 20)."""
    run = stack_run("staging")
    plan = timeline(run)
    server = next(
        s for s in plan.steps.values() if s.urn.endswith("::webapp-postgres-server-server")
    )
    for name in ("webapp-api-deployment", "webapp-auth-deployment"):
        step = next(s for s in plan.steps.values() if s.urn.endswith(f"::{name}"))
        assert step.start < server.start + 120 and step.finish > server.finish
        assert step.timeout == 1800 and step.wait < step.timeout
    others = [
        s
        for s in plan.steps.values()
        if "apps/v1:" in s.urn and not s.urn.endswith(("-api-deployment", "-auth-deployment"))
    ]
    assert others and all(s.finish < server.finish for s in others)


def test_a_workload_declared_before_its_secrets_is_reported(
    stack_run: Callable[..., StackRun],
) -> None:
    """The check is real: drop what the api Rollout waits for, and its rollout wait starts
    with the RDS instance, past the provider's 10 minutes."""
    run = stack_run("production")
    api = next(r for r in run.resources if r.name == "webapp-api-rollout")
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


@pytest.mark.parametrize("stack,variant", [(s, v) for s in STACKS for v in VARIANTS])
def test_a_healthy_release_finishes_within_its_awaits(
    stack: str, variant: str, stack_run: Callable[..., StackRun]
) -> None:
    """The steps, pauses and analysis of every Rollout's release, with new pods at each step, end
    well within the Rollout's and its release gate's timeouts (a margin for slow pulls)."""
    found = releases(stack_run(stack, variant_overrides(stack, variant)))
    for release in found:
        assert release.healthy * 2 < release.awaited, release
    if stack == "production" and variant == "as-shipped":
        assert {(r.urn.rsplit("::", 1)[1], r.strategy) for r in found} == {
            ("webapp-api-rollout", "canary"),
            ("webapp-frontend-rollout", "canary"),
        }
        # 4 steps of new pods (60 s), a 30 s pause and a 60 s analysis each.
        assert all(r.healthy == 4 * (60 + 30 + 60) for r in found)
