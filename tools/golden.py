"""`make golden`: re-render every stack into tests/golden/<stack>/ (commit the result).

The golden renders make the effect of a change on each environment visible in review; the test
suite fails when a render differs from its golden files.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .offline import ROOT, run_stack
from .render import render, validate_run, write

GOLDEN = ROOT / "tests" / "golden"


def stacks() -> list[str]:
    # Shipped stacks only: branch stacks (Pulumi.feature-*.yaml) come and go with their branches.
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml") if ".feature-" not in p.name)


def main() -> int:
    for stack in stacks():
        run = run_stack(stack)
        problems = validate_run(run)
        if problems:
            print(f"stack {stack}: not updating golden files, {len(problems)} invalid object(s):", file=sys.stderr)
            print("\n".join(f"  - {p}" for p in problems), file=sys.stderr)
            return 1
        out: Path = GOLDEN / stack
        write(render(run), out)
        print(f"stack {stack}: golden render written to {out.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
