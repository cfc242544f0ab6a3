"""webapp GitOps project: the Pulumi Kubernetes Operator and Argo CD reconciling the main
program's stacks from Git (README "GitOps"). Run from the repository root:
`pulumi -C gitops up -s <stack>`."""

import sys
from pathlib import Path

# The project shares the repository's packages (components.config, tools.offline) with the main
# program; the CLI starts it in gitops/, so the repository root goes on the path first.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gitops.program import main  # noqa: E402

main()
