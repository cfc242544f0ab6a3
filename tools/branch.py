"""Per-branch environments (seed 001 feature branches): `make branch-up BRANCH=<git branch>` / `make
branch-down`.

A branch gets its own stack `feature-<slug>` on the staging AKS cluster: namespace `feature-<slug>`,
in-cluster PostgreSQL, its own Key Vault, identity and federated credentials, and its own hostname
`<slug>.<staging domain>`. It shares the cluster add-ons that staging installed (declared present)
and staging's Gateway, proxies and load balancer (its routes attach to the Gateway's `*.<staging
domain>` listener, so one wildcard DNS record serves every branch), and leaves managed Prometheus
and monitoring to staging.

`branch_slug` maps any branch name to a DNS-1123 label so that `feature-<slug>` is a valid namespace
of at most 63 characters; a name that keeps no letter or digit is rejected with a clear message.
Long names are cut and given a hash suffix, so two long branches never share a namespace.

    python -m tools.branch up feature/Login-Page     # Pulumi.feature-login-page.yaml, pulumi up
    python -m tools.branch down feature/Login-Page   # pulumi destroy, stack rm, file removed
    python -m tools.branch config feature/Login-Page # prints the stack config only
    python -m tools.branch url feature/Login-Page    # https://login-page.<staging domain>
    python -m tools.branch up feature/x --policy-pack # with the policy pack, as CI runs it
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any, Optional

import yaml

from components.config.parsing import parse_settings
from components.config.settings import IN_CLUSTER_PROMETHEUS

from .lock import current_lock
from .offline import ROOT, load_stack_config
from .policy_check import config_file

PREFIX = "feature-"
MAX_NAMESPACE = 63
BASE_STACK = "staging"


# Letters NFKD does not decompose into an ASCII base letter.
_LETTERS = str.maketrans(
    {
        "ø": "o",
        "Ø": "O",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ß": "ss",
        "đ": "d",
        "Đ": "D",
        "ł": "l",
        "Ł": "L",
        "þ": "th",
        "Þ": "TH",
        "ð": "d",
        "Ð": "D",
    }
)


class BranchNameError(ValueError):
    pass


def branch_slug(branch: str) -> str:
    """`feature/Login_Page` -> `login-page`; the result fits `feature-<slug>` in 63 characters."""
    if not isinstance(branch, str) or not branch.strip():
        raise BranchNameError(
            "branch name is empty; expected a git branch name such as feature/login-page"
        )
    name = branch.strip()
    for prefix in ("refs/heads/", "feature/", "features/", "feat/"):
        if name.lower().startswith(prefix):
            name = name[len(prefix) :]
    # Accents become their base letter; everything else that is not [a-z0-9] becomes a hyphen.
    name = name.translate(_LETTERS)
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")
    if not slug:
        raise BranchNameError(
            f"branch name {branch!r} has no letter or digit to name a namespace after; "
            "rename the branch (e.g. feature/login-page)"
        )
    room = MAX_NAMESPACE - len(PREFIX)
    if len(slug) > room:
        digest = hashlib.sha256(branch.encode()).hexdigest()[:7]
        slug = f"{slug[: room - len(digest) - 1].rstrip('-')}-{digest}"
    return slug


def stack_name(branch: str) -> str:
    return PREFIX + branch_slug(branch)


def _shared_routing(base: dict[str, Any]) -> dict[str, Any]:
    """Routing onto staging's Gateway: its namespace, and the size of its Envoy fleet (each proxy
    enforces its share of the rate limit, so the branch divides by the same count)."""
    settings = parse_settings(base, BASE_STACK)
    staging = settings.routing
    if staging.branches is None:
        raise SystemExit(
            f"the {BASE_STACK} stack does not host branch environments: set "
            "webapp:routing.branches in its stack file (README: Per-branch environments)"
        )
    return {
        "mode": "gateway",
        "sharedGateway": settings.namespace,
        "proxyMinReplicas": staging.proxy_min_replicas,
        "proxyMaxReplicas": staging.proxy_max_replicas,
        "rateLimitPerMinute": staging.rate_limit_per_minute,
        "websocketTimeoutSeconds": staging.websocket_timeout_seconds,
        "controllerNamespace": staging.controller_namespace,
    }


def branch_config(branch: str, base: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The `config:` of the branch's stack file, derived from the staging stack."""
    base = dict(base if base is not None else load_stack_config(BASE_STACK))
    slug = branch_slug(branch)
    namespace = PREFIX + slug
    azure = dict(base["webapp:azure"])
    # Purge protection would keep a destroyed branch's vault name for the retention period.
    azure.update(
        managedPrometheus=False,
        secretDelivery="csi",
        keyVault={"purgeProtection": False, "softDeleteRetentionDays": 7},
    )
    config: dict[str, Any] = {
        "webapp:environment": "dev",
        "webapp:cloud": "azure",
        "webapp:namespace": namespace,
        "webapp:domain": f"{slug}.{base['webapp:domain']}",
        "webapp:logLevel": "Debug",
        "webapp:kubernetes": base["webapp:kubernetes"],
        "webapp:database": {"mode": "in-cluster"},
        # No monitoring stack of its own; Rollout analysis (a service staging releases blue-green
        # or canary) queries staging's Prometheus, which sees every namespace's pods.
        "webapp:monitoring": {
            "enabled": False,
            "prometheusUrl": IN_CLUSTER_PROMETHEUS.format(namespace="monitoring"),
        },
        "webapp:addons": {
            "certManager": "present",
            "gateway": "present",
            "monitoringStack": "present",
            "externalSecrets": "present",
            "reloader": "present",
            "argoRollouts": "present",
            "keda": "present",
            "istio": "present",
        },
        "webapp:routing": _shared_routing(base),
        "webapp:services": base.get("webapp:services") or {},
        "webapp:scheduler": {**(base.get("webapp:scheduler") or {}), "enabled": False},
        "webapp:azure": azure,
    }
    # A branch environment is disposable (its database is in-cluster test data): each
    # `branch-up` records the lock anew, so a change from staging never blocks it.
    name = stack_name(branch)
    config["webapp:dataLock"] = current_lock(load_stack_config(name, config), name)
    return config


def stack_file(branch: str) -> Path:
    return ROOT / f"Pulumi.{stack_name(branch)}.yaml"


def policy_config(stack: str) -> Path:
    """The policy thresholds a branch stack is held to (dev's), relative to the repository."""
    return config_file(stack).relative_to(ROOT)


def _pulumi(*args: str) -> None:
    print("+ pulumi " + " ".join(args), flush=True)
    subprocess.run(["pulumi", *args], cwd=ROOT, check=True)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="per-branch environments")
    parser.add_argument("action", choices=("up", "down", "config", "url"))
    parser.add_argument("branch")
    parser.add_argument(
        "--policy-pack",
        action="store_true",
        help="run `pulumi up` with the policy pack (policy/, the dev thresholds), as CI does",
    )
    args = parser.parse_args(argv)
    try:
        name = stack_name(args.branch)
        config = branch_config(args.branch)
    except BranchNameError as error:
        print(f"branch {args.branch!r}: {error}", file=sys.stderr)
        return 2
    text = "# Generated by `make branch-up`; removed by `make branch-down`.\n" + yaml.safe_dump(
        {"config": config}, sort_keys=False
    )
    if args.action == "config":
        print(text)
        return 0
    if args.action == "url":
        print(f"https://{config['webapp:domain']}")
        return 0
    if args.action == "up":
        stack_file(args.branch).write_text(text)
        _pulumi("stack", "select", "--create", name)
        policy = ["--policy-pack", "policy", "--policy-pack-config", str(policy_config(name))]
        _pulumi("up", "--yes", "--stack", name, *(policy if args.policy_pack else []))
        return 0
    # The stack file is regenerated for the destroy: a CI runner that did not run `up` has none.
    stack_file(args.branch).write_text(text)
    _pulumi("destroy", "--yes", "--stack", name)
    _pulumi("stack", "rm", "--yes", name)
    stack_file(args.branch).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
