"""`make rehearse STACK=<stack>`: every release of the stack rehearsed as the controllers would
run it (`tools.rehearsal`): a step table per Rollout, then the problems; exit 1 on any, 2 on a
stack that cannot be run (missing file, bad YAML, refused config: one line each, as `make render`).

    python -m tools.rehearse production
"""

from __future__ import annotations

import sys

from components.config.parsing import parse_settings

from .offline import load_stack_config
from .rehearsal import rehearse, table
from .render import run_or_report


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tools.rehearse <stack>", file=sys.stderr)
        return 2
    run = run_or_report(argv[0])
    if run is None:
        return 2
    settings = parse_settings(load_stack_config(argv[0]), argv[0], check_data_lock=False)
    reports, problems = rehearse(run.kubernetes_objects(), settings.metrics)
    for report in reports:
        print(table(report))
        print()
    problems = [p for report in reports for p in report.problems] + problems
    if not reports:
        print(f"stack {argv[0]}: no Rollout (every service is a rolling Deployment)")
    for problem in problems:
        print(f"problem: {problem}")
    print(f"stack {argv[0]}: {len(reports)} release(s) rehearsed, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
