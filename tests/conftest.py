"""Shared fixtures: cached whole-stack runs and the rule that CI never skips a real-program test."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from tools.golden import stacks
from tools.offline import StackRun, run_stack

STACKS = stacks()
IN_CI = os.environ.get("CI") == "true"


def require(condition: bool, reason: str) -> None:
    """Skip locally when a prerequisite is missing; fail in CI, where nothing may skip."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def program(name: str, *extra_dirs: str) -> str:
    found = shutil.which(name) or next(
        (str(Path(d) / name) for d in ("/usr/sbin", *extra_dirs) if (Path(d) / name).exists()), None
    )
    require(found is not None, f"program {name} is not installed")
    assert found is not None
    return found


_cache: dict[tuple[str, str], StackRun] = {}


@pytest.fixture(scope="session")
def stack_run() -> Callable[..., StackRun]:
    """`stack_run("dev", {"webapp:routing": {...}})`: run once per (stack, overrides), then reuse."""

    def get(stack: str, overrides: Optional[dict[str, Any]] = None) -> StackRun:
        key = (stack, repr(sorted((overrides or {}).items())))
        if key not in _cache:
            _cache[key] = run_stack(stack, overrides)
        return _cache[key]

    return get
