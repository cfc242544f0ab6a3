"""Every tool that runs a stack reports a stack it cannot run as `make render` does: one line per
problem, prefixed with the stack, exit 2, never a traceback (a missing stack file, YAML that does
not parse, config the settings refuse, a missing policy config)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator, Union

import pytest
import yaml

from tools import policy_check, rehearse, render, timeline
from tools.lock import current_lock
from tools.offline import LOCK, ROOT, load_stack_config

CLIS: dict[str, Callable[[str, Path], int]] = {
    "render": lambda stack, tmp: render.main(["--stack", stack, "--out", str(tmp / "out")]),
    "timeline": lambda stack, tmp: timeline.main([stack]),
    "policy": lambda stack, tmp: policy_check.main([stack]),
    "rehearse": lambda stack, tmp: rehearse.main([stack]),
}


@pytest.fixture()
def scratch() -> Iterator[Callable[..., str]]:
    """`scratch(text)`: a stack file of that text in the repository (removed afterwards), as a
    user's own stack would be; returns the stack's name. Given a config mapping instead, the file
    holds it with the data lock `make lock` would write for that stack."""
    made: list[Path] = []

    def make(text: Union[str, dict[str, Any]]) -> str:
        name = f"scratch-cli-{os.getpid()}-{len(made)}"
        path = ROOT / f"Pulumi.{name}.yaml"
        if isinstance(text, dict):
            text = yaml.safe_dump({"config": {**text, LOCK: current_lock(text, name)}})
        path.write_text(text)
        made.append(path)
        return name

    yield make
    for path in made:
        path.unlink(missing_ok=True)


def _reported(capsys: pytest.CaptureFixture[str], stack: str) -> list[str]:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = captured.err.strip().splitlines()
    assert lines, "nothing said on stderr"
    # One line per problem: the stack's line, then a settings error's problems, one each.
    assert lines[0].startswith(f"stack {stack}: "), lines
    assert all(line.startswith("  - ") for line in lines[1:]), lines
    return lines


@pytest.mark.parametrize("cli", CLIS)
def test_a_missing_stack_file(cli: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert CLIS[cli]("nosuchstack", tmp_path) == 2
    (line,) = _reported(capsys, "nosuchstack")
    assert "no stack file Pulumi.nosuchstack.yaml in " in line
    assert {"dev", "production", "staging"} <= set(
        line.split("the stacks here are ")[1].split(", ")
    )


@pytest.mark.parametrize("cli", CLIS)
def test_a_stack_file_that_is_not_yaml(
    cli: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], scratch: Callable[..., str]
) -> None:
    stack = scratch("config:\n  webapp:domain: app.example.com\n  webapp:routing: {mode: gateway\n")
    assert CLIS[cli](stack, tmp_path) == 2
    (line,) = _reported(capsys, stack)
    assert f"Pulumi.{stack}.yaml:4:1: not valid YAML" in line


@pytest.mark.parametrize("cli", CLIS)
def test_a_stack_file_that_is_not_a_mapping(
    cli: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], scratch: Callable[..., str]
) -> None:
    stack = scratch("- webapp:domain: app.example.com\n")
    assert CLIS[cli](stack, tmp_path) == 2
    (line,) = _reported(capsys, stack)
    assert "expected a mapping with a `config:` mapping" in line


@pytest.mark.parametrize("cli", CLIS)
def test_config_the_settings_refuse(
    cli: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], scratch: Callable[..., str]
) -> None:
    config = {**load_stack_config("dev"), "webapp:domain": "not a domain", "webapp:typo": 1}
    stack = scratch(yaml.safe_dump({"config": {k: v for k, v in config.items() if k != LOCK}}))
    assert CLIS[cli](stack, tmp_path) == 2
    lines = _reported(capsys, stack)
    assert lines[0] == f"stack {stack}: 2 configuration problem(s):"
    assert any("webapp:domain: 'not a domain' is not allowed" in line for line in lines)
    assert any("webapp:typo: unknown key" in line for line in lines)


def test_a_stack_without_policy_config_says_which_file_to_create(
    capsys: pytest.CaptureFixture[str], scratch: Callable[..., str]
) -> None:
    dev = load_stack_config("dev")
    stack = scratch({**dev, "webapp:namespace": "webapp-mine"})
    assert policy_check.main([stack]) == 2
    (line,) = _reported(capsys, stack)
    assert line == (
        f"stack {stack}: no policy config policy/config/{stack}.json: copy "
        "policy/config/dev.json (or the shipped stack yours is like) to it"
    )
