"""InClusterRedis: Redis as a single-replica StatefulSet with password auth from a Secret.

Creates (parented to the component):
- ConfigMap `redis` with redis.conf (no password in it: it `include`s a file written at start
  from the Secret, so the password is neither in the ConfigMap nor in the process arguments)
- ServiceAccount `redis` (no token automount; workload identity when asked)
- Service `redis` and headless Service `redis-headless`
- StatefulSet `redis`: restricted security context, `redis-cli ping` probes (auth via
  REDISCLI_AUTH), persistent volume with AOF when `persistence`, emptyDir otherwise
- NetworkPolicy admitting exactly the declared clients on 6379
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.config.quantities import image_tag
from components.config.settings import DataServiceSettings
from components.kube import objects as kx
from components.secrets.catalogue import REDIS
from components.secrets.store import NO_ACCESS, SecretAccess

PORT = 6379
REDIS_UID = 999  # the `redis` user of the official alpine image


def redis_conf(persistence: bool) -> str:
    lines = [
        "bind 0.0.0.0",
        f"port {PORT}",
        "protected-mode yes",
        "dir /data",
        f"appendonly {'yes' if persistence else 'no'}",
        "appendfsync everysec",
        'save ""' if not persistence else "save 900 1 300 10 60 10000",
        "maxmemory-policy allkeys-lru",
        # Dangerous admin commands are renamed away; the app never needs them.
        'rename-command FLUSHALL ""',
        'rename-command DEBUG ""',
        "include /run/redis/auth.conf",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, kw_only=True)
class InClusterRedisArgs:
    namespace: str
    instance: str
    settings: DataServiceSettings
    clients: tuple[str, ...]
    secret_access: SecretAccess = NO_ACCESS


class InClusterRedis(pulumi.ComponentResource):
    host: pulumi.Output[str]

    def __init__(
        self, name: str, args: InClusterRedisArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:data:InClusterRedis", name, None, opts)
        settings, ns = args.settings, args.namespace
        lbl = kx.labels("redis", args.instance, "cache", image_tag(settings.image))
        sel = kx.selector("redis", args.instance)
        child = kx.child_options(self, opts)
        conf = redis_conf(settings.persistence)
        k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=kx.metadata("redis", ns, lbl),
            data={"redis.conf": conf},
            opts=child,
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=kx.metadata("redis", ns, lbl),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=sel,
                ports=[k8s.core.v1.ServicePortArgs(name="redis", port=PORT, target_port="redis")],
            ),
            opts=child,
        )
        headless = k8s.core.v1.Service(
            f"{name}-headless",
            metadata=kx.metadata("redis-headless", ns, lbl),
            spec=k8s.core.v1.ServiceSpecArgs(
                cluster_ip="None",
                selector=sel,
                ports=[k8s.core.v1.ServicePortArgs(name="redis", port=PORT, target_port="redis")],
            ),
            opts=child,
        )
        self.service_accounts = {
            "redis": kx.service_account(
                f"{name}-sa",
                "redis",
                ns,
                lbl,
                child,
                args.secret_access.service_account_annotations,
            )
        }
        csi_volumes, csi_mounts = args.secret_access.volumes()
        ping = k8s.core.v1.ExecActionArgs(
            command=["sh", "-c", "redis-cli -h 127.0.0.1 ping | grep -q PONG"]
        )
        auth = k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=REDIS.name, key="password")
        )
        container = k8s.core.v1.ContainerArgs(
            name="redis",
            image=settings.image,
            image_pull_policy="IfNotPresent",
            command=[
                "sh",
                "-c",
                'umask 077 && printf "requirepass %s\\n" "$REDIS_PASSWORD" > /run/redis/auth.conf '
                "&& exec redis-server /etc/redis/redis.conf",
            ],
            env=[
                k8s.core.v1.EnvVarArgs(name="REDIS_PASSWORD", value_from=auth),
                k8s.core.v1.EnvVarArgs(name="REDISCLI_AUTH", value_from=auth),
            ],
            ports=[k8s.core.v1.ContainerPortArgs(name="redis", container_port=PORT)],
            resources=kx.resources(settings.resources.as_dict()),
            security_context=kx.container_security(REDIS_UID),
            startup_probe=k8s.core.v1.ProbeArgs(exec_=ping, period_seconds=5, failure_threshold=30),
            liveness_probe=k8s.core.v1.ProbeArgs(
                exec_=ping, period_seconds=15, failure_threshold=3, timeout_seconds=3
            ),
            readiness_probe=k8s.core.v1.ProbeArgs(
                exec_=ping, period_seconds=5, failure_threshold=3, timeout_seconds=3
            ),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="data", mount_path="/data"),
                k8s.core.v1.VolumeMountArgs(name="run", mount_path="/run/redis"),
                k8s.core.v1.VolumeMountArgs(name="config", mount_path="/etc/redis", read_only=True),
                *csi_mounts,
            ],
        )
        volumes = [
            k8s.core.v1.VolumeArgs(
                name="run",
                empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory", size_limit="1Mi"),
            ),
            k8s.core.v1.VolumeArgs(
                name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name="redis")
            ),
            *csi_volumes,
        ]
        if not settings.persistence:
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name="data", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi")
                )
            )
        k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata=kx.metadata("redis", ns, lbl),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name=headless.metadata.name,
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=sel),
                persistent_volume_claim_retention_policy=kx.RETAIN_CLAIMS,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**lbl, **dict(args.secret_access.pod_labels)},
                        annotations={"checksum/config": kx.checksum(conf)},
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name="redis",
                        automount_service_account_token=False,
                        enable_service_links=False,
                        security_context=kx.pod_security(REDIS_UID),
                        termination_grace_period_seconds=30,
                        containers=[container],
                        volumes=volumes,
                    ),
                ),
                volume_claim_templates=[
                    kx.claim_template("data", settings.storage_size, settings.storage_class, sel)
                ]
                if settings.persistence
                else None,
            ),
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=kx.metadata("redis", ns, lbl),
            spec=kx.network_policy_spec(
                "redis",
                args.instance,
                [kx.Peer(app=client, ports=(PORT,)) for client in args.clients],
                [],
            ),
            opts=child,
        )
        self.host = pulumi.Output.concat(service.metadata.name, ".", ns, ".svc.cluster.local")
        self.register_outputs({"host": self.host})
