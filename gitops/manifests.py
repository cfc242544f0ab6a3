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
import sys
from pathlib import Path
from typing import Any, Optional

import yaml

from .config import Environment, GitopsSettings

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
PREREQUISITE_WINDOW = "5m"
"""How recent the prerequisite's success must be (shorter than any update, so production nearly
always makes staging run the current branch head first)."""
AZURE_USE_LABEL = "azure.workload.identity/use"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
AZURE_CLIENT_ANNOTATION = "azure.workload.identity/client-id"


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


def stack_manifest(settings: GitopsSettings, environment: Environment) -> dict[str, Any]:
    """The operator `Stack` of one environment (pulumi.com/v1, as the v2.9.0 CRD defines it)."""
    spec: dict[str, Any] = {
        "stack": f"{settings.pulumi.organization}/{PROJECT}/{environment.stack}",
        "projectRepo": settings.repository.url,
        "branch": settings.repository.branch,
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
        # The operator checks that the prerequisite's last update succeeded at its current
        # generation and, with succeededWithinDuration, recently; an older success makes it
        # re-run the prerequisite first, which fetches the branch head (isRequirementSatisfied,
        # stack_controller.go@v2.9.0). It does not compare commits: the short window is what
        # makes production run after staging has run the branch as it is now.
        spec["prerequisites"] = [
            {
                "name": stack_object_name(environment.after),
                "requirement": {"succeededWithinDuration": PREREQUISITE_WINDOW},
            }
        ]
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


def rendered(settings: GitopsSettings) -> dict[Path, str]:
    return {
        manifest_path(settings, environment.stack): HEADER.format(name=settings.name)
        + yaml.safe_dump(stack_manifest(settings, environment), sort_keys=False)
        for environment in settings.environments
    }


def main(argv: Optional[list[str]] = None) -> int:
    from .program import gitops_stacks, load_settings

    parser = argparse.ArgumentParser(description="write the Stack objects Argo CD syncs")
    parser.add_argument("--check", action="store_true", help="fail when a file differs")
    args = parser.parse_args(argv)
    stale = []
    expected: dict[Path, str] = {}
    for name in gitops_stacks():
        expected.update(rendered(load_settings(name)))
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
