"""SecretSync: keeps the Secrets Store CSI driver syncing Secrets that no workload mounts.

The driver creates (and rotates) a SecretProviderClass's Kubernetes Secret only while a pod
mounts it. The alert receivers' endpoints are read by the Prometheus operator, not by a pod of
the application, so with CSI delivery this pod mounts their class and nothing else.

Creates (parented to the component):
- ServiceAccount `secret-sync` (no API token; the store's workload identity)
- Deployment `secret-sync`: one replica that only sleeps, Ready once every mounted class shows
  its files; non-root, read-only root filesystem, no capabilities
- NetworkPolicy: no traffic in or out (the driver mounts on the node, not through the pod)

In time: created after the store's grants and what its classes need (`wait_for`); awaited like
any Deployment. Nothing waits for it: the operator picks the Secret up when it appears.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.config.azure import SECRET_SYNC_SERVICE_ACCOUNT
from components.config.capacity import SECRET_SYNC
from components.kube import objects as kx
from components.secrets.store import CSI_MOUNT_PATH, SecretAccess

NAME = SECRET_SYNC_SERVICE_ACCOUNT
IMAGE = "busybox:1.37.0"
UID = 65532


@dataclass(frozen=True, kw_only=True)
class SecretSyncArgs:
    namespace: str
    """Where the Secrets are delivered."""
    instance: str
    """The stack name (labels)."""
    secrets: tuple[str, ...]
    """The catalogued Secrets to keep synced (one SecretProviderClass each, named like them)."""
    access: SecretAccess
    """How the pod mounts them (the store's `access(secrets)`)."""
    wait_for: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """What the Deployment waits for (the store's `wait_for`)."""


def _mounted(secrets: Sequence[str]) -> k8s.core.v1.ProbeArgs:
    checks = " && ".join(f'[ -n "$(ls -A {CSI_MOUNT_PATH}/{secret})" ]' for secret in secrets)
    return k8s.core.v1.ProbeArgs(
        exec_=k8s.core.v1.ExecActionArgs(command=["sh", "-c", checks]),
        period_seconds=30,
        failure_threshold=3,
    )


class SecretSync(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: SecretSyncArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:workloads:SecretSync", name, None, opts)
        labels = kx.labels(NAME, args.instance, "secrets", "v1")
        child = kx.child_options(self, opts)
        account = kx.service_account(
            f"{name}-sa",
            NAME,
            args.namespace,
            labels,
            child,
            args.access.service_account_annotations,
        )
        volumes, mounts = args.access.volumes()
        container = k8s.core.v1.ContainerArgs(
            name=NAME,
            image=IMAGE,
            # Sleeps until stopped; the mounts are the point.
            command=["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 3600 & wait $!; done"],
            resources=kx.resources(SECRET_SYNC.as_dict()),
            security_context=kx.container_security(UID),
            readiness_probe=_mounted(args.secrets),
            liveness_probe=_mounted(args.secrets),
            volume_mounts=mounts,
        )
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=kx.metadata(NAME, args.namespace, labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels=kx.selector(NAME, args.instance)
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**labels, **dict(args.access.pod_labels)}
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=NAME,
                        automount_service_account_token=False,
                        enable_service_links=False,
                        security_context=kx.pod_security(UID),
                        containers=[container],
                        volumes=volumes,
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[account, *args.wait_for])
            ),
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=kx.metadata(NAME, args.namespace, labels),
            spec=kx.network_policy_spec(NAME, args.instance, [], []),
            opts=child,
        )
        self.register_outputs({})
