"""A stack of your own (README "A stack of your own"): the recipe works, and a scratch
`Pulumi.<name>.yaml` (with its policy config) beside the shipped stacks changes nothing the suite
runs or checks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.support import program
from tools import lock, policy_check, render
from tools.golden import SHIPPED, stacks
from tools.offline import ROOT, load_stack_config
from tools.policy_check import CONFIG


def test_the_shipped_stacks_are_the_stack_files_git_tracks() -> None:
    tracked = subprocess.run(
        [program("git"), "ls-files", "Pulumi.*.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(name[len("Pulumi.") : -len(".yaml")] for name in tracked) == sorted(SHIPPED)
    assert stacks() == sorted(SHIPPED)


@pytest.fixture()
def own_stack() -> Iterator[str]:
    """The README recipe, step by step: copy dev's stack file, rename the namespace, drop the
    copied data lock (it describes dev's data, not yours), `make lock`, copy a policy config."""
    name = f"mine-{os.getpid()}"
    stack_file, config = ROOT / f"Pulumi.{name}.yaml", CONFIG / f"{name}.json"
    try:
        text = (ROOT / "Pulumi.dev.yaml").read_text()
        text = lock.BLOCK.sub("", text).replace(
            "config:\n", f"config:\n  webapp:namespace: webapp-{name}\n", 1
        )
        stack_file.write_text(text)
        assert lock.main([name]) == 0
        shutil.copy(CONFIG / "dev.json", config)
        yield name
    finally:
        stack_file.unlink(missing_ok=True)
        config.unlink(missing_ok=True)


def test_the_recipe_gives_a_stack_that_renders_and_passes_the_policy_pack(
    own_stack: str, tmp_path: Path
) -> None:
    assert load_stack_config(own_stack)["webapp:dataLock"]["namespace"] == f"webapp-{own_stack}"
    assert render.main(["--stack", own_stack, "--out", str(tmp_path / "out")]) == 0
    assert policy_check.main([own_stack]) == 0


def _collected() -> list[str]:
    """The test ids the suite collects, in order."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    return [line for line in out.splitlines() if "::" in line]


def test_a_stack_of_your_own_changes_nothing_the_suite_runs(request: pytest.FixtureRequest) -> None:
    before = _collected()
    assert len(before) > 1000
    name = request.getfixturevalue("own_stack")
    after = _collected()
    assert not [test for test in after if re.search(rf"\b{name}\b", test)]
    assert after == before
    # The tests that look at the directory rather than the shipped list still pass beside it.
    looking = [
        "tests/policy/test_pack.py::test_every_stack_has_a_config_and_no_config_lacks_a_stack",
        "tests/tools/test_render_cli.py::test_a_missing_stack_file_is_named",
        "tests/tools/test_own_stack.py::test_the_shipped_stacks_are_the_stack_files_git_tracks",
    ]
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *looking],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stdout[-2000:]
