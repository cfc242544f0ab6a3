"""Pulumi ESC: a stack whose config comes from an ESC environment (the README's example) reads
the same keys, and deploys the same resources, as the shipped stack file; the offline tools ask
for an export instead of guessing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from components.config.parsing import parse_settings
from tools.golden import urn_list
from tools.offline import ESC_EXPORT_ENV, ROOT, StackFileError, load_stack_config, run_stack

README = (ROOT / "README.md").read_text()


def readme_environment(first_line: str = "# esc env edit") -> dict:
    (block,) = [
        b for b in re.findall(r"```yaml\n(.*?)```", README, re.S) if b.startswith(first_line)
    ]
    return yaml.safe_load(block)


def esc_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """production with the README environment's keys moved out of its stack file."""
    values = readme_environment()["values"]
    moved = set(values["pulumiConfig"])
    shipped = yaml.safe_load((ROOT / "Pulumi.production.yaml").read_text())
    stack = {
        "environment": ["webapp/production"],
        "config": {k: v for k, v in shipped["config"].items() if k not in moved},
    }
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    (root / "Pulumi.production.yaml").write_text(yaml.safe_dump(stack))
    # What `esc env open` prints: the evaluated values (the login's outputs are secrets).
    export = tmp_path / "esc.json"
    opened = {
        "pulumiConfig": values["pulumiConfig"],
        "environmentVariables": {"AWS_ACCESS_KEY_ID": "[secret]"},
    }
    export.write_text(json.dumps(opened))
    monkeypatch.setenv(ESC_EXPORT_ENV, str(export))
    return root


def test_readme_environment_is_what_the_stack_file_would_hold() -> None:
    values = readme_environment()["values"]
    # Config only: every job that runs the stack opens it, read-only previews included.
    assert set(values) == {"pulumiConfig"}
    credentials = readme_environment("# Credentials.")["values"]
    login = credentials["aws"]["login"]["fn::open::aws-login"]["oidc"]
    assert login["roleArn"].endswith("role/webapp-production-deploy")
    assert login["subjectAttributes"] == ["currentEnvironment.name"]
    assert credentials["environmentVariables"]["AWS_SESSION_TOKEN"] == "${aws.login.sessionToken}"
    assert "pulumiConfig" not in credentials
    shipped = load_stack_config("production")
    for key, value in values["pulumiConfig"].items():
        assert shipped[key] == value, key


def test_the_same_config_either_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = esc_stack(tmp_path, monkeypatch)
    from_esc = load_stack_config("production", root=root)
    assert from_esc == load_stack_config("production")
    assert parse_settings(from_esc, "production") == parse_settings(
        load_stack_config("production"), "production"
    )


def test_the_same_resources_either_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stack_run
) -> None:
    root = esc_stack(tmp_path, monkeypatch)
    from_esc = run_stack("production", config=load_stack_config("production", root=root))
    assert urn_list(from_esc) == urn_list(stack_run("production"))


def test_stack_file_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = esc_stack(tmp_path, monkeypatch)
    path = root / "Pulumi.production.yaml"
    stack = yaml.safe_load(path.read_text())
    stack["config"]["webapp:domain"] = "override.example.com"
    path.write_text(yaml.safe_dump(stack))
    assert load_stack_config("production", root=root)["webapp:domain"] == "override.example.com"


def test_offline_tools_ask_for_an_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = esc_stack(tmp_path, monkeypatch)
    monkeypatch.delenv(ESC_EXPORT_ENV)
    with pytest.raises(
        StackFileError,
        match=r"imports ESC environment\(s\) webapp/production.*esc env open webapp/production --format json",
    ):
        load_stack_config("production", root=root)
    (tmp_path / "bad.json").write_text("{}")
    monkeypatch.setenv(ESC_EXPORT_ENV, str(tmp_path / "bad.json"))
    with pytest.raises(StackFileError, match="no pulumiConfig"):
        load_stack_config("production", root=root)


def test_unnamespaced_keys_are_the_projects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = esc_stack(tmp_path, monkeypatch)
    export = tmp_path / "esc.json"
    opened = json.loads(export.read_text())
    opened["pulumiConfig"]["logLevel"] = "Error"
    export.write_text(json.dumps(opened))
    config = load_stack_config("production", root=root)
    assert config["webapp:logLevel"] == "Warning"  # the stack file's own value wins
    stack = yaml.safe_load((root / "Pulumi.production.yaml").read_text())
    del stack["config"]["webapp:logLevel"]
    (root / "Pulumi.production.yaml").write_text(yaml.safe_dump(stack))
    assert load_stack_config("production", root=root)["webapp:logLevel"] == "Error"
