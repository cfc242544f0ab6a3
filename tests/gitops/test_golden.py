"""The GitOps project's golden renders (tests/golden/gitops/<stack>/, handed over): a change to what
it declares comes with its updated golden files (`make golden`)."""

from __future__ import annotations

from typing import Callable

import pytest

from tests.gitops.conftest import GITOPS_STACKS
from tools.golden import GITOPS_GOLDEN, GITOPS_HAND_OVER
from tools.offline import StackRun
from tools.render import MARKER, render


@pytest.mark.parametrize("stack", GITOPS_STACKS)
def test_render_matches_golden_files(stack: str, gitops_run: Callable[..., StackRun]) -> None:
    folder = GITOPS_GOLDEN / stack
    assert folder.is_dir(), f"no golden render for gitops stack {stack}; run `make golden`"
    files = render(gitops_run(stack, GITOPS_HAND_OVER))
    assert (folder / MARKER).read_text().split() == sorted(files)
    for name, content in files.items():
        assert (folder / name).read_text() == content, (
            f"render of gitops stack {stack} changed ({name}); if intended run `make golden`"
        )
