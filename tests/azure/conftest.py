"""The staging stack, which ships on Azure, with each secret delivery."""

from __future__ import annotations

from typing import Callable

import pytest

from tests.azure.support import ESO
from tools.offline import StackRun


@pytest.fixture(scope="package")
def staging(stack_run: Callable[..., StackRun]) -> StackRun:
    run = stack_run("staging")
    assert run.outputs["cloud"] == "azure"
    return run


@pytest.fixture(scope="package")
def staging_eso(stack_run: Callable[..., StackRun]) -> StackRun:
    return stack_run("staging", ESO)
