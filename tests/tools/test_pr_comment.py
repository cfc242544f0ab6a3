"""The pull-request comment: replacements and deletions first, policy and errors kept whole,
the GitHub size limit held, and the offline (golden render) source classifying changes."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tools import pr_comment as pc

EVENTS = Path(__file__).parent / "fixtures" / "preview-events.jsonl"


def report() -> pc.Report:
    return pc.from_events(EVENTS.read_text().splitlines())


def test_events_become_one_entry_per_resource() -> None:
    entries = {e.name: e for e in report().entries}
    assert {n: e.op for n, e in entries.items()} == {
        "webapp-nats-statefulset": "replace",
        "webapp-secrets-oauth-github": "delete",
        "webapp-api-deployment": "update",
        "webapp-api-config": "update",
        "webapp-monitoring-envoy": "create",
    }
    nats = entries["webapp-nats-statefulset"]
    assert nats.stateful and "spec.volumeClaimTemplates[0].spec.storageClassName" in nats.paths
    assert entries["webapp-secrets-oauth-github"].protected
    assert entries["webapp-api-deployment"].paths == ("spec.template.spec.containers[0].image",)


def test_risky_changes_and_policy_come_before_the_rest() -> None:
    text = pc.comment("production", report())
    assert text.startswith(pc.marker("production") + "\n### `production`: 1 replaced, 1 deleted")
    assert "mandatory policy violation(s): the update is blocked" in text.splitlines()[1]
    order = [
        text.index(s)
        for s in (
            "Replacements and deletions",
            "**replaced** `webapp-nats",
            "**deleted** `webapp-secrets",
            "#### Policy",
            "Updated in place (2)",
            "Created (1)",
        )
    ]
    assert order == sorted(order)
    assert "protected: the update will stop here" in text
    assert "[mandatory] images-pinned (webapp-api-deployment)" in text
    assert "a mere warning" not in text  # warnings stay in the job log


def test_errors_are_listed_first() -> None:
    lines = EVENTS.read_text().splitlines() + [
        json.dumps(
            {"diagnosticEvent": {"severity": "error", "message": "kubernetes: unreachable\n"}}
        )
    ]
    text = pc.comment("staging", pc.from_events(lines))
    assert "**1 error(s)**" in text and text.index("#### Errors") < text.index(
        "Replacements and deletions"
    )


def test_no_changes() -> None:
    text = pc.comment("dev", pc.Report())
    assert "### `dev`: no changes" in text and "<details>" not in text


def test_comment_fits_the_limit_and_keeps_every_risky_change() -> None:
    many = pc.Report(
        entries=[
            pc.Entry("create", f"webapp-object-{i:05d}", "kubernetes:core/v1:ConfigMap")
            for i in range(5000)
        ]
    )
    many.entries += [
        pc.Entry("delete", f"gone-{i}", "aws:kms/key:Key", stateful=True) for i in range(30)
    ]
    many.entries += [
        pc.Entry(
            "update",
            f"changed-{i}",
            "kubernetes:apps/v1:Deployment",
            tuple(f"spec.p{j}" for j in range(40)),
        )
        for i in range(2000)
    ]
    footer = "[full diff](https://example.invalid/artifact)"
    text = pc.comment("production", many, footer)
    assert len(text) <= pc.LIMIT
    assert all(f"`gone-{i}`" in text for i in range(30))
    assert "more: see the full diff" in text and "left off to fit the comment limit" in text
    assert text.rstrip().endswith(footer)


def write_render(root: Path, objects: list[dict], other: list[dict]) -> dict[str, str]:
    return {
        "webapp-x.yaml": yaml.safe_dump_all(objects),
        "_other-resources.yaml": yaml.safe_dump(other),
        "_outputs.yaml": "{}",
    }


def sts(storage: str, image: str = "nats:2.12") -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "nats", "namespace": "web"},
        "spec": {
            "serviceName": "nats",
            "template": {"spec": {"containers": [{"image": image}]}},
            "volumeClaimTemplates": [
                {"metadata": {"name": "data"}, "spec": {"storageClassName": storage}}
            ],
        },
    }


def rds(identifier: str, size: int = 100) -> dict:
    return {
        "type": "aws:rds/instance:Instance",
        "name": "webapp-rds-instance",
        "protect": True,
        "inputs": {"identifier": identifier, "allocatedStorage": size},
    }


def test_offline_diff_classifies_like_the_engine(tmp_path: Path) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "api", "namespace": "web"},
        "data": {"a": "1"},
    }
    base = write_render(tmp_path, [sts("gp3"), cm], [rds("webapp-production")])
    head = write_render(
        tmp_path,
        [sts("gp3", "nats:2.13"), {**cm, "data": {"a": "2"}}],
        [rds("webapp-production", 200)],
    )
    assert {(e.name, e.op) for e in pc.diff_renders(base, head).entries} == {
        ("web/nats", "update"),
        ("web/api", "update"),
        ("webapp-rds-instance", "update"),
    }
    head = write_render(tmp_path, [sts("premium")], [rds("webapp-prod")])
    entries = {e.name: e for e in pc.diff_renders(base, head).entries}
    assert entries["web/nats"].op == "replace" and entries["web/nats"].stateful
    assert entries["web/nats"].paths == ("spec.volumeClaimTemplates[0].spec.storageClassName",)
    assert (
        entries["webapp-rds-instance"].op == "replace" and entries["webapp-rds-instance"].protected
    )
    assert entries["web/api"].op == "delete"
    assert pc.diff_renders(head, base).entries and {
        e.op for e in pc.diff_renders({}, base).entries
    } == {"create"}


def test_offline_diff_of_a_commit_with_itself_is_empty() -> None:
    files = pc.golden_files("HEAD", "production")
    assert "_other-resources.yaml" in files and len(files) > 5
    assert pc.diff_renders(files, files).entries == []
    assert pc.golden_files("HEAD", "no-such-stack") == {}


def test_cli_writes_the_comment(tmp_path: Path) -> None:
    out = tmp_path / "c.md"
    assert (
        pc.main(["preview", "--stack", "production", "--events", str(EVENTS), "--out", str(out)])
        == 0
    )
    assert out.read_text() == pc.comment("production", report())
    assert (
        pc.main(
            [
                "preview",
                "--stack",
                "production",
                "--events",
                str(tmp_path / "missing"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "wrote no event log" in out.read_text()


def test_readme_example_is_what_the_tool_writes() -> None:
    """README "What a reviewer sees" is this fixture's comment, as the workflow would post it."""
    from tools.offline import ROOT

    readme = (ROOT / "README.md").read_text()
    footer = "Full `pulumi preview --diff`: artifact preview-production of [this run](https://github.com/OWNER/REPO/actions/runs/RUN)."
    assert "```markdown\n" + pc.comment("production", report(), footer) + "```" in readme
