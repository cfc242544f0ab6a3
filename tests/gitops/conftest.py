"""Cached runs of the GitOps project under the recording mocks (each config run once)."""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Optional

import pytest

from gitops.program import gitops_stacks
from tools.offline import ROOT, StackRun, load_stack_config, run_stack

GITOPS_ROOT = ROOT / "gitops"
GITOPS_STACKS = gitops_stacks()


def gitops_config(stack: str, overrides: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """The stack file's config with `overrides` (dotted `gitops:key` names; None removes)."""
    config = load_stack_config(stack, root=GITOPS_ROOT)
    for key, value in (overrides or {}).items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    return config


_runs: dict[str, StackRun] = {}


@pytest.fixture(scope="session")
def gitops_run() -> Callable[..., StackRun]:
    def run(stack: str, overrides: Optional[Mapping[str, Any]] = None) -> StackRun:
        key = json.dumps([stack, overrides or {}], sort_keys=True)
        if key not in _runs:
            _runs[key] = run_stack(stack, root=GITOPS_ROOT, config=gitops_config(stack, overrides))
        return _runs[key]

    return run
