"""Argo CD and what it syncs (type `webapp:gitops:ArgoCd`).

Creates (parented to the component):
- the `argo-cd` Release in `argocd` (pinned chart, or nothing when `present`): CRDs kept on
  uninstall, no Dex or notifications, a health check for the operator's `Stack` kind
  (`files/stack-health.lua`: a failed reconcile shows as Degraded), two replicas of the server,
  repo server and ApplicationSet controller in high availability; the chart's hardened security
  contexts (non-root, read-only root, no capabilities, RuntimeDefault seccomp); the namespace
  Helm creates gets Pod Security labels (`namespaces.label_release_namespace`)
- an ExternalSecret writing Argo CD's repository Secret (URL and the Git token from the store)
- AppProject `webapp-<gitops stack>`: only the tracked repository, only the Stack objects' namespace
  in this cluster, only `pulumi.com/Stack` objects, no cluster-scoped kinds
- ApplicationSet `webapp-<gitops stack>`: one Application per handed-over environment, syncing
  `gitops/stacks/<gitops stack>/<environment>` with automated sync, prune and self-heal; deleting
  the ApplicationSet keeps the Stack objects (`preserveResourcesOnDeletion`); removing an
  environment (or `handOver: false`) deletes its Application and Stack object, which never
  destroys the environment (`destroyOnFinalize` off)

Order: the AppProject and ApplicationSet wait for the Argo CD Release (their CRDs) and for the
operator component (the Stack CRD, the workspace ServiceAccounts and Secrets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from .config import GitopsSettings
from .manifests import repository_path
from .namespaces import label_release_namespace
from .pins import ARGO_CD

ARGOCD_NAMESPACE = "argocd"
IN_CLUSTER = "https://kubernetes.default.svc"
HEALTH_KEY = "resource.customizations.health.pulumi.com_Stack"
HEALTH_CHECK = (Path(__file__).parent / "files" / "stack-health.lua").read_text()
REPOSITORY_SECRET = "webapp-gitops-repository"


ARGOCD_RESOURCES = {
    "controller": (("250m", "512Mi"), ("2", "2Gi")),
    "server": (("50m", "128Mi"), ("500m", "512Mi")),
    "repoServer": (("100m", "256Mi"), ("1", "1Gi")),
    "applicationSet": (("50m", "64Mi"), ("500m", "256Mi")),
    "redis": (("50m", "64Mi"), ("500m", "256Mi")),
}
"""Requests and limits (cpu, memory) per component: the chart sets none. The application
controller holds the cluster cache; it manages a few objects here, so 2Gi is headroom."""


def argocd_values(high_availability: bool) -> dict[str, Any]:
    """The chart's hardened security contexts (non-root, read-only root, no capabilities,
    RuntimeDefault seccomp: its defaults), requests and limits everywhere, no Dex or
    notifications, CRDs kept, the Stack health check; two replicas of the stateless parts in
    high availability."""
    replicas = 2 if high_availability else 1
    sized = {
        component: {
            "resources": {
                "requests": {"cpu": requests[0], "memory": requests[1]},
                "limits": {"cpu": limits[0], "memory": limits[1]},
            }
        }
        for component, (requests, limits) in ARGOCD_RESOURCES.items()
    }
    return sized | {
        # Uninstalling Argo CD must not delete every Application (and what they manage) with it.
        "crds": {"keep": True},
        "dex": {"enabled": False},
        "notifications": {"enabled": False},
        "configs": {"cm": {HEALTH_KEY: HEALTH_CHECK}},
        "server": {**sized["server"], "replicas": replicas},
        "repoServer": {**sized["repoServer"], "replicas": replicas},
        "applicationSet": {**sized["applicationSet"], "replicas": replicas},
    }


def project_spec(settings: GitopsSettings) -> dict[str, Any]:
    return {
        "description": f"webapp environments handed over by the GitOps stack {settings.name}",
        "sourceRepos": [settings.repository.url],
        "destinations": [{"server": IN_CLUSTER, "namespace": settings.namespace}],
        "clusterResourceWhitelist": [],
        "namespaceResourceWhitelist": [{"group": "pulumi.com", "kind": "Stack"}],
    }


def application_set_spec(settings: GitopsSettings, project: str) -> dict[str, Any]:
    """One Application per environment; the template's `{{.stack}}`/`{{.path}}` are filled from
    the list generator (goTemplate, missing keys an error).

    No progressive sync (`strategy: RollingSync`) orders the environments: it is experimental and
    "will force all generated Applications to have autosync disabled" (argo-cd v3.4.4,
    docs/operator-manual/applicationset/Progressive-Syncs.md), which would end self-heal. Each
    Application holds one object, so sync waves inside it order nothing; production waits for
    staging through the operator's prerequisite instead (`manifests.stack_manifest`)."""
    elements = [
        {"stack": environment.stack, "path": repository_path(settings, environment.stack)}
        for environment in settings.environments
        if environment.stack in settings.handed_over
    ]
    return {
        "goTemplate": True,
        "goTemplateOptions": ["missingkey=error"],
        "generators": [{"list": {"elements": elements}}],
        "syncPolicy": {"preserveResourcesOnDeletion": True},
        "template": {
            "metadata": {
                "name": "webapp-{{.stack}}",
                "labels": {"webapp.example.com/environment": "{{.stack}}"},
                # Removing an environment (or turning handOver off) deletes its Application and,
                # through this finalizer, its Stack object: the operator then only drops its own
                # finalizer (destroyOnFinalize is off), and CI can deploy the stack again.
                "finalizers": ["resources-finalizer.argocd.argoproj.io"],
            },
            "spec": {
                "project": project,
                "source": {
                    "repoURL": settings.repository.url,
                    "targetRevision": settings.repository.branch,
                    "path": "{{.path}}",
                },
                "destination": {"server": IN_CLUSTER, "namespace": settings.namespace},
                "syncPolicy": {
                    "automated": {"prune": True, "selfHeal": True},
                    "syncOptions": ["ServerSideApply=true"],
                    "retry": {
                        "limit": 5,
                        "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"},
                    },
                },
                # Argo CD's revision history of each Application (rollback in the UI).
                "revisionHistoryLimit": 10,
            },
        },
    }


@dataclass(frozen=True, kw_only=True)
class ArgoCdArgs:
    settings: GitopsSettings
    """The parsed GitOps config (mode, repository, environments)."""
    operator: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """What the first sync needs first: the operator component (CRDs, accounts, Secrets)."""
    provider: Optional[pulumi.ProviderResource] = None
    """The Kubernetes provider of the cluster (default: the ambient one)."""


class ArgoCd(pulumi.ComponentResource):
    def __init__(self, name: str, args: ArgoCdArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("webapp:gitops:ArgoCd", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        release = None
        if settings.argocd == "install":
            release = k8s.helm.v3.Release(
                f"{name}-release",
                k8s.helm.v3.ReleaseArgs(
                    name="argo-cd",
                    chart=ARGO_CD["chart"],
                    version=ARGO_CD["version"],
                    repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=ARGO_CD["repo"]),
                    namespace=ARGOCD_NAMESPACE,
                    create_namespace=True,
                    atomic=True,
                    cleanup_on_fail=True,
                    values=argocd_values(settings.high_availability),
                ),
                opts=child,
            )
            label_release_namespace(f"{name}-namespace", ARGOCD_NAMESPACE, child, release)
        after_release = pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(depends_on=[release] if release else [])
        )
        self._repository_secret(name, settings, after_release)
        project = f"webapp-{settings.name}"
        app_project = k8s.apiextensions.CustomResource(
            f"{name}-project",
            api_version="argoproj.io/v1alpha1",
            kind="AppProject",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=project, namespace=ARGOCD_NAMESPACE),
            spec=project_spec(settings),
            opts=after_release,
        )
        self.application_set = k8s.apiextensions.CustomResource(
            f"{name}-applications",
            api_version="argoproj.io/v1alpha1",
            kind="ApplicationSet",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=project, namespace=ARGOCD_NAMESPACE),
            spec=application_set_spec(settings, project),
            opts=pulumi.ResourceOptions.merge(
                after_release, pulumi.ResourceOptions(depends_on=[app_project, *args.operator])
            ),
        )
        self.register_outputs({"project": project})

    def _repository_secret(
        self, name: str, settings: GitopsSettings, opts: pulumi.ResourceOptions
    ) -> None:
        """Argo CD's repository Secret, written by External Secrets from the store's token."""
        k8s.apiextensions.CustomResource(
            f"{name}-repository",
            api_version="external-secrets.io/v1",
            kind="ExternalSecret",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=REPOSITORY_SECRET, namespace=ARGOCD_NAMESPACE),
            spec={
                "refreshInterval": "1h",
                "secretStoreRef": {"kind": "ClusterSecretStore", "name": settings.secret_store},
                "target": {
                    "name": REPOSITORY_SECRET,
                    "creationPolicy": "Owner",
                    "template": {
                        "metadata": {"labels": {"argocd.argoproj.io/secret-type": "repository"}},
                        "data": {
                            "type": "git",
                            "url": settings.repository.url,
                            "username": "git",
                            "password": "{{ .token }}",
                        },
                    },
                },
                "data": [
                    {"secretKey": "token", "remoteRef": {"key": settings.repository.token_key}}
                ],
            },
            opts=opts,
        )
