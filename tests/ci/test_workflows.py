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
        "review-admin",
        "review-sweep",
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
    [*sorted((GITHUB / "scripts").glob("*.sh")), GITHUB / "scripts" / "esc" / "pulumi", *ACTIONS],
    ids=lambda p: p.parent.name if p.name == "action.yml" else p.name,
)
def test_scripts_outside_workflows_pass_shellcheck(tmp_path: Path, script: Path) -> None:
    """actionlint checks the workflows' `run:` scripts; the composite action's and the script
    files are checked here the same way (expressions become placeholders, as actionlint does)."""
    if script.name != "action.yml":
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
            s.get("with", {}).get(key)
            for s in _steps_using(job, "./.github/actions/stack-setup")
            for key in ("pulumi-org", "aws-role-arn", "azure-client-id")
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


PACK_OF = {"preview": "base/policy", "deploy": "policy", "drift": "policy"}
"""The pack each workflow runs: pull-request code is held to the base branch's."""


@pytest.mark.parametrize("name", ["preview", "deploy", "drift"])
def test_every_preview_and_up_runs_the_policy_pack(name: str) -> None:
    commands = _pulumi_commands(name)
    assert commands
    for command in commands:
        assert f"--policy-pack {PACK_OF[name]} --policy-pack-config" in command, command


def test_previews_and_drift_cover_every_shared_stack_and_offline_every_stack() -> None:
    assert sorted(_jobs("preview")["preview"]["strategy"]["matrix"]["stack"]) == SHARED_STATE
    assert sorted(_jobs("drift")["drift"]["strategy"]["matrix"]["stack"]) == SHARED_STATE
    assert sorted(_jobs("offline-diff")["diff"]["strategy"]["matrix"]["stack"]) == STACKS
    preview = _jobs("preview")["preview"]
    assert "head.repo.full_name == github.repository" in preview["if"]
    assert "--event-log preview-events.json" in " ".join(_pulumi_commands("preview"))


def test_deploy_promotes_dev_staging_production_with_approval() -> None:
    jobs = _jobs("deploy")
    assert list(jobs) == ["dev", "staging", "production-plan", "production"]
    assert (
        "needs" not in jobs["dev"]
        and jobs["staging"]["needs"] == "dev"
        and jobs["production-plan"]["needs"] == "staging"
        and jobs["production"]["needs"] == "production-plan"
    )
    for stack in ("dev", "staging", "production"):
        job = jobs[stack]
        assert job["environment"] == stack
        assert job["concurrency"] == {"group": f"deploy-{stack}", "cancel-in-progress": False}
        (setup,) = _steps_using(job, "./.github/actions/stack-setup")
        assert setup["with"]["stack"] == stack
    assert _steps_using(jobs["dev"], "helm/kind-action")[0]["with"]["cluster_name"] == "webapp"
    assert load("deploy")["on"]["push"]["branches"] == ["main"]


def test_review_stack_follows_the_pull_request() -> None:
    workflow = load("review-stack")
    assert workflow["on"]["pull_request"]["types"] == ["opened", "synchronize", "reopened"]
    job = workflow["jobs"]["review-stack"]
    assert "head.repo.full_name == github.repository" in job["if"]
    assert "dependabot[bot]" in job["if"]
    assert job["environment"] == "review"
    assert job["concurrency"] == {
        "group": "review-stack-${{ github.event.pull_request.number }}",
        "cancel-in-progress": False,
    }
    steps = {s.get("name"): s for s in job["steps"]}
    up = steps["Create or update the review stack"]
    assert 'tools.branch up --pr "$NUMBER" --policy-pack base/policy' in up["run"]
    names = list(steps)
    assert names.index(
        "Wait for the namespace (review-admin.yml creates it and binds this identity)"
    ) < names.index("Create or update the review stack")
    # Closing is review-admin's, from the base branch, in the same concurrency group.
    admin = load("review-admin")
    assert admin["on"] == {
        "pull_request_target": {"types": ["opened", "synchronize", "reopened", "closed"]}
    }
    destroy = admin["jobs"]["destroy"]
    assert destroy["concurrency"]["group"] == job["concurrency"]["group"]
    assert "github.event.action == 'closed'" in destroy["if"]
    assert any('tools.branch down --pr "$NUMBER"' in str(s.get("run")) for s in destroy["steps"])
    assert admin["jobs"]["release"]["needs"] == "destroy"


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
        {
            "id": 2,
            "user": {"login": "github-actions[bot]"},
            "body": "<!-- webapp-preview:staging -->\nx",
        },
        {"id": 3, "user": {"login": "github-actions[bot]"}, "body": body + " (old)"},
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


# --- zizmor ------------------------------------------------------------------------------------

ZIZMOR_CONFIG = GITHUB / "zizmor.yml"


def _zizmor(target: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", "--format", "plain", *extra, str(target)],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_zizmor_offline_has_no_unexplained_findings() -> None:
    """Workflows, the composite action and dependabot.yml, with the auditor persona (every audit,
    informational ones included: anonymous jobs, missing concurrency, undocumented permissions);
    the accepted findings are the ones `.github/zizmor.yml` ignores, each with its reason."""
    result = _zizmor(ROOT, ROOT, "--persona", "auditor", "--config", str(ZIZMOR_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


def test_zizmor_accepts_only_the_explained_findings() -> None:
    """A new ignore is a decision: it is listed here, and the config says why (a comment)."""
    config = yaml.safe_load(ZIZMOR_CONFIG.read_text())
    assert {rule: entry["ignore"] for rule, entry in config["rules"].items()} == {
        "dangerous-triggers": ["offline-comment.yml", "review-admin.yml"],
        "github-env": ["action.yml"],
        "self-repository": [
            "deploy.yml",
            "drift.yml",
            "preview.yml",
            "review-stack.yml",
            "review-admin.yml",
            "review-sweep.yml",
        ],
    }
    text = ZIZMOR_CONFIG.read_text()
    for rule in config["rules"]:
        block = re.search(rf"^  {rule}:\n((?:    .*\n|\s*\n)*)", text, re.M)
        assert block and re.search(r"^\s+# \S", block.group(1), re.M), f"{rule}: no reason given"


def test_zizmor_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The check is real: template injection and a dangerous trigger are reported."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: pull_request_target\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    result = _zizmor(tmp_path, tmp_path)
    assert result.returncode != 0
    assert "template-injection" in result.stdout and "dangerous-triggers" in result.stdout


# --- supply chain in the jobs that hold credentials ----------------------------------------------

CREDENTIALED = {
    ("deploy", "staging"),
    ("deploy", "production-plan"),
    ("deploy", "production"),
    ("preview", "preview"),
    ("drift", "drift"),
    ("review-stack", "review-stack"),
    ("review-admin", "namespace"),
    ("review-admin", "destroy"),
    ("review-admin", "release"),
    ("review-sweep", "stacks"),
    ("review-sweep", "namespaces"),
}
"""The jobs that hold `id-token: write` (Pulumi Cloud tokens and cloud credentials)."""
STACK_SETUP = yaml.safe_load((GITHUB / "actions" / "stack-setup" / "action.yml").read_text())
DEV_ONLY_MODULES = (
    "pytest",
    "xdist",
    "kubernetes_validate",
    "jsonschema",
    "celpy",
    "ruff",
    "mypy",
    "pulumi_policy",
    "zizmor",
)
"""Import names of requirements-dev.txt's own packages: none may be needed where credentials are."""


def _credentialed_scripts(workflow: str, job: dict[str, Any]) -> list[str]:
    scripts = _run_scripts(job)
    if _steps_using(job, "./.github/actions/stack-setup"):
        scripts += _run_scripts(STACK_SETUP)
    return [s.replace("\\\n", " ") for s in scripts]


def test_exactly_these_jobs_hold_id_token_write() -> None:
    holding = {
        (name, job_name)
        for name in WORKFLOWS
        for job_name, job in _jobs(name).items()
        if (job.get("permissions") or {}).get("id-token") == "write"
    }
    assert holding == CREDENTIALED


def _installs(script: str) -> list[str]:
    return re.findall(r"^.*\b(?:pip install|make venv|make \w+|uv pip).*$", script, re.M)


@pytest.mark.parametrize("workflow, job_name", sorted(CREDENTIALED))
def test_credentialed_jobs_install_the_runtime_from_hashed_locks(
    workflow: str, job_name: str
) -> None:
    scripts = _credentialed_scripts(workflow, _jobs(workflow)[job_name])
    installs = [line for s in scripts for line in _installs(s)]
    assert installs, f"{workflow}.{job_name}: installs nothing?"
    for line in installs:
        assert "make " not in line, f"{workflow}.{job_name}: {line.strip()} (the dev venv)"
        assert "requirements-dev" not in line, line
        assert re.search(
            r'pip install .*--require-hashes .*-r (?:"\$PACK/)?requirements\.lock', line
        ), f"{workflow}.{job_name}: {line.strip()} does not install from a hashed lock"
        assert "--no-deps" in line, line
    assert not any("requirements-dev" in s for s in scripts)


@pytest.mark.parametrize("workflow, job_name", sorted(CREDENTIALED))
def test_credentialed_jobs_run_only_tools_that_need_no_dev_package(
    workflow: str, job_name: str
) -> None:
    """The tools the job runs from the runtime-only .venv import with every dev package absent."""
    scripts = " ".join(_credentialed_scripts(workflow, _jobs(workflow)[job_name]))
    modules = sorted(set(re.findall(r"\.venv/bin/python -m (tools\.\w+)", scripts)))
    if not modules:
        return
    blocked = "; ".join(f"sys.modules[{m!r}] = None" for m in DEV_ONLY_MODULES)
    code = f"import sys, importlib; {blocked}; " + "; ".join(
        f"importlib.import_module({m!r})" for m in modules
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, f"{workflow}.{job_name}: {modules}\n{result.stderr}"


def _pins(path: Path) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\#;]+)", path.read_text(), re.M)
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in found}


def _lock(path: Path) -> dict[str, tuple[str, int]]:
    entries: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", path.read_text()):
        found = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block)
        if found:
            name = re.sub(r"[-_.]+", "-", found.group(1)).lower()
            entries[name] = (found.group(2), len(re.findall(r"--hash=sha256:[0-9a-f]{64}", block)))
    return entries


LOCKS = {
    ROOT / "requirements.txt": ROOT / "requirements.lock",
    ROOT / "policy" / "requirements.txt": ROOT / "policy" / "requirements.lock",
}


@pytest.mark.parametrize("requirements", sorted(LOCKS), ids=lambda p: str(p.relative_to(ROOT)))
def test_lock_covers_every_pin_with_hashes(requirements: Path) -> None:
    lock = _lock(LOCKS[requirements])
    pins = _pins(requirements)
    assert pins and lock
    for name, version in pins.items():
        assert name in lock, f"{LOCKS[requirements].name}: no {name} (regenerate the lock)"
        assert lock[name][0] == version, f"{name}: lock has {lock[name][0]}, pin is {version}"
    assert all(hashes for _, hashes in lock.values()), {n for n, (_, h) in lock.items() if not h}
    text = re.sub(r"(?m)^#.*\n", "", LOCKS[requirements].read_text())
    assert "--find-links" not in text and "--index-url" not in text and "-e " not in text


@pytest.mark.parametrize("requirements", sorted(LOCKS), ids=lambda p: str(p.relative_to(ROOT)))
def test_lock_is_closed_under_dependencies(requirements: Path) -> None:
    """Every dependency (Python 3.11, this platform's markers) of a locked package is locked,
    read from the installed distribution's metadata where the installed version is the locked
    one (pip's --require-hashes refuses an unlocked dependency at install time anyway)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    lock = _lock(LOCKS[requirements])
    checked = 0
    for name, (version, _) in lock.items():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if dist.version != version:
            continue
        checked += 1
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker and not req.marker.evaluate({"extra": ""}):
                continue
            dep = re.sub(r"[-_.]+", "-", req.name).lower()
            assert dep in lock, f"{name} {version} needs {req}, not in the lock"
            assert req.specifier.contains(lock[dep][0], prereleases=True), (
                f"{name} needs {req}, the lock has {lock[dep][0]}"
            )
    assert checked >= len(lock) // 2, "too few locked versions installed to check"


def _version_script() -> str:
    (step,) = [s for s in STACK_SETUP["runs"]["steps"] if s.get("id") == "version"]
    return str(step["run"])


@pytest.mark.parametrize(
    "pin, accepted",
    [
        ("pulumi==3.272.0", True),
        ("pulumi==3.272.0  # the SDK", True),
        ("pulumi>=3.272.0", False),
        ("pulumi==3.272", False),
        ("pulumi==3.272.0rc1", False),
        ("pulumi==latest", False),
        ("pulumi-kubernetes==4.34.2", False),
        ("", False),
    ],
)
def test_cli_version_is_the_sdk_pin_as_x_y_z_or_the_job_fails(
    tmp_path: Path, pin: str, accepted: bool
) -> None:
    (tmp_path / "requirements.txt").write_text(f"PyYAML==6.0.3\n{pin}\n")
    output = tmp_path / "output"
    output.touch()
    result = subprocess.run(
        ["bash", "-e", "-c", _version_script()],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "GITHUB_OUTPUT": str(output)},
    )
    if accepted:
        assert result.returncode == 0, result.stdout + result.stderr
        assert output.read_text() == "pulumi=3.272.0\n"
    else:
        assert result.returncode != 0 and "not X.Y.Z" in result.stdout, pin
        assert "pulumi=" not in output.read_text()


def test_the_shipped_pin_passes_the_cli_version_check(tmp_path: Path) -> None:
    output = tmp_path / "output"
    result = subprocess.run(
        ["bash", "-e", "-c", _version_script()],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "GITHUB_OUTPUT": str(output)},
    )
    assert (
        result.returncode == 0
        and output.read_text() == f"pulumi={_pins(ROOT / 'requirements.txt')['pulumi']}\n"
    )


CLUSTER_LOGIN = GITHUB / "scripts" / "cluster-login.sh"


def test_kubectl_and_kubelogin_are_pinned_with_checksums() -> None:
    text = CLUSTER_LOGIN.read_text()
    for tool_name in ("KUBECTL", "KUBELOGIN"):
        assert re.search(rf"^{tool_name}_VERSION=v\d+\.\d+\.\d+$", text, re.M), tool_name
        assert re.search(rf"^{tool_name}_SHA256=[0-9a-f]{{64}}$", text, re.M), tool_name
        (call,) = re.findall(rf"fetch \"[^\"]*\${tool_name}_VERSION[^\"]*\"[^\n]*\n?[^\n]*", text)
        assert f'"${tool_name}_SHA256"' in call, call
    # Every download goes through fetch (which checks the sha256); nothing unpinned is installed.
    assert len(re.findall(r"\bcurl\b", text)) == 1
    assert re.search(
        r'fetch\(\) \{\n\s+curl [^\n]*"\$1"\n\s+echo "\$2  \$3" \| sha256sum --check', text
    )
    code = re.sub(r"(?m)^\s*#.*$", "", text)
    for unpinned in ("install-cli", "latest", "stable.txt", "apt-get", "brew "):
        assert unpinned not in code, unpinned
    assert "cluster-login.sh" in " ".join(_run_scripts(STACK_SETUP))
    assert "install-cli" not in (GITHUB / "actions" / "stack-setup" / "action.yml").read_text()


def test_cluster_login_refuses_a_download_whose_checksum_differs(tmp_path: Path) -> None:
    """A tampered kubectl (what a fake curl serves) is never installed nor run."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    ran = tmp_path / "kubectl-ran"
    (bin_dir / "curl").write_text(
        '#!/bin/bash\nwhile [ $# -gt 0 ]; do [ "$1" = --output ] && out=$2; shift; done\n'
        'echo "not kubectl" > "$out"\n'
    )
    (bin_dir / "kubectl").write_text(f"#!/bin/bash\ntouch {ran}\n")
    for fake in bin_dir.iterdir():
        fake.chmod(0o755)
    result = subprocess.run(
        ["bash", str(CLUSTER_LOGIN), "none", "kind-webapp"],
        capture_output=True,
        text=True,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "RUNNER_TEMP": str(tmp_path)},
    )
    assert result.returncode != 0
    assert not ran.exists(), "kubectl ran after a failed checksum"
    assert not list(tmp_path.glob("cluster-tools.*/bin/kubectl"))


# --- the production plan hand-off ------------------------------------------------------------------


def test_production_is_approved_on_a_saved_plan_and_applies_exactly_it() -> None:
    jobs = _jobs("deploy")
    plan, deploy = jobs["production-plan"], jobs["production"]
    plan_scripts = "\n".join(s.replace("\\\n", " ") for s in _run_scripts(plan))
    (preview,) = re.findall(r"^\s*pulumi preview [^\n]*", plan_scripts, re.M)
    saved = re.search(r"--save-plan (\S+)", preview)
    assert saved and "--stack production" in preview
    assert "--policy-pack policy --policy-pack-config" in preview
    assert "GITHUB_STEP_SUMMARY" in plan_scripts
    (upload,) = _steps_using(plan, "actions/upload-artifact")
    assert saved.group(1) in upload["with"]["path"].split()
    assert upload["with"].get("if-no-files-found") == "error"
    # The plan is made with the read-only identity; the reviewers are on the deploy job, which
    # starts (and so asks for its approval) only after the plan exists.
    assert plan["environment"] == "production-read"
    assert deploy["environment"] == "production"
    assert deploy["needs"] == "production-plan" or "production-plan" in deploy["needs"]
    assert not any(
        j.get("environment") == "production" for n, j in jobs.items() if n != "production"
    )
    (download,) = _steps_using(deploy, "actions/download-artifact")
    assert download["with"]["name"] == upload["with"]["name"]
    deploy_scripts = "\n".join(s.replace("\\\n", " ") for s in _run_scripts(deploy))
    (up,) = re.findall(r"^\s*pulumi up [^\n]*", deploy_scripts, re.M)
    applied = re.search(r"--plan (\S+)", up)
    assert applied and applied.group(1) == f"{download['with']['path']}/{saved.group(1)}"
    assert "--stack production" in up and "pulumi preview" not in deploy_scripts
    steps = deploy["steps"]
    assert steps.index(download) < next(
        i for i, s in enumerate(steps) if "pulumi up" in str(s.get("run"))
    )


# --- offline-comment and the comment script ------------------------------------------------------


def test_offline_comment_posts_only_stacks_no_live_preview_comments_on() -> None:
    (job,) = load("offline-comment")["jobs"].values()
    script = _steps_using(job, "actions/github-script")[0]["with"]["script"]
    found = re.search(r"const STACKS = \[([^\]]*)\]", script)
    assert found
    stacks = set(re.findall(r"'([^']+)'", found.group(1)))
    assert stacks == {"dev"}
    assert not stacks & set(_jobs("preview")["preview"]["strategy"]["matrix"]["stack"])
    (download,) = _steps_using(job, "actions/download-artifact")
    assert download["with"]["pattern"] == "offline-diff-dev"


def test_comment_script_takes_over_only_github_actions_comments(tmp_path: Path) -> None:
    body = "<!-- webapp-preview:dev -->\n### `dev`: no changes"
    other_bot = [{"id": 5, "user": {"login": "some-app[bot]", "type": "Bot"}, "body": body}]
    result = run_post_comment(tmp_path, other_bot, issueNumber=7, stack="dev", body=body)
    assert result["result"] == {"action": "created", "id": 99}
    ours = [{"id": 6, "user": {"login": "github-actions[bot]", "type": "Bot"}, "body": body}]
    result = run_post_comment(tmp_path, ours, issueNumber=7, stack="dev", body=body)
    assert result["result"] == {"action": "updated", "id": 6}


def test_dependabot_waits_a_week_before_proposing_a_release() -> None:
    config = yaml.safe_load((GITHUB / "dependabot.yml").read_text())
    for update in config["updates"]:
        assert update.get("cooldown", {}).get("default-days", 0) >= 7, update["package-ecosystem"]


def _session_seconds() -> int:
    (action,) = [p for p in ACTIONS if p.parent.name == "stack-setup"]
    (step,) = [
        s
        for s in _steps(yaml.safe_load(action.read_text()))
        if "configure-aws-credentials" in s["uses"]
    ]
    return int(step["with"]["role-duration-seconds"])


def test_aws_credentials_outlast_every_job_that_gets_them() -> None:
    """configure-aws-credentials asks for 1 hour unless told (its action.yml at the pinned
    commit); a 90-minute up would lose its credentials part-way. Every job that runs the
    stack-setup action gets credentials for at least its timeout, and the README tells the
    deployer to allow that session length on the roles."""
    seconds = _session_seconds()
    for name in WORKFLOWS:
        for job_name, job in _jobs(name).items():
            if _steps_using(job, "./.github/actions/stack-setup"):
                assert int(job["timeout-minutes"]) * 60 <= seconds, (name, job_name)
    readme = (ROOT / "README.md").read_text()
    assert f"--max-session-duration {seconds}" in readme
