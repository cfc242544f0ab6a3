"""The offline runner (tools.policy_check) hands the pack what the engine would: the objects of
every yaml ConfigFile/ConfigGroup as that component's children, with the protect they inherit;
a manifest it cannot read is a mandatory finding, never a silent pass."""

from __future__ import annotations

from typing import Any

import yaml

from components.platform.addons import RABBITMQ_OPERATOR_MANIFEST
from tools.golden import variant_overrides
from tools.offline import Registered, StackRun
from tools.policy_check import VENDORED_MANIFESTS, check, checked, load_config

from .test_rules import container, deployment

CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"


def component(typ: str, inputs: dict[str, Any], protect: bool = False) -> Registered:
    urn = f"urn:pulumi:t::webapp::{typ}::m"
    return Registered(typ, "m", urn, "", False, inputs, protect=protect)


def run_of(*resources: Registered) -> StackRun:
    return StackRun("t", list(resources), {}, set())


def test_the_program_s_manifests_are_vendored() -> None:
    """Bumping the operator without vendoring its manifest would leave its objects unseen."""
    assert RABBITMQ_OPERATOR_MANIFEST in VENDORED_MANIFESTS
    assert VENDORED_MANIFESTS[RABBITMQ_OPERATOR_MANIFEST].exists()


def test_config_file_children_are_checked_with_inherited_protect(stack_run: Any) -> None:
    run = stack_run("production", variant_overrides("production", "optional-services"))
    children = {
        r.name: r for r in checked(run) if r.parent.endswith("::webapp-addons-rabbitmq-operator")
    }
    operator = children["webapp-addons-rabbitmq-operator:rabbitmq-system/rabbitmq-cluster-operator"]
    assert operator.type == "kubernetes:apps/v1:Deployment"
    namespace = children["webapp-addons-rabbitmq-operator:/rabbitmq-system"]
    assert namespace.type == "kubernetes:core/v1:Namespace" and namespace.protect


def test_a_privileged_pod_in_a_config_group_is_reported() -> None:
    bad = deployment(containers=[container(securityContext={"privileged": True})])
    group = component("kubernetes:yaml/v2:ConfigGroup", {"yaml": yaml.safe_dump(bad)})
    found = [f for f in check(run_of(group), {}) if f.policy == "pods-restricted-security"]
    assert found and all(f.level == "mandatory" for f in found)
    assert any(f.message.endswith(": privileged") for f in found)


def test_an_unreadable_manifest_blocks() -> None:
    remote = component(CONFIG_FILE, {"file": "https://example.com/operator.yml"})
    (finding,) = [
        f for f in check(run_of(remote), load_config("production")) if f.policy == "offline-runner"
    ]
    assert finding.level == "mandatory" and "https://example.com/operator.yml" in finding.message


def test_the_runner_judges_by_another_checkout_s_pack(tmp_path: Any, capsys: Any) -> None:
    """`--pack DIR` (CI: the base branch's checkout) takes the thresholds from that pack: a
    copy whose dev config is production's blocks dev."""
    import shutil

    from tools.policy_check import PACK, main

    copy = tmp_path / "policy"
    shutil.copytree(PACK, copy, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    shutil.copy(copy / "config" / "production.json", copy / "config" / "dev.json")
    assert main(["dev", "--pack", str(copy)]) == 1
    assert "workloads-min-replicas" in capsys.readouterr().out
    assert main(["dev"]) == 0
