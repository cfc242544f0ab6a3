"""Per-branch environments (one short-lived stack per pull request): `make branch-up
BRANCH=<git branch>` / `make branch-down`.

A branch gets its own stack `feature-<slug>-<hash>` on the staging AKS cluster: namespace of the
same name, in-cluster PostgreSQL, its own Key Vault, identity and federated credentials, and its
own hostname `<slug>-<hash>.<staging domain>`. It shares the cluster add-ons that staging installed
(declared present) and staging's Gateway, proxies and load balancer (its routes attach to the
Gateway's `*.<staging domain>` listener, so one wildcard DNS record serves every branch), and
leaves managed Prometheus and monitoring to staging.

The name is injective: `<slug>` is the branch name made a readable DNS label (many branches share
one: `feature/login-page`, `login-page` and `feat/Login_Page` all give `login-page`), and `<hash>`
is a hash of the exact branch name, so two branches never share a stack, namespace or hostname.
`feature-<slug>-<hash>` fits a namespace (63 characters) and `<slug>-<hash>` one DNS label.

The stack records its branch in the backend (stack tag `webapp:branch`, set before the first up):
`up` and `down` act only on a stack whose tag names exactly their branch, so closing one pull
request can never destroy another's environment. The tag lives in the backend, not the stack
file, because `down` regenerates the file (a CI runner that did not run `up` has none).

    python -m tools.branch up feature/Login-Page     # Pulumi.feature-login-page-<hash>.yaml, up
    python -m tools.branch down feature/Login-Page   # pulumi destroy, stack rm, file removed
    python -m tools.branch config feature/Login-Page # prints the stack config only
    python -m tools.branch url feature/Login-Page    # https://login-page-<hash>.<staging domain>
    python -m tools.branch up feature/x --policy-pack ../base/policy # the base branch's pack

Review stacks (one per pull request, run by the workflows) are named by the pull request's number:
`feature-pr-<N>`, hostname `pr-<N>.<staging domain>`, tagged `pull/<N>`. Their namespace is
created beforehand by a base-branch job with the `review-admin` identity (`namespace`), because
the `review` identity that runs the pull request's program may not create or label namespaces
(components/platform/review_access.py); the stack reads it (`webapp:namespaceProvided`).

    python -m tools.branch namespace --pr 42         # Namespace + RoleBinding manifests (admin)
    python -m tools.branch up --pr 42 --policy-pack policy   # the review stack, as CI runs it
    python -m tools.branch down --pr 42              # destroy it, whatever the pull request holds
    python -m tools.branch sweep --open 41,43 feature-pr-40 feature-pr-41 ...
                                                     # destroy the stacks of closed pull requests
    python -m tools.branch stale --open 41,43 feature-pr-40 feature-pr-41 ...
                                                     # print the names of closed pull requests
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from components.config.parsing import parse_settings
from components.config.settings import IN_CLUSTER_PROMETHEUS
from components.platform.namespace import stack_namespace_labels
from components.platform.review_access import deployer_binding

from .lock import current_lock
from .offline import ROOT, load_stack_config
from .policy_config import config_file

PREFIX = "feature-"
MAX_NAMESPACE = 63
BASE_STACK = "staging"
HASH_LENGTH = 8
"""Hex digits of the branch's hash in its names: 32 bits, so a collision between two open pull
requests is about one in four billion (and `up` refuses a stack tagged for another branch)."""
BRANCH_TAG = "webapp:branch"
"""The stack tag that records which branch a stack was created for (`pulumi stack tag`)."""


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


def _exact(branch: str) -> str:
    """The branch as git names it: `refs/heads/x` and `x` are one branch."""
    if not isinstance(branch, str) or not branch.strip():
        raise BranchNameError(
            "branch name is empty; expected a git branch name such as feature/login-page"
        )
    name = branch.strip()
    return name[len("refs/heads/") :] if name.startswith("refs/heads/") else name


def branch_hash(branch: str) -> str:
    """A hash of the exact branch name (case and punctuation count: they are other branches)."""
    return hashlib.sha256(_exact(branch).encode()).hexdigest()[:HASH_LENGTH]


def branch_slug(branch: str) -> str:
    """`feature/Login_Page` -> `login-page`: readable, not unique (`label` adds the hash)."""
    name = _exact(branch)
    for prefix in ("feature/", "features/", "feat/"):
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
    room = MAX_NAMESPACE - len(PREFIX) - len("-") - HASH_LENGTH
    return slug[:room].rstrip("-")


def label(branch: str) -> str:
    """`<slug>-<hash>`: the branch's hostname label, unique per exact branch name."""
    return f"{branch_slug(branch)}-{branch_hash(branch)}"


def stack_name(branch: str) -> str:
    """`feature-<slug>-<hash>`: the stack and its namespace (at most 63 characters)."""
    return PREFIX + label(branch)


PR_PREFIX = f"{PREFIX}pr-"
PR_NAME = re.compile(rf"{re.escape(PR_PREFIX)}([1-9][0-9]{{0,8}})")
"""A review stack's name: `feature-pr-<N>`, N a pull request's number."""


@dataclass(frozen=True)
class Target:
    """One branch environment: a developer's branch, or a pull request's review stack."""

    name: str
    """The stack and its namespace."""
    label: str
    """The hostname's first label."""
    owner: str
    """The stack tag's value: the exact branch, or `pull/<N>` for a pull request."""
    provided: bool
    """The namespace is created by the review-admin job (pull requests), not by the stack."""


def branch_target(branch: str) -> Target:
    return Target(stack_name(branch), label(branch), _exact(branch), provided=False)


def pr_target(number: int) -> Target:
    if not 0 < number < 10**9:
        raise BranchNameError(f"pull request number {number} is not allowed; expected 1 or more")
    return Target(f"{PR_PREFIX}{number}", f"pr-{number}", f"pull/{number}", provided=True)


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
    return target_config(branch_target(branch), base)


def _review_group(base: dict[str, Any]) -> str:
    """staging's `routing.branches.resourceGroup`: where review stacks' cloud resources go."""
    settings = parse_settings(base, BASE_STACK)
    assert settings.routing.branches is not None  # _shared_routing said so first
    return settings.routing.branches.resource_group


def target_config(target: Target, base: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The `config:` of a branch environment's stack file, derived from the staging stack."""
    base = dict(base if base is not None else load_stack_config(BASE_STACK))
    namespace = target.name
    routing = _shared_routing(base)
    azure = dict(base["webapp:azure"])
    # Purge protection would keep a destroyed branch's vault name for the retention period.
    azure.update(
        # Never staging's group: the review identity is Contributor on this one only.
        resourceGroup=_review_group(base),
        createResourceGroup=False,
        managedPrometheus=False,
        secretDelivery="csi",
        keyVault={"purgeProtection": False, "softDeleteRetentionDays": 7},
    )
    config: dict[str, Any] = {
        "webapp:environment": "dev",
        "webapp:cloud": "azure",
        "webapp:namespace": namespace,
        "webapp:domain": f"{target.label}.{base['webapp:domain']}",
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
        "webapp:routing": routing,
        "webapp:services": base.get("webapp:services") or {},
        "webapp:scheduler": {**(base.get("webapp:scheduler") or {}), "enabled": False},
        "webapp:azure": azure,
    }
    # A branch environment is disposable (its database is in-cluster test data): each
    # `branch-up` records the lock anew, so a change from staging never blocks it.
    if target.provided:
        config["webapp:namespaceProvided"] = True
    config["webapp:dataLock"] = current_lock(load_stack_config(namespace, config), namespace)
    return config


def stack_file(branch: str) -> Path:
    return target_file(branch_target(branch))


def target_file(target: Target) -> Path:
    return ROOT / f"Pulumi.{target.name}.yaml"


def policy_config(stack: str) -> Path:
    """The policy thresholds a branch stack is held to (dev's), relative to the repository."""
    return config_file(stack).relative_to(ROOT)


def _pulumi(*args: str) -> None:
    print("+ pulumi " + " ".join(args), flush=True)
    subprocess.run(["pulumi", *args], cwd=ROOT, check=True)


class NotThisBranch(Exception):
    """The stack exists but was not created for this exact branch."""


class PulumiError(Exception):
    """The pulumi CLI failed (not logged in, no access): said in one line, never a traceback."""


def recorded_branch(name: str) -> Optional[str]:
    """The branch stack `name` was created for, None when there is no such stack.

    Raises NotThisBranch for a stack without the tag (created before branches were tagged, or
    not by this tool): nothing says whose it is, so nothing may touch it."""
    found = subprocess.run(
        ["pulumi", "stack", "tag", "ls", "--json", "--stack", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if found.returncode != 0:
        said = (found.stderr.strip().splitlines() or [f"exit {found.returncode}"])[-1]
        if "no stack named" in said:
            return None
        raise PulumiError(f"cannot read the tags of stack {name}: {said}")
    tags = json.loads(found.stdout or "{}")
    if BRANCH_TAG not in tags:
        raise NotThisBranch(
            f"stack {name} exists but has no {BRANCH_TAG} tag, so it was not created by "
            "`make branch-up` for a branch; nothing was changed (README: Per-branch environments, "
            "stacks of the old naming)"
        )
    return str(tags[BRANCH_TAG])


def _owned(name: str, owner: str) -> Optional[str]:
    """The stack's recorded owner when it is `owner`; NotThisBranch otherwise."""
    recorded = recorded_branch(name)
    if recorded is not None and recorded != owner:
        raise NotThisBranch(
            f"stack {name} was created for branch {recorded!r}, not {owner!r}; nothing was changed"
        )
    return recorded


HEADER = "# Generated by `make branch-up`; removed by `make branch-down`.\n"


def write_stack_file(target: Target, config: dict[str, Any]) -> None:
    """The stack file with `config`, keeping what the CLI wrote into an earlier one (a passphrase
    backend's `encryptionsalt`, a `secretsprovider`): without them its secrets cannot be read."""
    path = target_file(target)
    earlier = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}
    kept = {k: v for k, v in earlier.items() if k != "config"} if isinstance(earlier, dict) else {}
    path.write_text(HEADER + yaml.safe_dump({**kept, "config": config}, sort_keys=False))


def pack_arguments(name: str, pack: str = "policy") -> list[str]:
    """`--policy-pack <pack> --policy-pack-config <pack>/config/<dev>.json`: every branch and
    review stack runs a pack; CI passes the base branch's (`base/policy`), so a pull request
    cannot bring its own."""
    config = Path(pack) / config_file(name).relative_to(ROOT / "policy")
    return ["--policy-pack", pack, "--policy-pack-config", str(config)]


def up(target: Target, config: dict[str, Any], pack: str = "policy") -> None:
    name = target.name
    new = _owned(name, target.owner) is None
    write_stack_file(target, config)
    if new:
        _pulumi("stack", "init", name)
        # Tagged before anything is deployed: a first up that fails halfway still leaves a
        # stack `down` recognises.
        _pulumi("stack", "tag", "set", BRANCH_TAG, target.owner, "--stack", name)
    _pulumi("up", "--yes", "--stack", name, *pack_arguments(name, pack))


def down(target: Target, config: dict[str, Any]) -> int:
    name = target.name
    if _owned(name, target.owner) is None:
        print(f"{target.owner}: no stack {name}; nothing to destroy", file=sys.stderr)
        return 0
    # The stack file is regenerated for the destroy: a CI runner that did not run `up` has none.
    write_stack_file(target, config)
    _pulumi("destroy", "--yes", "--stack", name)
    _pulumi("stack", "rm", "--yes", name)
    target_file(target).unlink(missing_ok=True)
    return 0


def stale(names: list[str], open_numbers: set[int]) -> list[str]:
    """The review stacks or namespaces among `names` whose pull request is not open."""
    # `pulumi stack ls` may print `org/project/name`; the name is the last part.
    short = [name.rsplit("/", 1)[-1] for name in names]
    return [
        name
        for name in short
        if (found := PR_NAME.fullmatch(name)) is not None and int(found[1]) not in open_numbers
    ]


def sweep(names: list[str], open_numbers: set[int]) -> int:
    """Destroy the review stacks of closed pull requests (the nightly sweep: a close event that
    never ran, or failed, leaves nothing behind for more than a day)."""
    failed = 0
    for name in stale(names, open_numbers):
        target = pr_target(int(PR_NAME.fullmatch(name)[1]))  # type: ignore[index]
        try:
            down(target, target_config(target))
        except (NotThisBranch, PulumiError, subprocess.CalledProcessError) as error:
            print(f"{name}: not swept: {error}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def namespace_manifests(target: Target, base: Optional[dict[str, Any]] = None) -> str:
    """The review namespace (the program's labels for it, Pod Security `restricted`) and the
    RoleBinding that gives the review identity `webapp-review-deployer` in it, for `kubectl
    apply` by the review-admin job."""
    base = dict(base if base is not None else load_stack_config(BASE_STACK))
    hosting = parse_settings(base, BASE_STACK).routing.branches
    if hosting is None:
        raise SystemExit(f"the {BASE_STACK} stack does not host branch environments")
    settings = parse_settings(target_config(target, base), target.name)
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": target.name, "labels": stack_namespace_labels(settings)},
    }
    binding = deployer_binding(target.name, hosting.deployers)
    return yaml.safe_dump_all([namespace, binding], sort_keys=False)


def _target(args: argparse.Namespace) -> Target:
    if (args.branch is None) == (args.pr is None):
        raise BranchNameError("give a branch name or --pr <number>, not both")
    return pr_target(args.pr) if args.pr is not None else branch_target(args.branch)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="per-branch environments")
    parser.add_argument(
        "action", choices=("up", "down", "config", "url", "name", "namespace", "sweep", "stale")
    )
    parser.add_argument("branch", nargs="?", help="a git branch (developers' branch stacks)")
    parser.add_argument("names", nargs="*", help="sweep, stale: stack or namespace names")
    parser.add_argument("--pr", type=int, help="a pull request's number (review stacks)")
    parser.add_argument(
        "--open", default="", help="sweep, stale: the open pull requests' numbers, comma-separated"
    )
    parser.add_argument(
        "--policy-pack",
        nargs="?",
        const="policy",
        default="policy",
        metavar="DIR",
        help="the policy pack `pulumi up` runs (always one; default policy/, with its dev "
        "thresholds); CI passes the base branch's checkout",
    )
    return parser


def _list_action(args: argparse.Namespace) -> int:
    names = ([args.branch] if args.branch else []) + list(args.names)
    numbers = {int(number) for number in args.open.split(",") if number.strip()}
    if args.action == "stale":
        print("\n".join(stale(names, numbers)))
        return 0
    return sweep(names, numbers)


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_intermixed_args(argv)
    if args.action in ("sweep", "stale"):
        return _list_action(args)
    try:
        target = _target(args)
        config = target_config(target)
    except BranchNameError as error:
        print(f"branch {args.branch or args.pr!r}: {error}", file=sys.stderr)
        return 2
    if args.action == "config":
        print(HEADER + yaml.safe_dump({"config": config}, sort_keys=False))
        return 0
    if args.action in ("url", "name", "namespace"):
        print(
            f"https://{config['webapp:domain']}"
            if args.action == "url"
            else target.name
            if args.action == "name"
            else namespace_manifests(target)
        )
        return 0
    try:
        if args.action == "up":
            up(target, config, args.policy_pack)
            return 0
        return down(target, config)
    except (NotThisBranch, PulumiError) as error:
        print(f"branch {target.owner!r}: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        # pulumi printed its own error above; this says which step stopped.
        print(
            f"branch {target.owner!r}: `pulumi {' '.join(error.cmd[1:])}` failed", file=sys.stderr
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
