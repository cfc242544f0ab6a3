"""The pack as a whole: its entry point, its pinned runtime, each stack's config, and every
shipped stack (each cloud) passing it; a stack that breaks a rule is blocked."""

from __future__ import annotations

import inspect
import json
import runpy
from pathlib import Path
from typing import Any
from unittest import mock

import jsonschema
import pytest
import yaml

from tools.golden import VARIANTS, stacks, variant_overrides
from tools.offline import ROOT, load_stack_config, stack_names
from tools.policy_check import CONFIG, PACK, check, config_file, load_config, policies

from . import test_rules

STACKS = stacks()


def test_every_policy_has_passing_and_failing_cases() -> None:
    classes = [c for _, c in inspect.getmembers(test_rules, inspect.isclass) if hasattr(c, "NAME")]
    names = {c.NAME for c in classes}
    assert names == {p.name for p in policies()}
    for case in classes:
        tests = [m for m in dir(case) if m.startswith("test_")]
        assert any(m.startswith("test_passes") for m in tests), case.NAME
        assert any(m.startswith("test_flags") for m in tests), case.NAME


def test_names_unique_and_levels_explicit() -> None:
    names = [p.name for p in policies()]
    assert len(names) == len(set(names))
    assert all(p.enforcement_level is not None for p in policies())


def test_entry_point_builds_the_pack_from_every_policy() -> None:
    with mock.patch("pulumi_policy.PolicyPack") as pack:
        runpy.run_path(str(PACK / "__main__.py"), run_name="__main__")
    (call,) = pack.call_args_list
    assert call.kwargs["name"] == "webapp"
    assert [p.name for p in call.kwargs["policies"]] == [p.name for p in policies()]


def test_pack_runtime_pinned_like_the_suite() -> None:
    meta = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert meta["runtime"]["name"] == "python" and meta["version"]

    def pins(path: Path) -> dict[str, str]:
        lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
        return dict(line.split("==") for line in lines if "==" in line)

    pack, program, dev = (
        pins(PACK / "requirements.txt"),
        pins(ROOT / "requirements.txt"),
        pins(ROOT / "requirements-dev.txt"),
    )
    assert pack["pulumi"] == program["pulumi"]
    assert pack["pulumi-policy"] == dev["pulumi-policy"]


def _schema(policy: Any) -> dict[str, Any]:
    properties = dict(policy.config_schema.properties) if policy.config_schema else {}
    properties["enforcementLevel"] = {"enum": ["advisory", "mandatory", "remediate", "disabled"]}
    return {"type": "object", "properties": properties, "additionalProperties": False}


@pytest.mark.parametrize("stack", STACKS)
def test_stack_config_names_real_policies_and_fits_their_schemas(stack: str) -> None:
    config = load_config(stack)
    known = {p.name: p for p in policies()}
    for name, value in config.items():
        assert name in known, f"{config_file(stack).name}: {name!r} is not a policy of the pack"
        jsonschema.validate(value, _schema(known[name]))


def test_every_stack_has_a_config_and_no_config_lacks_a_stack() -> None:
    configs = {p.stem for p in CONFIG.glob("*.json")}
    assert set(STACKS) <= configs
    # A stack of your own has its config beside the shipped ones; none is left without a stack.
    assert configs <= set(stack_names()), sorted(configs - set(stack_names()))


@pytest.mark.parametrize("stack", STACKS)
def test_trusted_issuers_are_the_stack_clusters(stack: str) -> None:
    """The issuers the pack trusts are the clusters the stack file names (both clouds: each
    stack file carries both); dev also trusts staging's AKS cluster, where branch stacks run."""
    issuers = {i.rstrip("/") for i in load_config(stack)["federated-credentials"]["issuers"]}
    config = load_stack_config(stack)
    expected = {
        config["webapp:aws"]["oidcIssuerUrl"].rstrip("/"),
        config["webapp:azure"]["oidcIssuerUrl"].rstrip("/"),
    }
    if stack == "dev":
        expected.add(load_stack_config("staging")["webapp:azure"]["oidcIssuerUrl"].rstrip("/"))
    assert issuers == expected


# Advisory findings on objects of an upstream manifest the program applies as released (the
# RabbitMQ operator's, schemas/manifests/): its container writes its root filesystem
# (config/manager/manager.yaml at v2.22.3 sets no readOnlyRootFilesystem). Advisory only; no
# mandatory finding is ever accepted here.
UPSTREAM_ADVISORIES = {
    "[advisory] containers-read-only-root: Deployment rabbitmq-system/rabbitmq-cluster-operator: "
    "containers[operator]: root filesystem is writable"
}


@pytest.mark.parametrize("stack,variant", [(s, v) for s in STACKS for v in VARIANTS])
def test_shipped_stacks_pass_the_whole_pack(stack_run: Any, stack: str, variant: str) -> None:
    findings = check(
        stack_run(stack, variant_overrides(stack, variant) or None), load_config(stack)
    )
    assert [str(f) for f in findings if str(f) not in UPSTREAM_ADVISORIES] == []


def test_production_without_protect_is_blocked(stack_run: Any) -> None:
    run = stack_run("production", {"webapp:protect": False})
    findings = [f for f in check(run, load_config("production")) if f.level == "mandatory"]
    blocked = {f.policy for f in findings}
    assert blocked == {"stateful-resources-protected"}
    assert any("webapp-rds-instance" in f.message for f in findings)


def test_production_rules_applied_to_dev_sizing_are_blocked(stack_run: Any) -> None:
    """The thresholds are per stack: dev as it ships breaks production's (one replica, one day
    of backups), which is what the production config is for."""
    run = stack_run("dev", {"webapp:cloud": "aws"})
    blocked = {f.policy for f in check(run, json.loads(config_file("production").read_text()))}
    assert {
        "workloads-min-replicas",
        "database-backups",
        "database-deletion-protection",
        "stateful-resources-protected",
        "federated-credentials",
    } <= blocked


def test_code_defaults_are_the_schema_defaults(stack_run: Any) -> None:
    """Whether or not the CLI fills in a schema's defaults, a policy behaves the same: run with
    no config and with every schema default spelled out, the pack finds the same on a stack that
    breaks the defaults (dev's sizing on AWS)."""
    run = stack_run("dev", {"webapp:cloud": "aws"})
    spelled = {
        p.name: {k: v["default"] for k, v in p.config_schema.properties.items() if "default" in v}
        for p in policies()
        if p.config_schema
    }
    assert all(spelled.values())
    implicit = sorted(map(str, check(run, {})))
    assert implicit and implicit == sorted(map(str, check(run, spelled)))


def test_protected_types_cover_what_the_change_planner_calls_data() -> None:
    """The pack cannot import the program's tools (it runs in its own virtualenv), so its list
    of data-holding types is its own; it must cover every type tools.changes says loses data."""
    from tools.changes import STATEFUL

    policies()  # puts policy/ on the path, as the CLI's analyzer does
    from webapp_policy.protection import STATEFUL as PROTECTED

    assert set(STATEFUL) <= set(PROTECTED)


@pytest.mark.parametrize(
    "target,stack,pack,config",
    [
        ("preview", "production", "policy", "policy/config/production.json"),
        ("up", "staging", "policy", "policy/config/staging.json"),
        ("up", "feature-login", "../base/policy", "../base/policy/config/dev.json"),
    ],
)
def test_make_preview_and_up_run_the_pack(target: str, stack: str, pack: str, config: str) -> None:
    """Every way the Makefile applies or previews a stack passes a pack and its thresholds;
    POLICY_PACK is how CI points it at the base branch's checkout."""
    import subprocess

    shown = subprocess.run(
        ["make", "-n", target, f"STACK={stack}", f"POLICY_PACK={pack}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    (command,) = [line for line in shown if line.startswith(f"pulumi {target} ")]
    assert command.endswith(f"--policy-pack {pack} --policy-pack-config {config}")
    assert f"test -f {config}" in "\n".join(shown)


def test_make_branch_up_runs_the_pack() -> None:
    import subprocess

    shown = subprocess.run(
        ["make", "-n", "branch-up", "BRANCH=feature/x", "POLICY_PACK=../base/policy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert 'tools.branch up "feature/x" --policy-pack ../base/policy' in shown


def _owners(path: str) -> list[str]:
    """The owners CODEOWNERS gives `path` (anchored patterns, a trailing / for a directory;
    the last matching line wins, as on GitHub)."""
    owners: list[str] = []
    for line in (ROOT / ".github" / "CODEOWNERS").read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        pattern = fields[0].lstrip("/")
        if path == pattern or (pattern.endswith("/") and path.startswith(pattern)):
            owners = fields[1:]
    return owners


@pytest.mark.parametrize(
    "path",
    [
        "policy/webapp_policy/kubernetes.py",
        "policy/config/production.json",
        "policy/PulumiPolicy.yaml",
        "tests/policy/test_bypasses.py",
        "tools/policy_check.py",
        "tools/policy_config.py",
        "schemas/manifests/rabbitmq-cluster-operator-v2.22.3.yaml",
        "Makefile",
        ".github/workflows/preview.yml",
        ".github/CODEOWNERS",
    ],
)
def test_codeowners_guard_the_pack(path: str) -> None:
    assert (ROOT / path).exists(), path
    assert _owners(path), f"{path} has no code owner"
