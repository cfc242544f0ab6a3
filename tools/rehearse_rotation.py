"""`make rehearse-rotation STACK=<stack>`: two rotations of every shared credential of the stack,
step by step as the controllers run them (`tools.rehearsal.rotation`): per `pulumi up` of the
procedure, the phases (delivery, Reloader's updates, each roll) with what every client holds and
every server accepts, the window and total duration per credential, then the refusals; exit 1 on
any, 2 on a stack that cannot be run.

    python -m tools.rehearse_rotation production

The values and workloads of each step are those of the stack rendered with `cloud: none` (the
stores of every cloud hold the same keys from the same generators, `secrets.generated`, so the
generations line up alike); how long a changed Secret takes to arrive is the stack's own store's:
an ExternalSecret's `refreshInterval`, the CSI driver's `webapp:azure.csiRotationPollInterval`, or
at once where Pulumi writes the Secret.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Mapping, Optional, Sequence

from components.config.quantities import seconds

from .golden import variant_overrides
from .offline import StackRun, load_stack_config, run_stack
from .rehearsal.rotation import PROCEDURE, Transition, rehearse_rotation, report
from .render import run_or_report

ROTATION_KEY = "webapp:secretRotation"


def step_objects(
    stack: str,
    procedure: Sequence[tuple[str, Any]] = PROCEDURE,
    overrides: Optional[Mapping[str, Any]] = None,
) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each step's rendered objects (Secret values revealed), run with `cloud: none`."""
    base = {**(overrides or {}), **variant_overrides(stack, "cloud-none")}
    return [
        (label, run_stack(stack, {**base, ROTATION_KEY: rotation}).kubernetes_objects(reveal=True))
        for label, rotation in procedure
    ]


def delivery(run: StackRun, config: Mapping[str, Any]) -> Callable[[str], tuple[str, int]]:
    """How `run`'s store brings a changed Secret into the cluster, and after how long at most."""
    objects = run.kubernetes_objects()
    refresh = {
        o["spec"]["target"]["name"]: o["spec"].get("refreshInterval", "1h")
        for o in objects
        if o["kind"] == "ExternalSecret"
    }
    csi = {o["metadata"]["name"] for o in objects if o["kind"] == "SecretProviderClass"}
    poll = (config.get("webapp:azure") or {}).get("csiRotationPollInterval") or "2m"

    def when(secret: str) -> tuple[str, int]:
        if secret in refresh:
            return f"External Secrets refresh {refresh[secret]}", seconds(refresh[secret])
        if secret in csi:
            return f"CSI driver rotation poll {poll}", seconds(poll)
        return "written by pulumi up", 0

    return when


def rehearse_stack(
    stack: str,
    overrides: Optional[Mapping[str, Any]] = None,
    procedure: Sequence[tuple[str, Any]] = PROCEDURE,
) -> Optional[list[Transition]]:
    """The stack's rotation rehearsal, or None when the stack cannot be run (reported)."""
    run = run_or_report(stack, overrides)
    if run is None:
        return None
    config = load_stack_config(stack, overrides)
    return rehearse_rotation(step_objects(stack, procedure, overrides), delivery(run, config))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tools.rehearse_rotation <stack>", file=sys.stderr)
        return 2
    transitions = rehearse_stack(argv[0])
    if transitions is None:
        return 2
    print(report(transitions))
    problems = [problem for transition in transitions for problem in transition.problems]
    print(
        f"stack {argv[0]}: {len(transitions)} rotation step(s) rehearsed, "
        f"{len(problems)} problem(s)"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
