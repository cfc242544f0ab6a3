"""InClusterRedis: Redis as a single-replica StatefulSet with password auth from a Secret.

Creates (parented to the component):
- ConfigMap `redis` with redis.conf (no password in it: it `include`s a file written at start
  from the Secret, so the password is neither in the ConfigMap nor in the process arguments);
  `maxmemory` from the container's memory limit, with room for the persistence fork
  (`maxmemory_bytes`), so Redis evicts before it is OOM-killed
- ServiceAccount `redis` (no token automount; workload identity when asked)
- Service `redis` and headless Service `redis-headless`
- StatefulSet `redis`: restricted security context, `redis-cli ping` probes (auth via
  REDISCLI_AUTH), persistent volume with AOF when `persistence`, emptyDir otherwise
- NetworkPolicy admitting exactly the declared clients on 6379
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.config.quantities import image_tag, memory_bytes
from components.config.settings import DataServiceSettings
from components.kube import objects as kx
from components.secrets.catalogue import REDIS
from components.secrets.store import NO_ACCESS, SecretAccess

PORT = 6379
READERS: Mapping[str, tuple[str, ...]] = {"redis": (REDIS.name,)}
"""The ServiceAccounts whose pods read Secrets, and which Secrets."""
REDIS_UID = 10001
"""redis-server runs as any UID (the image's entrypoint only changes users when started as root);
above 10000, clear of the host's users. /data is writable through the pod's fsGroup."""


ACL_LINE = "user default on resetpass >%s >%s ~* &* +@all"
"""The `default` user written at start (printf, the two generations' passwords): every key,
channel and command, as the default user had with `requirepass`."""


FORK_SHARE = 0.25
"""`maxmemory` as a share of the container's memory limit when Redis persists: an AOF rewrite or
RDB save forks, and under writes the child's copy-on-write pages grow towards the parent's whole
resident memory ("Redis may use up to 2 times the memory normally used", redis/redis-doc
`docs/management/admin.md`, Memory). The parent's resident memory is more than the dataset: under
eviction churn jemalloc keeps 1.4-1.6 times `used_memory` resident (measured by
`tests/data/test_redis_server.py`), plus the server itself (about 11 MiB) and buffers Redis does
not count against `maxmemory` (the AOF buffer). A quarter keeps twice that under the limit."""
NO_FORK_SHARE = 0.7
"""`maxmemory` as a share of the limit when nothing forks (no AOF, no RDB saves): 30% is left for
the allocator's fragmentation, client buffers and the server itself."""


def maxmemory_bytes(memory_limit: str, persistence: bool) -> int:
    """The dataset's ceiling (`maxmemory`) for a container limited to `memory_limit`: Redis evicts
    (`allkeys-lru`) there, before the kernel's OOM killer acts at the limit. `maxmemory` counts
    Redis' own allocations (`used_memory`), not a fork's copy-on-write pages, hence the share."""
    share = FORK_SHARE if persistence else NO_FORK_SHARE
    return int(memory_bytes(memory_limit) * share)


def redis_conf(persistence: bool, memory_limit: str) -> str:
    lines = [
        "bind 0.0.0.0",
        f"port {PORT}",
        "protected-mode yes",
        "dir /data",
        f"appendonly {'yes' if persistence else 'no'}",
        "appendfsync everysec",
        'save ""' if not persistence else "save 900 1 300 10 60 10000",
        # Without a ceiling allkeys-lru never evicts: Redis grows to the limit and is killed.
        f"maxmemory {maxmemory_bytes(memory_limit, persistence)}",
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
    """The application namespace (created by NamespaceBaseline)."""
    instance: str
    """The stack name: `app.kubernetes.io/instance`, and part of the names of cloud resources."""
    settings: DataServiceSettings
    """The validated settings of this data service (image, replicas, storage, resources)."""
    clients: tuple[str, ...]
    """App names allowed to connect (NetworkPolicy ingress, on the service's port only)."""
    secret_access: SecretAccess = NO_ACCESS
    """How the pod reaches the secret store itself (Azure CSI); plain secretKeyRefs by default."""
    wait_for: Mapping[str, Sequence[pulumi.Resource]] = field(default_factory=dict)
    """ServiceAccount name (`READERS`) -> what its workload waits for before it is created (the
    store's `wait_for`: the Secrets it reads, or what mounts them). Default: nothing."""
    protect: bool = False
    """Pulumi `protect` on the StatefulSet when it keeps data (production). Default off."""


def _redis_container(
    settings: DataServiceSettings, extra_mounts: Sequence[k8s.core.v1.VolumeMountArgs]
) -> k8s.core.v1.ContainerArgs:
    """redis-server. The passwords go from the Secret into a 0600 file on a memory volume, so they
    are never in argv (visible in `ps`) nor in the ConfigMap: the `default` ACL user with the
    password of each generation (Redis 7 ACL: a user holds several passwords, `>` adds one and
    `resetpass` first drops the `nopass` the default user starts with), so clients on either
    generation are accepted while they roll (`config.rotation`)."""
    ping = k8s.core.v1.ExecActionArgs(
        command=["sh", "-c", "redis-cli -h 127.0.0.1 ping | grep -q PONG"]
    )

    def secret(key: str) -> k8s.core.v1.EnvVarSourceArgs:
        return k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=REDIS.name, key=key)
        )

    return k8s.core.v1.ContainerArgs(
        name="redis",
        image=settings.image,
        image_pull_policy=settings.image_pull_policy,
        command=[
            "sh",
            "-c",
            f'umask 077 && printf \'{ACL_LINE}\\n\' "$REDIS_PASSWORD_A" "$REDIS_PASSWORD_B" '
            "> /run/redis/auth.conf && exec redis-server /etc/redis/redis.conf",
        ],
        env=[
            k8s.core.v1.EnvVarArgs(name="REDIS_PASSWORD_A", value_from=secret("password-a")),
            k8s.core.v1.EnvVarArgs(name="REDIS_PASSWORD_B", value_from=secret("password-b")),
            k8s.core.v1.EnvVarArgs(name="REDISCLI_AUTH", value_from=secret("password")),
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
            *extra_mounts,
        ],
    )


def _volumes(
    persistence: bool, extra: Sequence[k8s.core.v1.VolumeArgs]
) -> list[k8s.core.v1.VolumeArgs]:
    volumes = [
        k8s.core.v1.VolumeArgs(
            name="run",
            empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory", size_limit="1Mi"),
        ),
        k8s.core.v1.VolumeArgs(
            name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name="redis")
        ),
        *extra,
    ]
    if not persistence:
        volumes.append(
            k8s.core.v1.VolumeArgs(
                name="data", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi")
            )
        )
    return volumes


class InClusterRedis(pulumi.ComponentResource):
    host: pulumi.Output[str]

    def __init__(
        self, name: str, args: InClusterRedisArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:data:InClusterRedis", name, None, opts)
        self._name, self._args = name, args
        self._workload_labels = kx.labels(
            "redis", args.instance, "cache", image_tag(args.settings.image)
        )
        self._labels = kx.without_version(self._workload_labels)
        self._selector = kx.selector("redis", args.instance)
        self._child = kx.child_options(self, opts)
        conf = redis_conf(args.settings.persistence, args.settings.resources.memory_limit)
        k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=kx.metadata("redis", args.namespace, self._labels),
            data={"redis.conf": conf},
            opts=self._child,
        )
        service = self._service("service", "redis", headless=False)
        headless = self._service("headless", "redis-headless", headless=True)
        self.service_accounts = {
            "redis": kx.service_account(
                f"{name}-sa",
                "redis",
                args.namespace,
                self._labels,
                self._child,
                args.secret_access.service_account_annotations,
            )
        }
        self._create_stateful_set(headless, conf)
        clients = [kx.Peer(app=client, ports=(PORT,)) for client in args.clients]
        self.ingress: dict[str, tuple[kx.Peer, ...]] = {"redis": tuple(clients)}
        """What the NetworkPolicy admits (the mesh's AuthorizationPolicy mirrors it)."""
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=kx.metadata("redis", args.namespace, self._labels),
            spec=kx.network_policy_spec("redis", args.instance, clients, []),
            opts=self._child,
        )
        self.host = pulumi.Output.concat(
            service.metadata.name, ".", args.namespace, ".svc.cluster.local"
        )
        self.register_outputs({"host": self.host})

    def _service(self, suffix: str, service_name: str, headless: bool) -> k8s.core.v1.Service:
        return k8s.core.v1.Service(
            f"{self._name}-{suffix}",
            metadata=kx.metadata(service_name, self._args.namespace, self._labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                cluster_ip="None" if headless else None,
                selector=self._selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="redis", port=PORT, target_port="redis", app_protocol="tcp"
                    )
                ],
            ),
            opts=self._child,
        )

    def _create_stateful_set(self, headless: k8s.core.v1.Service, conf: str) -> None:
        args, settings = self._args, self._args.settings
        csi_volumes, csi_mounts = args.secret_access.volumes()
        pod = k8s.core.v1.PodSpecArgs(
            service_account_name="redis",
            automount_service_account_token=False,
            enable_service_links=False,
            security_context=kx.pod_security(REDIS_UID),
            termination_grace_period_seconds=30,
            containers=[_redis_container(settings, csi_mounts)],
            volumes=_volumes(settings.persistence, csi_volumes),
        )
        claims = [
            kx.claim_template("data", settings.storage_size, settings.storage_class, self._selector)
        ]
        stateful_set = k8s.apps.v1.StatefulSet(
            f"{self._name}-statefulset",
            # A new password applies at start (requirepass): Reloader restarts the pod when its
            # Secret changes, together with the clients, which reload the same Secret.
            metadata=kx.metadata(
                "redis", args.namespace, self._workload_labels, kx.reload_on(READERS["redis"])
            ),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name=headless.metadata.name,
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._selector),
                persistent_volume_claim_retention_policy=kx.RETAIN_CLAIMS,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**self._workload_labels, **dict(args.secret_access.pod_labels)},
                        annotations={"checksum/config": kx.checksum(conf)},
                    ),
                    spec=pod,
                ),
                volume_claim_templates=claims if settings.persistence else None,
            ),
            opts=kx.stateful_set_options(
                self._child,
                [self.service_accounts["redis"], *args.wait_for.get("redis", ())],
                args.protect and settings.persistence,
            ),
        )
        if settings.persistence:
            kx.grow_claims(
                f"{self._name}-claim",
                stateful_set,
                ["data-redis-0"],
                args.namespace,
                settings.storage_size,
                self._child,
            )
