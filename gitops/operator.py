"""The Pulumi Kubernetes Operator and what its workspaces need (type `webapp:gitops:Operator`).

Creates (parented to the component):
- Namespace `<namespace>` (restricted Pod Security) holding the Stack objects and their
  workspaces; protected and retained on delete, so removing this project never deletes the
  Stack objects with it
- the operator Release (pinned chart, or nothing when `present`), hardened: read-only root
  filesystem with an emptyDir at /tmp, RuntimeDefault seccomp, requests and limits; the
  namespace Helm creates gets Pod Security labels (`namespaces.label_release_namespace`)
- ExternalSecrets syncing the Git token (`webapp-gitops-git`) and the Pulumi access token
  (`webapp-gitops-pulumi`) from the store: no token is in a stack file or in Git
- per handed-over environment: the workspace ServiceAccount with its cloud identity (IRSA role
  annotation, or Azure workload identity client id) and a ClusterRoleBinding to
  `system:auth-delegator`, which the workspace agent needs to authenticate the operator
  (agent/pkg/server/auth.go@v2.9.0)

Order: the ServiceAccounts and Secrets come before the ApplicationSet (the program makes it wait
for this component), so the first sync of a Stack finds what its workspace mounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from .config import GitopsSettings
from .manifests import (
    AZURE_CLIENT_ANNOTATION,
    GIT_SECRET,
    IRSA_ANNOTATION,
    PULUMI_SECRET,
    workspace_account,
)
from .namespaces import label_release_namespace
from .pins import PULUMI_OPERATOR

OPERATOR_NAMESPACE = "pulumi-kubernetes-operator"


def operator_values(high_availability: bool) -> dict[str, Any]:
    """The chart's defaults (non-root 65532, no capabilities, no privilege escalation) plus a
    read-only root filesystem (the chart leaves it commented out; /tmp, where the operator keeps
    fetched sources, becomes an emptyDir) and RuntimeDefault seccomp. One replica is leader
    anyway; two in production shorten a failover (the lease is 60 s)."""
    return {
        "replicaCount": 2 if high_availability else 1,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "seccompProfile": {"type": "RuntimeDefault"},
            "capabilities": {"drop": ["ALL"]},
        },
        "extraVolumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}}],
        "extraVolumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "resources": {
            "requests": {"cpu": "200m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
    }


@dataclass(frozen=True, kw_only=True)
class OperatorArgs:
    settings: GitopsSettings
    """The parsed GitOps config (mode, namespace, store, environments)."""
    provider: Optional[pulumi.ProviderResource] = None
    """The Kubernetes provider of the operator's cluster (default: the ambient one)."""


class Operator(pulumi.ComponentResource):
    release: Optional[k8s.helm.v3.Release]

    def __init__(
        self, name: str, args: OperatorArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:gitops:Operator", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=settings.namespace,
                labels={
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "app.kubernetes.io/part-of": "webapp",
                },
            ),
            # Deleting the namespace would delete every Stack object in it; nothing would be
            # destroyed (destroyOnFinalize is off), but the environments would stop reconciling.
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(retain_on_delete=True, protect=True)
            ),
        )
        self.release = self._create_release(name, settings, child)
        in_namespace = pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(depends_on=[self.namespace])
        )
        self.secrets = [
            self._store_secret(name, settings, secret, key, in_namespace)
            for secret, key in (
                (GIT_SECRET, settings.repository.token_key),
                (PULUMI_SECRET, settings.pulumi.token_key),
            )
        ]
        self.accounts = [
            self._workspace_account(name, settings, env, in_namespace)
            for env in settings.environments
        ]
        self.register_outputs({"namespace": settings.namespace})

    def _create_release(
        self, name: str, settings: GitopsSettings, child: pulumi.ResourceOptions
    ) -> Optional[k8s.helm.v3.Release]:
        if settings.operator == "present":
            return None
        release = k8s.helm.v3.Release(
            f"{name}-release",
            k8s.helm.v3.ReleaseArgs(
                name="pulumi-kubernetes-operator",
                chart=PULUMI_OPERATOR["chart"],
                version=PULUMI_OPERATOR["version"],
                namespace=OPERATOR_NAMESPACE,
                create_namespace=True,
                atomic=True,
                cleanup_on_fail=True,
                values=operator_values(settings.high_availability),
            ),
            opts=child,
        )
        label_release_namespace(f"{name}-release-namespace", OPERATOR_NAMESPACE, child, release)
        return release

    def _store_secret(
        self,
        name: str,
        settings: GitopsSettings,
        secret: str,
        store_key: str,
        opts: pulumi.ResourceOptions,
    ) -> k8s.apiextensions.CustomResource:
        """A Secret with key `accessToken` synced from the store entry `store_key`."""
        return k8s.apiextensions.CustomResource(
            f"{name}-{secret}",
            api_version="external-secrets.io/v1",
            kind="ExternalSecret",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=secret, namespace=settings.namespace),
            spec={
                "refreshInterval": "1h",
                "secretStoreRef": {"kind": "ClusterSecretStore", "name": settings.secret_store},
                "target": {"name": secret, "creationPolicy": "Owner"},
                "data": [{"secretKey": "accessToken", "remoteRef": {"key": store_key}}],
            },
            opts=opts,
        )

    def _workspace_account(
        self, name: str, settings: GitopsSettings, environment: Any, opts: pulumi.ResourceOptions
    ) -> k8s.core.v1.ServiceAccount:
        account = workspace_account(environment.stack)
        annotations = (
            {IRSA_ANNOTATION: environment.role_arn}
            if environment.cloud == "aws"
            else {AZURE_CLIENT_ANNOTATION: environment.client_id}
        )
        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-{environment.stack}-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=account, namespace=settings.namespace, annotations=annotations
            ),
            # The workspace agent calls the API server (TokenReview of the operator's requests),
            # so its token stays mounted.
            opts=opts,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-{environment.stack}-auth-delegator",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{settings.namespace}:{account}:system:auth-delegator"
            ),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io",
                kind="ClusterRole",
                name="system:auth-delegator",
            ),
            subjects=[
                k8s.rbac.v1.SubjectArgs(
                    kind="ServiceAccount", name=account, namespace=settings.namespace
                )
            ],
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(depends_on=[service_account])
            ),
        )
        return service_account
