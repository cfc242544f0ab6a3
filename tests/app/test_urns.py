"""No URN of a deployed stack changes unnoticed.

A URN is a resource's identity in the Pulumi state: when one changes, the next `pulumi up` deletes
the old resource and creates a new one (for a StatefulSet or a database, an outage or data loss),
unless the resource carries an alias. Every stack in every variant the suite runs is compared with
the committed lists; a deliberate change re-lists them with `make golden` and is reviewed.
"""

from __future__ import annotations

from typing import Callable

import pytest

from tests.support import STACKS
from tools.golden import VARIANTS, urn_file, urn_list, variant_overrides
from tools.offline import StackRun


@pytest.mark.parametrize("stack,variant", [(s, v) for s in STACKS for v in VARIANTS])
def test_urns_match_the_committed_list(
    stack: str, variant: str, stack_run: Callable[..., StackRun]
) -> None:
    path = urn_file(stack, variant)
    assert path.exists(), (
        f"no URN list for {stack}/{variant}; run `make golden` and commit tests/golden/urns/"
    )
    expected = set(path.read_text().splitlines())
    actual = set(urn_list(stack_run(stack, variant_overrides(stack, variant))).splitlines())
    gone, new = sorted(expected - actual), sorted(actual - expected)
    assert not gone and not new, (
        f"URNs of {stack}/{variant} changed: a moved or renamed resource needs `aliases`, or, if the change "
        f"is intended, run `make golden` and review tests/golden/urns/.\n"
        f"no longer declared ({len(gone)}):\n  "
        + "\n  ".join(gone[:20])
        + f"\nnewly declared ({len(new)}):\n  "
        + "\n  ".join(new[:20])
    )


def test_a_renamed_resource_is_caught(stack_run: Callable[..., StackRun]) -> None:
    """The comparison sees a changed type token (what moving a component without an alias does)."""
    run = stack_run("dev")
    listed = urn_list(run).replace("webapp:data:InClusterRedis", "webapp:workloads:InClusterRedis")
    assert listed != urn_list(run)
    assert set(listed.splitlines()) != set(urn_file("dev", "as-shipped").read_text().splitlines())
