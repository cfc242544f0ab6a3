"""The production stack, which ships on AWS."""

from __future__ import annotations

from typing import Callable

import pytest

from tools.offline import StackRun


@pytest.fixture(scope="package")
def production(stack_run: Callable[..., StackRun]) -> StackRun:
    run = stack_run("production")
    assert run.outputs["cloud"] == "aws"
    return run
