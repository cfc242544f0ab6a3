"""What the GitHub workflows need to know about a stack, read from its stack file (the same
config the program reads), so the workflows hold no per-stack copies of it.

    python -m tools.ci stack-info production >> "$GITHUB_OUTPUT"

prints `key=value` lines: `cloud` (none, aws or azure: which login the job performs),
`context` (the kubeconfig context the program uses), `aws_region` and `eks_cluster` (AWS),
`policy_config` (the policy pack's thresholds for the stack).

    python -m tools.ci handed-over production      # prints true or false

says whether a GitOps stack (`gitops/Pulumi.<name>.yaml`: `gitops:handOver` on, the stack in
`gitops:environments`) hands the stack
over to the Pulumi Kubernetes Operator: then the `deploy` workflow previews it but does not apply
it (README "GitOps").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Optional

from .offline import ROOT, load_stack_config, require_stack_file
from .policy_config import config_file

CLOUDS = ("none", "aws", "azure")


def stack_info(stack: str, pack: str = "policy") -> dict[str, str]:
    """The stack's facts; `policy_config` is the thresholds file inside the policy pack `pack`
    (the base branch's, `base/policy`, in jobs that run a pull request's code)."""
    require_stack_file(stack)
    config = load_stack_config(stack)
    cloud = str(config.get("webapp:cloud") or "none")
    if cloud not in CLOUDS:
        raise SystemExit(
            f"stack {stack}: webapp:cloud is {cloud!r}; expected one of {', '.join(CLOUDS)}"
        )
    kubernetes: dict[str, Any] = config.get("webapp:kubernetes") or {}
    aws: dict[str, Any] = config.get("webapp:aws") or {}
    return {
        "cloud": cloud,
        "context": str(kubernetes.get("context") or ""),
        "aws_region": str(aws.get("region") or "") if cloud == "aws" else "",
        "eks_cluster": str(aws.get("clusterName") or "") if cloud == "aws" else "",
        "policy_config": str(Path(pack) / config_file(stack).relative_to(ROOT / "policy")),
    }


def handed_over(stack: str) -> bool:
    """Whether any GitOps stack file hands `stack` over (its config parsed and validated)."""
    from gitops.program import gitops_stacks, load_settings

    require_stack_file(stack)
    return any(stack in load_settings(name).handed_over for name in gitops_stacks())


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="stack facts for the GitHub workflows")
    parser.add_argument("command", choices=("stack-info", "handed-over"))
    parser.add_argument("stack")
    parser.add_argument("--policy-pack", default="policy", help="the policy pack's directory")
    args = parser.parse_args(argv)
    if args.command == "handed-over":
        print("true" if handed_over(args.stack) else "false")
        return 0
    for key, value in stack_info(args.stack, args.policy_pack).items():
        if "\n" in value:
            raise SystemExit(f"stack {args.stack}: {key} holds a newline")
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
