"""`python -m gitops.promote <environment> <commit>`: record the commit a gated environment (one
with `after`, production) deploys, only once its `after` stack (staging) succeeded at exactly that
commit.

It reads the `after` environment's operator Stack object (`kubectl get stacks.pulumi.com`, or
`--status FILE` with that object as JSON), refuses unless its status reports a successful `up` at
the commit for the object's current spec, then writes `gitops/promotions.yaml` and the gated
environment's Stack object (`spec.commit`). Commit both and merge: Argo CD syncs the object and
the operator runs `pulumi up` of that commit. No cluster is changed by this command.

The status fields, as the operator v2.9.0 writes them (operator/api/pulumi/shared/stack_types.go
`StackUpdateState`; operator/internal/controller/pulumi/stack_controller.go):
- `markStackSucceeded` sets `lastUpdate.state: succeeded`, `lastSuccessfulCommit` and
  `lastAttemptedCommit` to the commit run, `generation` to the Stack's generation, `type` to the
  update's type (`up`, or `preview` for a Stack with `preview` on: a preview also "succeeds");
- `markStackFailed` sets `state: failed` but copies the previous `lastSuccessfulCommit`, so that
  field alone does not say the last run at the commit succeeded;
- `isSynced` treats an update as current only when `lastUpdate.generation` equals
  `metadata.generation` (an older generation ran an older spec).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import yaml

from .config import Environment, GitopsSettings
from .manifests import (
    FULL_SHA,
    PROJECT,
    PROMOTIONS,
    PROMOTIONS_HEADER,
    PromotionError,
    load_promotions,
    rendered,
    stack_object_name,
)


def refusal(
    settings: GitopsSettings, environment: Environment, commit: str, stack_object: Mapping[str, Any]
) -> str:
    """Why `commit` may not be promoted to `environment` given its `after` environment's Stack
    object; "" when it may."""
    after = environment.after
    expected = f"{settings.pulumi.organization}/{PROJECT}/{after}"
    metadata = stack_object.get("metadata") or {}
    spec = stack_object.get("spec") or {}
    if stack_object.get("kind") != "Stack" or metadata.get("name") != stack_object_name(after):
        return f"the object given is not the Stack {stack_object_name(after)}"
    if spec.get("stack") != expected or spec.get("projectRepo") != settings.repository.url:
        return (
            f"{stack_object_name(after)} deploys {spec.get('stack')!r} from "
            f"{spec.get('projectRepo')!r}, not {expected!r} from {settings.repository.url!r}"
        )
    last = (stack_object.get("status") or {}).get("lastUpdate") or {}
    if not last:
        return f"{after} has not finished an update yet (status.lastUpdate is empty)"
    if last.get("generation") != metadata.get("generation"):
        return (
            f"{after}'s last update ran generation {last.get('generation')}, not its current spec "
            f"(generation {metadata.get('generation')}); wait for the update in progress"
        )
    if last.get("state") != "succeeded":
        return (
            f"{after}'s last update {last.get('state', 'unknown')} at "
            f"{last.get('lastAttemptedCommit') or 'an unknown commit'}: {last.get('message', '')}"
        )
    if last.get("type") != "up":
        return f"{after}'s last update was a {last.get('type')!r}, not an `up`"
    if last.get("lastSuccessfulCommit") != commit:
        return (
            f"{after} last succeeded at {last.get('lastSuccessfulCommit')}, not at {commit}; "
            f"promote that commit, or wait until {after} has run {commit}"
        )
    return ""


def gated(settings_by_stack: Mapping[str, GitopsSettings], name: str) -> GitopsSettings:
    """The GitOps stack handing over `name` with an `after` (exactly one)."""
    found = [
        settings
        for settings in settings_by_stack.values()
        for environment in settings.environments
        if environment.stack == name and environment.after
    ]
    if len(found) != 1:
        raise PromotionError(
            f"{name}: handed over with `after` in {len(found)} GitOps stacks; expected exactly one "
            "(an environment without `after` follows the branch and is not promoted)"
        )
    return found[0]


def kubectl_stack(settings: GitopsSettings, name: str) -> dict[str, Any]:
    """The live Stack object `name` from the GitOps stack's cluster."""
    command = [
        "kubectl",
        "--context",
        settings.context,
        "--namespace",
        settings.namespace,
        "get",
        "stacks.pulumi.com",
        name,
        "--output",
        "json",
    ]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def promote(
    settings: GitopsSettings,
    name: str,
    commit: str,
    stack_object: Mapping[str, Any],
    promotions_path: Path = PROMOTIONS,
) -> dict[Path, str]:
    """Check, then write the promotion record; returns the Stack object files to write."""
    if FULL_SHA.fullmatch(commit) is None:
        raise PromotionError(f"{commit!r} is not a full commit hash (40 lowercase hex digits)")
    environment = next(env for env in settings.environments if env.stack == name)
    why = refusal(settings, environment, commit, stack_object)
    if why:
        raise PromotionError(f"refusing to promote {commit} to {name}: {why}")
    promotions = {**load_promotions(promotions_path), name: commit}
    promotions_path.write_text(PROMOTIONS_HEADER + yaml.safe_dump(promotions, sort_keys=True))
    return rendered(settings, promotions)


def main(
    argv: Optional[list[str]] = None,
    fetch: Callable[[GitopsSettings, str], dict[str, Any]] = kubectl_stack,
) -> int:
    from .program import gitops_stacks, load_settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("environment", help="the gated environment, e.g. production")
    parser.add_argument("commit", help="the full commit hash to deploy there")
    parser.add_argument(
        "--status", help="the `after` Stack object as JSON (a file, or - for stdin)"
    )
    args = parser.parse_args(argv)
    try:
        settings = gated({name: load_settings(name) for name in gitops_stacks()}, args.environment)
        after = next(env.after for env in settings.environments if env.stack == args.environment)
        if args.status:
            text = sys.stdin.read() if args.status == "-" else Path(args.status).read_text()
            stack_object = json.loads(text)
        else:
            stack_object = fetch(settings, stack_object_name(after))
        files = promote(settings, args.environment, args.commit, stack_object)
    except PromotionError as error:
        print(error, file=sys.stderr)
        return 1
    except (OSError, subprocess.CalledProcessError, json.JSONDecodeError) as error:
        detail = getattr(error, "stderr", "") or error
        print(f"could not read the `after` Stack object: {detail}", file=sys.stderr)
        return 1
    for path, text in files.items():
        path.write_text(text)
    print(
        f"promoted {args.commit} to {args.environment}: commit {PROMOTIONS.name} and "
        f"{', '.join(str(path.relative_to(PROMOTIONS.parent.parent)) for path in files)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
