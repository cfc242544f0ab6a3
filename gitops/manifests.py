"""What Argo CD syncs from Git: one Pulumi Kubernetes Operator `Stack` object per handed-over
environment (pure builders, plus the command that writes them under `gitops/stacks/`).

The objects are files in the repository, not resources of the GitOps project: Argo CD owns them
(automated sync, prune, self-heal), so a Pulumi `up` of the GitOps project and Argo CD never fight
over them. `python -m gitops.manifests` writes them from the GitOps stack files; the suite fails
while a committed file differs (`--check`).

Safety, as the operator does it at v2.9.0 (operator/internal/controller/pulumi/stack_controller.go):
a Stack marked for deletion with `destroyOnFinalize` false only drops its finalizer (no destroy),
so deleting the object, pruning it from Git or deleting the Application never destroys an
environment. Nothing in the config turns `destroyOnFinalize` on.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from .config import MAIN_STACKS, Environment, GitopsSettings

GITOPS = Path(__file__).resolve().parent
STACKS_DIR = GITOPS / "stacks"
PROJECT = "webapp"
"""The main program's Pulumi project name (Pulumi.yaml `name`)."""
GIT_SECRET = "webapp-gitops-git"
"""The Secret (synced from the store) holding the Git token, key `accessToken`."""
PULUMI_SECRET = "webapp-gitops-pulumi"
"""The Secret (synced from the store) holding the Pulumi access token, key `accessToken`."""
WORKSPACE_RESOURCES = {
    "requests": {"cpu": "500m", "memory": "1Gi"},
    "limits": {"cpu": "2", "memory": "4Gi"},
}
"""A workspace runs the Python program and the providers (the main program's `make bench` peaks
under 1 GiB; the AWS and Kubernetes providers add theirs)."""
PROMOTIONS = GITOPS / "promotions.yaml"
"""The commit each gated environment (one with `after`) deploys, keyed by environment; written by
`python -m gitops.promote` only after the `after` stack succeeded at that commit."""
PROMOTIONS_HEADER = (
    "# The commit each gated environment (one with `after`) deploys. Written by\n"
    "# `python -m gitops.promote <environment> <commit>`, which refuses a commit\n"
    '# the `after` stack has not successfully deployed (README "How a commit\n'
    '# reaches production"). Reviewed and merged like any change; Argo CD then\n'
    "# syncs the environment's Stack object.\n"
)
FULL_SHA = re.compile(r"[0-9a-f]{40}")
"""A full commit hash: the operator uses `spec.commit` as the commit only when
`plumbing.IsHash` accepts it (40 hex digits); anything else is looked up as a ref name
(gitSource.CurrentCommit, operator/internal/controller/pulumi/git.go@v2.9.0)."""
AZURE_USE_LABEL = "azure.workload.identity/use"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
AZURE_CLIENT_ANNOTATION = "azure.workload.identity/client-id"
TOKEN_AUDIENCE = {"aws": "sts.amazonaws.com", "azure": "api://AzureADTokenExchange"}
"""The audience of the token each cloud's webhook projects into the workspace pod (EKS pod
identity webhook; Azure workload identity webhook): the trust must require it."""


def stack_object_name(stack: str) -> str:
    return f"webapp-{stack}"


def workspace_account(stack: str) -> str:
    """The workspace's ServiceAccount (the GitOps project creates it with the cloud identity)."""
    return f"webapp-{stack}-deployer"


def identity_subject(namespace: str, stack: str) -> str:
    """The OIDC subject the deploy role (or federated credential) must trust for the workspace."""
    return f"system:serviceaccount:{namespace}:{workspace_account(stack)}"


def _secret_ref(name: str) -> dict[str, Any]:
    return {"type": "Secret", "secret": {"name": name, "key": "accessToken"}}


def _workspace(settings: GitopsSettings, environment: Environment) -> dict[str, Any]:
    """The workspace pod: restricted profile, the deployer ServiceAccount, sized for the program;
    on Azure, the workload-identity webhook's opt-in label (the token is projected for it)."""
    spec: dict[str, Any] = {
        "serviceAccountName": workspace_account(environment.stack),
        "securityProfile": "restricted",
        "resources": WORKSPACE_RESOURCES,
    }
    if environment.cloud == "azure":
        spec["podTemplate"] = {"metadata": {"labels": {AZURE_USE_LABEL: "true"}}}
    return {"spec": spec}


class PromotionError(ValueError):
    """The promotion record is missing, malformed, or refuses a commit (message says which)."""


def load_promotions(path: Optional[Path] = None) -> dict[str, str]:
    """`gitops/promotions.yaml` (or `path`): environment -> promoted commit (full lowercase
    hash)."""
    path = path or PROMOTIONS
    if not path.exists():
        return {}
    loaded = yaml.safe_load(path.read_text()) or {}
    if not isinstance(loaded, dict):
        raise PromotionError(f"{path.name}: expected a mapping of environment to commit")
    for environment, commit in loaded.items():
        if environment not in MAIN_STACKS:
            raise PromotionError(
                f"{path.name}: {environment!r} is not an environment; expected one of "
                f"{', '.join(MAIN_STACKS)}"
            )
        if not isinstance(commit, str) or FULL_SHA.fullmatch(commit) is None:
            raise PromotionError(
                f"{path.name}: {environment}: {commit!r} is not a full commit hash (40 lowercase "
                "hex digits)"
            )
    return {str(environment): str(commit) for environment, commit in loaded.items()}


def promoted_commit(environment: Environment, promotions: Mapping[str, str]) -> str:
    """The commit a gated environment deploys; an ungated one tracks the branch ("")."""
    if not environment.after:
        return ""
    commit = promotions.get(environment.stack)
    if commit is None:
        raise PromotionError(
            f"{PROMOTIONS.name}: no commit promoted for {environment.stack} (it deploys only "
            f"commits {environment.after} succeeded at); run python -m gitops.promote "
            f"{environment.stack} <commit>"
        )
    return commit


def stack_manifest(
    settings: GitopsSettings,
    environment: Environment,
    promotions: Optional[Mapping[str, str]] = None,
) -> dict[str, Any]:
    """The operator `Stack` of one environment (pulumi.com/v1, as the v2.9.0 CRD defines it);
    `promotions` defaults to `gitops/promotions.yaml`."""
    commit = promoted_commit(environment, load_promotions() if promotions is None else promotions)
    # A gated environment pins the promoted commit (`commit` and `branch` are mutually
    # exclusive: NewGitSource, git.go@v2.9.0); the others follow the branch head.
    source = {"commit": commit} if commit else {"branch": settings.repository.branch}
    spec: dict[str, Any] = {
        "stack": f"{settings.pulumi.organization}/{PROJECT}/{environment.stack}",
        "projectRepo": settings.repository.url,
        **source,
        "gitAuth": {"accessToken": _secret_ref(GIT_SECRET)},
        "backend": settings.pulumi.backend.rstrip("/"),
        "envRefs": {"PULUMI_ACCESS_TOKEN": _secret_ref(PULUMI_SECRET)},
        # Drift: refresh before every update, and keep re-running at the interval even when the
        # commit has not moved (otherwise the operator stops once a commit has succeeded).
        "refresh": True,
        "resyncFrequencySeconds": settings.resync_minutes * 60,
        "continueResyncOnCommitMatch": True,
        # Deleting this object never destroys the environment (see the module docstring).
        "destroyOnFinalize": False,
        "workspaceTemplate": _workspace(settings, environment),
    }
    if environment.secrets_provider:
        spec["secretsProvider"] = environment.secrets_provider
    if environment.after:
        # Same commit: `gitops.promote` wrote `commit` only after the `after` Stack reported a
        # successful update at it. The prerequisite adds that the `after` stack's last update
        # (at its current generation) succeeded, so a failing staging holds production
        # (isRequirementSatisfied, stack_controller.go@v2.9.0). No `succeededWithinDuration`:
        # an expired window makes the operator re-run staging at the branch head, which would
        # not be production's commit.
        spec["prerequisites"] = [{"name": stack_object_name(environment.after)}]
    return {
        "apiVersion": "pulumi.com/v1",
        "kind": "Stack",
        "metadata": {
            "name": stack_object_name(environment.stack),
            "namespace": settings.namespace,
            "labels": {
                "app.kubernetes.io/part-of": "webapp",
                "app.kubernetes.io/managed-by": "argocd",
                "webapp.example.com/environment": environment.stack,
            },
        },
        "spec": spec,
    }


def manifest_path(settings: GitopsSettings, stack: str) -> Path:
    """Where Argo CD reads an environment's objects (the ApplicationSet's source path)."""
    return STACKS_DIR / settings.name / stack / "stack.yaml"


def repository_path(settings: GitopsSettings, stack: str) -> str:
    return str(manifest_path(settings, stack).parent.relative_to(GITOPS.parent))


HEADER = (
    "# Generated by `python -m gitops.manifests` from gitops/Pulumi.{name}.yaml; do not edit.\n"
)


def rendered(
    settings: GitopsSettings, promotions: Optional[Mapping[str, str]] = None
) -> dict[Path, str]:
    found = load_promotions() if promotions is None else promotions
    return {
        manifest_path(settings, environment.stack): HEADER.format(name=settings.name)
        + yaml.safe_dump(stack_manifest(settings, environment, found), sort_keys=False)
        for environment in settings.environments
    }


def main(argv: Optional[list[str]] = None) -> int:
    from .program import gitops_stacks, load_settings

    parser = argparse.ArgumentParser(description="write the Stack objects Argo CD syncs")
    parser.add_argument("--check", action="store_true", help="fail when a file differs")
    args = parser.parse_args(argv)
    stale = []
    expected: dict[Path, str] = {}
    try:
        for name in gitops_stacks():
            expected.update(rendered(load_settings(name)))
    except PromotionError as error:
        print(error, file=sys.stderr)
        return 1
    for path, text in expected.items():
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for path in STACKS_DIR.glob("*/*/stack.yaml"):
        if path not in expected:
            stale.append(path)
            if not args.check:
                path.unlink()
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'} {path.relative_to(GITOPS.parent)}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
