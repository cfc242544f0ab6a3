"""The pipeline's trust model (README "Identities"): which job runs in which GitHub environment,
which of them a pull request's code can enter, what each environment's identities reach, and that
nothing a pull request controls runs where a base-branch identity is.

GitHub facts these tests rest on (GitHub Actions documentation, "Using environments for
deployment" and "About security hardening with OpenID Connect"): a job's OIDC token carries
`sub: repo:<owner>/<repo>:environment:<name>` when the job names an environment; an environment's
deployment-branch rule and required reviewers gate every job that names it, whatever workflow file
the job comes from; `pull_request` runs the pull request's own workflow files and code, while
`pull_request_target` runs the base branch's workflow file with its default checkout the base.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.ci.test_workflows import GITHUB, WORKFLOWS, _run_scripts, _steps_using, load
from tools.identities import BY_NAME, ENVIRONMENTS, PROTECTED, pulumi_policies, subject, table
from tools.offline import ROOT

SETUP = "./.github/actions/stack-setup"
PULL_REQUEST_CODE = ("pull_request",)
"""Triggers that run the pull request's workflow files and code."""
BASE_CODE = ("push", "schedule", "workflow_dispatch", "pull_request_target", "workflow_run")
"""Triggers that run a workflow file of the base (default) branch."""


def _jobs() -> list[tuple[str, str, dict[str, Any], set[str]]]:
    """(workflow, job, job, triggers) of every job."""
    found = []
    for name in WORKFLOWS:
        workflow = load(name)
        triggers = set(workflow["on"]) if isinstance(workflow["on"], dict) else {workflow["on"]}
        for job_name, job in workflow["jobs"].items():
            found.append((name, job_name, job, triggers))
    return found


def _environment(job: dict[str, Any]) -> list[str]:
    """The environment names a job can run in (a matrix expands `${{ matrix.stack }}`)."""
    declared = job.get("environment")
    if declared is None:
        return []
    name = declared if isinstance(declared, str) else declared["name"]
    if "${{ matrix.stack }}" in name:
        return [name.replace("${{ matrix.stack }}", s) for s in job["strategy"]["matrix"]["stack"]]
    assert "${{" not in name, name
    return [name]


def test_every_environment_the_workflows_use_is_in_the_table_and_back() -> None:
    used = {env for _, _, job, _ in _jobs() for env in _environment(job)}
    assert used == set(BY_NAME)


def test_a_credential_is_only_ever_held_inside_an_environment() -> None:
    """OIDC subjects without an environment (`ref:` or `pull_request`) are trusted by nothing, so
    a job that holds `id-token: write` names its environment."""
    for name, job_name, job, _ in _jobs():
        if (job.get("permissions") or {}).get("id-token") == "write":
            assert _environment(job), f"{name}.{job_name}: id-token without an environment"


def test_pull_request_code_never_enters_an_environment_limited_to_main() -> None:
    for name, job_name, job, triggers in _jobs():
        if not triggers & set(PULL_REQUEST_CODE):
            continue
        for env in _environment(job):
            environment = BY_NAME[env]
            assert environment.branches == "any", f"{name}.{job_name}: {env} is main-only"
            if environment.reach in PROTECTED:
                # Staging's or production's state (its secrets) only after a person approves.
                assert environment.reviewers, f"{name}.{job_name}: {env} without reviewers"


def test_what_reaches_staging_or_production_unreviewed_is_limited_to_main() -> None:
    """The rule the environments' settings carry: a pull request cannot enter `main`-only
    environments, and the others that reach staging or production need a reviewer."""
    for environment in ENVIRONMENTS:
        if environment.reach in PROTECTED and not environment.reviewers:
            assert environment.branches == "main", environment.name
        if environment.reach == "production":
            assert environment.branches == "main" and environment.reviewers
    # The review environments reach only the review resource group, namespaces and stacks.
    assert BY_NAME["review"].reach == "review" and BY_NAME["review-admin"].branches == "main"


def test_main_only_environments_run_base_branch_code_only() -> None:
    for name, job_name, job, triggers in _jobs():
        for env in _environment(job):
            if BY_NAME[env].branches == "main":
                assert triggers <= set(BASE_CODE), f"{name}.{job_name}: {env} via {triggers}"


def test_pull_request_target_jobs_never_touch_the_pull_requests_code() -> None:
    """review-admin runs with identities a pull request must never hold: every checkout is the
    base commit, no step runs anything of the head, and only the number reaches a shell."""
    for name in WORKFLOWS:
        workflow = load(name)
        if "pull_request_target" not in workflow["on"]:
            continue
        text = WORKFLOWS[name].read_text()
        assert "pull_request.head.sha" not in text and "pull_request.head.ref" not in text
        assert "allow-unsafe-pr-checkout" not in text
        for job in workflow["jobs"].values():
            checkouts = _steps_using(job, "actions/checkout")
            assert checkouts and all(
                c["with"]["ref"] == "${{ github.event.pull_request.base.sha }}" for c in checkouts
            )
            for script in _run_scripts(job):
                assert "${{" not in script, script  # event text only through env
            values = [str(v) for step in job["steps"] for v in (step.get("env") or {}).values()]
            assert all(
                v == "${{ github.event.pull_request.number }}" for v in values if "event" in v
            ), values
            assert set((job.get("permissions") or {}).values()) <= {"read", "write"}
            assert (job.get("permissions") or {}).get("contents") == "read"


def test_dependabot_and_forks_get_no_credentialed_job_on_a_pull_request() -> None:
    for name, job_name, job, triggers in _jobs():
        if not triggers & {"pull_request", "pull_request_target"}:
            continue
        if (job.get("permissions") or {}).get("id-token") != "write":
            continue
        condition = job.get("if", "")
        if job.get("needs"):
            continue  # gated by the job it needs
        assert "head.repo.full_name == github.repository" in condition, f"{name}.{job_name}"
        assert "dependabot[bot]" in condition, f"{name}.{job_name}"


def test_jobs_get_a_team_token_never_an_organization_token() -> None:
    action = (GITHUB / "actions" / "stack-setup" / "action.yml").read_text()
    assert "access_token:organization" not in action
    assert "urn:pulumi:token-type:access_token:team" in action
    assert "scope: team:${{ inputs.pulumi-team }}" in action
    for name, job_name, job, _ in _jobs():
        for setup in _steps_using(job, SETUP):
            given = setup.get("with", {})
            if given.get("pulumi-org"):
                assert given.get("pulumi-team") == "${{ vars.PULUMI_TEAM }}", f"{name}.{job_name}"


def test_the_pulumi_policies_give_each_subject_its_own_team_and_no_other() -> None:
    policies = pulumi_policies("acme/webapp", "acme")
    subjects = [p["rules"]["sub"] for p in policies]  # type: ignore[index]
    assert len(subjects) == len(set(subjects))
    assert all("*" not in s for s in subjects)
    teams = {p["rules"]["sub"]: p["teamName"] for p in policies}  # type: ignore[index]
    deploy = [s for s, t in teams.items() if t == "webapp-production-deploy"]
    assert deploy == [subject("acme/webapp", "production")]
    assert all(p["tokenType"] == "team" and p["decision"] == "allow" for p in policies)


def test_the_readme_shows_the_table_of_the_code() -> None:
    readme = (ROOT / "README.md").read_text()
    assert table() in readme
    assert "urn:pulumi:token-type:access_token:organization" not in readme


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_event_log_is_asked_for_only_with_debug_commands_on(name: str) -> None:
    """`--event-log` is registered only when PULUMI_DEBUG_COMMANDS is true (pulumi
    pkg/cmd/pulumi/operations/preview.go and up.go at v3.259.0: `if env.DebugCommands.Value()
    { ... "event-log" ... }`); without it the CLI stops at "unknown flag"."""
    for job in load(name)["jobs"].values():
        for step in job.get("steps", []):
            if "--event-log" in str(step.get("run", "")):
                env = {**(job.get("env") or {}), **(step.get("env") or {})}
                assert env.get("PULUMI_DEBUG_COMMANDS") == "true", step.get("name")


def test_base_branch_policy_pack_for_pull_request_code() -> None:
    """A pull request's preview and review stack are held to the base branch's rules."""
    for name in ("preview", "review-stack", "offline-diff"):
        for job in load(name)["jobs"].values():
            base = [
                c for c in _steps_using(job, "actions/checkout") if c["with"].get("path") == "base"
            ]
            assert base and base[0]["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
            scripts = " ".join(_run_scripts(job))
            for setup in _steps_using(job, SETUP):
                assert setup["with"]["policy-pack"] == "base/policy"
            assert not re.search(r"--policy-pack (?!base/policy)", scripts), scripts
            assert not re.search(r"--pack (?!base/policy)", scripts), scripts
            if name == "offline-diff":
                assert "--policy --pack base/policy" in scripts
