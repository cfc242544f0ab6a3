"""The GitHub workflows: actionlint (with shellcheck) clean, actions pinned to commits, OIDC
only, minimal permissions, every stack covered, and the policy pack on every preview and up."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from tests.support import STACKS, program
from tools.offline import ROOT

GITHUB = ROOT / ".github"
WORKFLOWS = {p.stem: p for p in sorted((GITHUB / "workflows").glob("*.yml"))}
ACTIONS = sorted((GITHUB / "actions").glob("*/action.yml"))
SHARED_STATE = [s for s in STACKS if s != "dev"]
"""Stacks whose state is shared (Pulumi Cloud): dev's is per developer and per dev deploy."""
BIN = Path(sys.executable).parent


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOWS[name].read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads `on:` as True
    return data


def tool(name: str) -> str:
    found = BIN / name
    return str(found) if found.exists() else program(name)


def test_the_pipeline_has_its_workflows() -> None:
    assert set(WORKFLOWS) == {
        "ci",
        "preview",
        "deploy",
        "review-stack",
        "drift",
        "offline-diff",
        "offline-comment",
    }


def test_actionlint_with_shellcheck_passes() -> None:
    result = subprocess.run(
        [
            tool("actionlint"),
            "-shellcheck",
            tool("shellcheck"),
            "-no-color",
            *map(str, WORKFLOWS.values()),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The check is real: an unquoted expansion (shellcheck) and an untrusted input in a script
    are each reported. (actionlint knows action inputs by tag only; with commit pins the inputs
    are checked below against the vendored action.yml of each pinned commit.)"""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: pull_request\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.event.pull_request.title }} && ls $HOME/*\n"
        "      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1\n        with:\n          no-such-input: 1\n"
    )
    out = subprocess.run(
        [tool("actionlint"), "-shellcheck", tool("shellcheck"), "-no-color", str(bad)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout
    assert "potentially untrusted" in out and "SC2086" in out


def _mappings(doc: Any) -> Iterator[dict[str, Any]]:
    """Every mapping in a loaded workflow or action, depth first."""
    if isinstance(doc, dict):
        yield doc
        for value in doc.values():
            yield from _mappings(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from _mappings(value)


def _run_scripts(doc: Any) -> list[str]:
    return [m["run"] for m in _mappings(doc) if isinstance(m.get("run"), str)]


@pytest.mark.parametrize(
    "script",
    [*sorted((GITHUB / "scripts").glob("*.sh")), *ACTIONS],
    ids=lambda p: p.name if p.suffix == ".sh" else p.parent.name,
)
def test_scripts_outside_workflows_pass_shellcheck(tmp_path: Path, script: Path) -> None:
    """actionlint checks the workflows' `run:` scripts; the composite action's and the script
    files are checked here the same way (expressions become placeholders, as actionlint does)."""
    if script.suffix == ".sh":
        texts = [script.read_text()]
    else:
        texts = [
            re.sub(r"\$\{\{[^}]*\}\}", "placeholder", t)
            for t in _run_scripts(yaml.safe_load(script.read_text()))
        ]
    assert texts
    for number, text in enumerate(texts):
        path = tmp_path / f"{number}.sh"
        path.write_text(text if text.startswith("#!") else "#!/usr/bin/env bash\nset -e\n" + text)
        result = subprocess.run(
            [tool("shellcheck"), "--norc", str(path)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout


def _uses(path: Path) -> list[str]:
    return re.findall(r"^\s*(?:-\s+)?uses:\s*(.+)$", path.read_text(), re.M)


def test_every_action_is_pinned_to_a_commit() -> None:
    pins: dict[str, set[str]] = {}
    for path in [*WORKFLOWS.values(), *ACTIONS]:
        for use in _uses(path):
            if use.startswith("./"):
                assert (ROOT / use.split()[0] / "action.yml").exists(), use
                continue
            found = re.fullmatch(
                r"([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)", use.strip()
            )
            assert found, f"{path.name}: {use!r} is not pinned as owner/name@<commit> # vX.Y.Z"
            pins.setdefault(found.group(1).lower(), set()).add(found.group(2) + found.group(3))
    assert all(len(v) == 1 for v in pins.values()), {k: v for k, v in pins.items() if len(v) > 1}
    assert {
        "pulumi/actions",
        "pulumi/auth-actions",
        "aws-actions/configure-aws-credentials",
        "azure/login",
    } <= set(pins)


INPUTS = json.loads((ROOT / "schemas" / "actions" / "inputs.json").read_text())
"""Inputs of each pinned action, from its action.yml at the pinned commit (`source`)."""


def _steps(doc: Any) -> list[dict[str, Any]]:
    return [m for m in _mappings(doc) if "uses" in m]


def test_action_inputs_are_those_of_the_pinned_commit() -> None:
    local = {f"./.github/actions/{p.parent.name}": yaml.safe_load(p.read_text()) for p in ACTIONS}
    for path in [*WORKFLOWS.values(), *ACTIONS]:
        for step in _steps(yaml.safe_load(path.read_text())):
            name, _, ref = str(step["uses"]).partition("@")
            given = set(step.get("with") or {})
            if name in local:
                inputs = {
                    k: {"required": v.get("required", False) and "default" not in v}
                    for k, v in local[name]["inputs"].items()
                }
            else:
                pinned = INPUTS.get(name.lower(), {})
                assert pinned.get("commit") == ref, (
                    f"{path.name}: {name}@{ref} has no vendored inputs: run "
                    f"python -m tools.action_pins --clone {name}=<git dir>"
                )
                assert pinned["runs"] == "node24", f"{name}: {pinned['runs']}"
                inputs = pinned["inputs"]
            assert given <= set(inputs), (
                f"{path.name}: {name} has no input {sorted(given - set(inputs))}"
            )
            required = {k for k, v in inputs.items() if v["required"]}
            assert required <= given or step.get("if"), (
                f"{path.name}: {name} needs {sorted(required - given)}"
            )


def test_vendored_inputs_are_exactly_the_pins() -> None:
    from tools.action_pins import pins

    assert {name: (e["commit"], e["tag"]) for name, e in INPUTS.items()} == pins()
    assert all(e["source"].endswith(f"/blob/{e['commit']}/action.yml") for e in INPUTS.values())


def test_no_long_lived_credentials() -> None:
    for path in [*WORKFLOWS.values(), *ACTIONS]:
        text = path.read_text()
        assert "secrets." not in text, path.name
        for word in (
            "aws-access-key-id",
            "aws-secret-access-key",
            "creds:",
            "PULUMI_ACCESS_TOKEN",
            "KUBECONFIG",
            "client-secret",
        ):
            assert word not in text, f"{path.name}: {word}"


def _jobs(name: str) -> dict[str, dict[str, Any]]:
    return load(name)["jobs"]


def _steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith(action)]


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_permissions_are_explicit_and_minimal(name: str) -> None:
    workflow = load(name)
    assert workflow["permissions"] == {"contents": "read"}, "top level: read only"
    for job_name, job in workflow["jobs"].items():
        granted = job.get("permissions", {})
        assert "write-all" not in str(granted)
        logs_in = any(
            s.get("with", {}).get("pulumi-org")
            for s in _steps_using(job, "./.github/actions/stack-setup")
        )
        assert (granted.get("id-token") == "write") == logs_in, (
            f"{name}.{job_name}: id-token only where OIDC logins happen"
        )
        writes = {k for k, v in granted.items() if v == "write"} - {"id-token"}
        scripts = " ".join(str(s.get("with", {}).get("script", "")) for s in job.get("steps", []))
        if "pull-requests" in writes:
            assert "post-comment.js" in scripts, (
                f"{name}.{job_name}: pull-requests: write but no comment"
            )
        if "issues" in writes:
            assert "issues.create" in scripts, f"{name}.{job_name}: issues: write but no issue"
        assert writes <= {"pull-requests", "issues"}, f"{name}.{job_name}: {writes}"


def _pulumi_commands(name: str) -> list[str]:
    scripts = [s.replace("\\\n", " ") for s in _run_scripts(load(name))]
    return [m for s in scripts for m in re.findall(r"^\s*pulumi (?:preview|up) [^\n]*", s, re.M)]


@pytest.mark.parametrize("name", ["preview", "deploy", "drift"])
def test_every_preview_and_up_runs_the_policy_pack(name: str) -> None:
    commands = _pulumi_commands(name)
    assert commands
    for command in commands:
        assert "--policy-pack policy --policy-pack-config" in command, command


def test_previews_and_drift_cover_every_shared_stack_and_offline_every_stack() -> None:
    assert sorted(_jobs("preview")["preview"]["strategy"]["matrix"]["stack"]) == SHARED_STATE
    assert sorted(_jobs("drift")["drift"]["strategy"]["matrix"]["stack"]) == SHARED_STATE
    assert sorted(_jobs("offline-diff")["diff"]["strategy"]["matrix"]["stack"]) == STACKS
    preview = _jobs("preview")["preview"]
    assert "head.repo.full_name == github.repository" in preview["if"]
    assert "--event-log preview-events.json" in " ".join(_pulumi_commands("preview"))


def test_deploy_promotes_dev_staging_production_with_approval() -> None:
    jobs = _jobs("deploy")
    assert list(jobs) == ["dev", "staging", "production"]
    assert (
        "needs" not in jobs["dev"]
        and jobs["staging"]["needs"] == "dev"
        and jobs["production"]["needs"] == "staging"
    )
    for stack, job in jobs.items():
        assert job["environment"] == stack
        assert job["concurrency"] == {"group": f"deploy-{stack}", "cancel-in-progress": False}
        (setup,) = _steps_using(job, "./.github/actions/stack-setup")
        assert setup["with"]["stack"] == stack
    assert _steps_using(jobs["dev"], "helm/kind-action")[0]["with"]["cluster_name"] == "webapp"
    assert load("deploy")["on"]["push"]["branches"] == ["main"]


def test_review_stack_follows_the_pull_request() -> None:
    workflow = load("review-stack")
    assert workflow["on"]["pull_request"]["types"] == [
        "opened",
        "synchronize",
        "reopened",
        "closed",
    ]
    job = workflow["jobs"]["review-stack"]
    assert "head.repo.full_name == github.repository" in job["if"]
    assert job["concurrency"]["cancel-in-progress"] is False
    steps = {s.get("name"): s for s in job["steps"]}
    up, down = steps["Create or update the review stack"], steps["Destroy the review stack"]
    assert (
        up["if"] == "github.event.action != 'closed'"
        and 'tools.branch up "$BRANCH" --policy-pack' in up["run"]
    )
    assert (
        down["if"] == "github.event.action == 'closed'"
        and 'tools.branch down "$BRANCH"' in down["run"]
    )


def test_drift_is_nightly_refreshed_and_loud() -> None:
    workflow = load("drift")
    assert workflow["on"]["schedule"]
    (command,) = _pulumi_commands("drift")
    assert "--refresh" in command and "--expect-no-changes" in command
    scripts = " ".join(
        str(s.get("with", {}).get("script", "")) for s in workflow["jobs"]["drift"]["steps"]
    )
    assert "issues.create" in scripts


def test_offline_comment_never_runs_pull_request_code() -> None:
    workflow = load("offline-comment")
    assert list(workflow["on"]) == ["workflow_run"]
    (job,) = workflow["jobs"].values()
    (checkout,) = _steps_using(job, "actions/checkout")
    assert (
        "ref" not in checkout["with"] and checkout["with"]["sparse-checkout"] == ".github/scripts"
    )
    assert not _run_scripts(workflow), "no shell step: artifacts are data"
    script = _steps_using(job, "actions/github-script")[0]["with"]["script"]
    assert "head.sha !== process.env.HEAD_SHA" in script and "STACKS.includes(stack)" in script
    diff = load("offline-diff")
    assert "pull_request_target" not in diff["on"] and set(diff["permissions"]) == {"contents"}


def _node() -> str:
    return program("node")


def run_post_comment(tmp_path: Path, existing: list[dict[str, Any]], **call: Any) -> dict[str, Any]:
    driver = tmp_path / "driver.js"
    driver.write_text(
        "const post = require(process.argv[2]);\n"
        "const calls = [];\n"
        "const existing = JSON.parse(process.argv[3]);\n"
        "const github = {\n"
        "  paginate: async (fn, args) => { calls.push(['list', args]); return existing; },\n"
        "  rest: { issues: {\n"
        "    listComments: 'listComments',\n"
        "    updateComment: async (a) => { calls.push(['update', a]); },\n"
        "    createComment: async (a) => { calls.push(['create', a]); return { data: { id: 99 } }; },\n"
        "  } },\n"
        "};\n"
        "const context = { repo: { owner: 'o', repo: 'r' } };\n"
        "post({ github, context, ...JSON.parse(process.argv[4]) })\n"
        "  .then((r) => console.log(JSON.stringify({ result: r, calls })))\n"
        "  .catch((e) => console.log(JSON.stringify({ error: e.message })));\n"
    )
    out = subprocess.run(
        [
            _node(),
            str(driver),
            str(GITHUB / "scripts" / "post-comment.js"),
            json.dumps(existing),
            json.dumps(call),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout))


def test_comment_script_creates_then_edits_in_place(tmp_path: Path) -> None:
    body = "<!-- webapp-preview:production -->\n### `production`: no changes"
    first = run_post_comment(tmp_path, [], issueNumber=7, stack="production", body=body)
    assert first["result"] == {"action": "created", "id": 99}
    assert first["calls"][1] == [
        "create",
        {"owner": "o", "repo": "r", "issue_number": 7, "body": body},
    ]
    others = [
        {"id": 1, "user": {"type": "User"}, "body": body},  # a person quoting it is not ours
        {"id": 2, "user": {"type": "Bot"}, "body": "<!-- webapp-preview:staging -->\nx"},
        {"id": 3, "user": {"type": "Bot"}, "body": body + " (old)"},
    ]
    second = run_post_comment(tmp_path, others, issueNumber=7, stack="production", body=body)
    assert second["result"] == {"action": "updated", "id": 3}


def test_comment_script_refuses_bad_input_and_cuts_long_bodies(tmp_path: Path) -> None:
    assert (
        "not a stack name"
        in run_post_comment(tmp_path, [], issueNumber=7, stack="../x", body="b")["error"]
    )
    assert (
        "not a pull request number"
        in run_post_comment(tmp_path, [], issueNumber=0, stack="dev", body="b")["error"]
    )
    long = run_post_comment(tmp_path, [], issueNumber=7, stack="dev", body="x" * 100_000)
    text = long["calls"][1][1]["body"]
    assert (
        len(text) <= 65536
        and text.startswith("<!-- webapp-preview:dev -->")
        and "comment limit" in text
    )


def test_esc_credentials_replace_the_login_actions() -> None:
    """With `esc-environment` the cloud logins are skipped and the cluster login runs under
    `pulumi env run`, so no job needs both."""
    action = yaml.safe_load(ACTIONS[0].read_text())
    steps = action["runs"]["steps"]
    logins = [s for s in steps if str(s.get("uses", "")).startswith(("aws-actions/", "azure/"))]
    assert len(logins) == 2 and all("inputs.esc-environment == ''" in s["if"] for s in logins)
    (context,) = [s for s in steps if s.get("name") == "Cluster context"]
    assert (
        'pulumi env run "$ESC_ENVIRONMENT" -- bash .github/scripts/cluster-login.sh'
        in context["run"]
    )
    for name in ("preview", "deploy", "drift", "review-stack"):
        for job in load(name)["jobs"].values():
            for setup in _steps_using(job, "./.github/actions/stack-setup"):
                if setup["with"].get("pulumi-org"):
                    assert setup["with"]["esc-environment"] == "${{ vars.ESC_ENVIRONMENT }}"


def test_dependabot_watches_every_pin() -> None:
    config = yaml.safe_load((GITHUB / "dependabot.yml").read_text())
    watched = {(u["package-ecosystem"], d) for u in config["updates"] for d in u["directories"]}
    actions = {("github-actions", "/")} | {
        ("github-actions", f"/.github/actions/{p.parent.name}") for p in ACTIONS
    }
    assert actions | {("pip", "/"), ("pip", "/policy")} == watched
