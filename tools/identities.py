"""Who may do what from GitHub Actions: one GitHub environment per purpose, each with its own
identities, trusted for that environment's OIDC subject only (README "Identities").

GitHub names a job's environment in its OIDC token (`sub: repo:<owner>/<repo>:environment:<name>`),
and an environment's protection rules decide which runs may enter it: deployments from `main`
only, or required reviewers. A pull request can edit the workflows it runs, so the workflows
alone protect nothing; what does is that every identity able to read or change staging or
production trusts only the subject of an environment a pull request cannot enter unreviewed.
This table is that rule, and the suite holds the workflows, the README and the printed policies
to it (tests/ci/test_trust.py).

    python -m tools.identities table                      # the README's table
    python -m tools.identities pulumi-policy OWNER/REPO ORG  # Pulumi Cloud OIDC policies (JSON)
    python -m tools.identities trust OWNER/REPO             # the subject each identity trusts
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Literal, Optional

Branches = Literal["main", "any"]
Reach = Literal["none", "review", "staging-read", "staging", "production-read", "production"]


@dataclass(frozen=True)
class Environment:
    name: str
    """The GitHub environment."""
    branches: Branches
    """Deployment branches: `main` only, or any (pull requests must enter it)."""
    reviewers: bool
    """Required reviewers (with Prevent self-review): a person approves each run."""
    team: Optional[str]
    """The Pulumi Cloud team whose token the OIDC policy issues for this subject; None: none."""
    reach: Reach
    """What the environment's identities can read or change."""
    purpose: str
    """The jobs that use it."""


ENVIRONMENTS: tuple[Environment, ...] = (
    Environment("dev", "main", False, None, "none", "deploy: dev on a kind cluster (local state)"),
    Environment(
        "staging", "main", False, "webapp-staging-deploy", "staging", "deploy: `pulumi up` staging"
    ),
    Environment(
        "staging-read", "main", False, "webapp-staging-read", "staging-read", "drift: staging"
    ),
    Environment(
        "staging-preview",
        "any",
        True,
        "webapp-staging-read",
        "staging-read",
        "preview: staging, for a pull request, after a review",
    ),
    Environment(
        "production-read",
        "main",
        False,
        "webapp-production-read",
        "production-read",
        "deploy: production-plan; drift: production",
    ),
    Environment(
        "production-preview",
        "any",
        True,
        "webapp-production-read",
        "production-read",
        "preview: production, for a pull request, after a review",
    ),
    Environment(
        "production",
        "main",
        True,
        "webapp-production-deploy",
        "production",
        "deploy: `pulumi up --plan` production, after an approval of the plan",
    ),
    Environment(
        "review",
        "any",
        False,
        "webapp-review",
        "review",
        "review-stack, review-admin (destroy), review-sweep (stacks)",
    ),
    Environment(
        "review-admin",
        "main",
        False,
        None,
        "review",
        "review-admin (namespaces), review-sweep (namespaces)",
    ),
)
"""Every GitHub environment the workflows use."""

PROTECTED: frozenset[Reach] = frozenset(
    {"staging-read", "staging", "production-read", "production"}
)
"""What pull-request code must never reach unreviewed: staging's and production's state (reading
a state decrypts its secrets) and clouds."""

BY_NAME = {environment.name: environment for environment in ENVIRONMENTS}


def subject(repository: str, environment: str) -> str:
    """The `sub` claim of GitHub's OIDC token for a job in `environment`."""
    return f"repo:{repository}:environment:{environment}"


def pulumi_policies(repository: str, organization: str) -> list[dict[str, object]]:
    """The Pulumi Cloud OIDC issuer's authorization policies: one team token per environment
    subject, nothing for any other subject (no rule matches, so the exchange is refused). The
    shape is the REST API's AuthPolicyDefinition (decision, tokenType, teamName,
    authorizedPermissions, rules)."""
    return [
        {
            "decision": "allow",
            "tokenType": "team",
            "teamName": environment.team,
            "authorizedPermissions": [],
            "rules": {
                "aud": f"urn:pulumi:org:{organization}",
                "sub": subject(repository, environment.name),
            },
        }
        for environment in ENVIRONMENTS
        if environment.team is not None
    ]


TEAM_STACKS = {
    "webapp-staging-deploy": "staging: write",
    "webapp-staging-read": "staging: read",
    "webapp-production-read": "production: read",
    "webapp-production-deploy": "production: write",
    "webapp-review": "the `feature-pr-*` stacks it creates (their owner); nothing else",
}
"""Each team's stack permissions in Pulumi Cloud (Teams, Stacks)."""


def table() -> str:
    """The README's table of environments."""
    lines = [
        "| environment | deployments from | reviewers | Pulumi team | reaches | used by |",
        "|---|---|---|---|---|---|",
    ]
    for environment in ENVIRONMENTS:
        branches = "main" if environment.branches == "main" else "any branch"
        lines.append(
            f"| `{environment.name}` | {branches} "
            f"| {'required' if environment.reviewers else '-'} "
            f"| {f'`{environment.team}`' if environment.team else '-'} "
            f"| {environment.reach} | {environment.purpose} |"
        )
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="the pipeline's identities")
    parser.add_argument("command", choices=("table", "pulumi-policy", "trust"))
    parser.add_argument("repository", nargs="?", default="OWNER/REPO")
    parser.add_argument("organization", nargs="?", default="ORG")
    args = parser.parse_args(argv)
    if args.command == "table":
        print(table())
    elif args.command == "pulumi-policy":
        print(json.dumps(pulumi_policies(args.repository, args.organization), indent=2))
    else:
        for environment in ENVIRONMENTS:
            if environment.reach != "none":
                print(f"{environment.name}: {subject(args.repository, environment.name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
