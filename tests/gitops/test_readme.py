"""README "GitOps" stays true: its sections exist, every `gitops:` key the project reads is in its
reference, and the versions, defaults, names and commands it states are the project's."""

from __future__ import annotations

import re

import pytest

from gitops import manifests
from gitops.config import parse_gitops
from gitops.pins import ARGO_CD, ARGO_CD_APP, PULUMI_OPERATOR
from tests.gitops.conftest import GITOPS_STACKS, gitops_config
from tests.support import readme_sections
from tools.offline import ROOT

README = (ROOT / "README.md").read_text()
SECTION = README.split("\n## GitOps\n", 1)[1].split("\n## ", 1)[0]


def test_the_section_covers_what_a_team_needs() -> None:
    anchors = readme_sections(README)
    for heading in (
        "bootstrap-one-command",
        "how-a-commit-reaches-production",
        "drift",
        "rollback",
        "pausing-reconciliation-in-an-incident",
        "taking-a-stack-back-to-workstation-or-ci-deployment",
    ):
        assert anchors.get(heading) == "GitOps", heading
    for link in re.findall(r"\]\(#([\w-]+)\)", SECTION):
        assert link in anchors, link


@pytest.mark.parametrize("stack", GITOPS_STACKS)
def test_every_key_read_is_in_the_reference(stack: str) -> None:
    consulted: set[str] = set()
    config = gitops_config(stack, {"gitops:handOver": True})
    parse_gitops(config, stack, consulted)
    documented = set(re.findall(r"`(gitops:[\w.<>]+)`", SECTION))
    for key in consulted:
        key = re.sub(
            r"^gitops:environments\.(dev|staging|production)", "gitops:environments.<stack>", key
        )
        parents = {entry.rsplit(".", 1)[0] for entry in documented}
        assert key in documented or key in parents, key


def test_the_stated_versions_and_defaults_are_the_project_s() -> None:
    flat = " ".join(SECTION.split())
    assert f"v2** (chart {PULUMI_OPERATOR['version']})" in flat
    assert f"(chart {ARGO_CD['version']}, Argo CD {ARGO_CD_APP})" in flat
    settings = parse_gitops(gitops_config("production"), "production")
    assert f"| `gitops:resyncMinutes` | `{settings.resync_minutes}` |" in flat
    assert f"| `gitops:namespace` | `{settings.namespace}` |" in flat
    assert "`gitops:handOver: false`" in flat and settings.hand_over is False
    assert "python -m gitops.promote production <full commit hash>" in flat
    assert "`gitops/promotions.yaml`" in flat and manifests.PROMOTIONS.exists()
    for field in ("lastSuccessfulCommit", "generation", "succeeded"):
        assert field in flat, field
    subject = manifests.identity_subject(settings.namespace, "<stack>")
    assert f"(`{subject}`)" in flat


def test_the_named_files_and_commands_exist() -> None:
    flat = SECTION.replace("\n", " ")
    for path in re.findall(r"`((?:gitops|tests)/[\w./]+\.(?:py|lua|yaml))`", flat):
        assert (ROOT / path).exists(), path
    for stack in re.findall(r"pulumi -C gitops up --stack (\w+)", flat):
        assert stack in GITOPS_STACKS
    assert "python -m gitops.manifests" in flat and "python -m tools.ci handed-over <stack>" in flat
    for status in ("Healthy", "Progressing", "Degraded"):
        assert status in flat


def test_the_change_table_names_every_change_the_safety_test_makes() -> None:
    from tests.gitops.test_safety import CHANGES

    table = SECTION.split("### Changing the GitOps project", 1)[1]
    flat = " ".join(table.split())
    for _, change in CHANGES:
        for key, value in change.items():
            if isinstance(value, dict) and key == "gitops:environments":
                continue  # per environment: the rows name gitops:environments.<stack>.<field>
            if isinstance(value, dict):
                base = key.split(":", 1)[1]
                fields = [f for f in value if f"`gitops:{base}." in flat and f in flat]
                assert fields, key
            else:
                assert f"`{key}`" in flat, key
    for field in ("secretsProvider", "after", "cloud", "roleArn", "clientId", "policyGroup"):
        assert field in flat


def test_the_policy_group_commands_name_the_pack_and_its_configs() -> None:
    """The enable line names the pack as policy/__main__.py declares it; every handed-over
    environment's config file exists; the group is preventative and holds the stack."""
    import ast

    source = (ROOT / "policy" / "__main__.py").read_text()
    pack = next(
        keyword.value.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "PolicyPack"
        for keyword in node.keywords
        if keyword.arg == "name" and isinstance(keyword.value, ast.Constant)
    )
    part = SECTION.split("### The policy pack in the workspace", 1)[1].split("\n### ", 1)[0]
    flat = " ".join(part.split())
    assert f"pulumi policy enable <org>/{pack} latest --policy-group <group>" in flat
    assert "--config policy/config/<stack>.json" in flat
    assert "--mode preventative" in flat and "--add-stack webapp/<stack>" in flat
    assert "`gitops:environments.<stack>.policyGroup`" in flat
    for stack in GITOPS_STACKS:
        for environment in parse_gitops(gitops_config(stack), stack).environments:
            assert (ROOT / "policy" / "config" / f"{environment.stack}.json").exists()
            assert environment.policy_group
