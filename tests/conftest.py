"""Session fixtures: cached whole-stack runs (each stack and variant runs once per session)."""

from __future__ import annotations

from typing import Any, Callable, Optional

import pytest

from tools.offline import StackRun, run_stack

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
