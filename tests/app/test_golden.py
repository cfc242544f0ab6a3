"""Golden renders: a change to what a stack declares must come with its updated golden files."""

from __future__ import annotations

import difflib
from typing import Callable

import pytest

from tests.support import STACKS
from tools.golden import GOLDEN
from tools.offline import StackRun
from tools.render import MARKER, render


@pytest.mark.parametrize("stack", STACKS)
def test_render_matches_golden_files(stack: str, stack_run: Callable[..., StackRun]) -> None:
    expected_dir = GOLDEN / stack
    assert expected_dir.is_dir(), (
        f"no golden render for stack {stack}; run `make golden` and commit tests/golden/"
    )
    files = render(stack_run(stack))
    on_disk = {p.name for p in expected_dir.iterdir() if p.name != MARKER}
    assert set(files) == on_disk, (
        "rendered files differ from the golden set; run `make golden` and review the diff"
    )
    # `make golden` may replace exactly these files (the marker says it wrote them).
    assert (expected_dir / MARKER).read_text().split() == sorted(files)
    for name, content in files.items():
        expected = (expected_dir / name).read_text()
        if content != expected:
            diff = "".join(
                difflib.unified_diff(
                    expected.splitlines(True),
                    content.splitlines(True),
                    f"golden/{stack}/{name}",
                    f"render/{stack}/{name}",
                    n=2,
                )
            )
            pytest.fail(
                f"render of {stack} changed; if intended run `make golden` and commit:\n{diff[:4000]}"
            )


def test_render_is_deterministic(stack_run: Callable[..., StackRun]) -> None:
    from tools.offline import run_stack

    assert render(run_stack("dev")) == render(stack_run("dev"))
