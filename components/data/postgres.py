"""InClusterPostgres: PostgreSQL as a StatefulSet, with verified daily backups.

Creates (parented to the component, named from it):
- ServiceAccounts `postgres` and `postgres-backup` (no token automount; workload identity when
  asked)
- Service `postgres` (ClusterIP) and headless Service `postgres-headless`
- StatefulSet `postgres`: one replica, persistent volume (retained on delete and scale-down),
  `pg_isready` startup/liveness/readiness probes, restricted security context, and the
  `postgres-exporter` sidecar (postgres_exporter, loopback only, its own non-root UID) serving
  the Database dashboard's metrics on 9187, a port of the `postgres` Service
- ServiceMonitor on that port when monitoring is on
- ConfigMap `postgres-backup` holding `pg-backup.sh` (backup / verify / restore / prune)
- PersistentVolumeClaim `postgres-backups` and CronJob `postgres-backup` (daily 02:00 by
  default, Forbid concurrency; prunes expired backups and interrupted runs' partial files first,
  then a compressed custom-format dump, kept only once it restores into a scratch database;
  7-day retention, the newest backup always kept)
- NetworkPolicies: the database admits exactly the declared clients on 5432 (and the monitoring
  namespace on 9187); the backup job may reach only the database
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources as pkg_resources
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.config.capacity import POSTGRES_EXPORTER
from components.config.quantities import image_tag
from components.config.settings import DatabaseSettings
from components.kube import objects as kx
from components.kube.lifecycle import retained
from components.secrets.catalogue import DATABASE
from components.secrets.store import NO_ACCESS, SecretAccess

PORT = 5432
METRICS_PORT = 9187
EXPORTER_IMAGE = "quay.io/prometheuscommunity/postgres-exporter:v0.20.1"
EXPORTER_UID = 65534
"""The image's own `nobody` (its Dockerfile's USER): above 10000, and unlike the server's, free
to differ from the pod's."""
READERS: Mapping[str, tuple[str, ...]] = {
    "postgres": (DATABASE.name,),
    "postgres-backup": (DATABASE.name,),
}
"""The ServiceAccounts whose pods read Secrets, and which Secrets."""
POSTGRES_UID = 70
"""The server's UID and GID: the `postgres` user of the official alpine image, the one UID at or
below 10000 this program runs. Not for lack of support: the image (16.10-alpine on alpine 3.22)
ships nss_wrapper, and its entrypoint fakes a passwd entry for initdb under any UID. Kept because
of the data already on the volume: PostgreSQL refuses a data directory not owned by its own UID
(or one its group may write, which fsGroup's relabelling of a changed GID would make it), and the
namespace's `restricted` Pod Security admits no root init container to chown it. Moving means a
dump, a new volume and a restore (`pg-backup.sh restore`)."""
BACKUP_UID = 65532
"""The backup job's UID and GID: it reads the server over TCP as the application's user, so it
needs no passwd entry (libpq takes the user and password from PGUSER and PGPASSWORD), and the
backups volume is shared through its fsGroup (the kubelet regroups backups written under an
earlier one)."""


def backup_script() -> str:
    """The backup script shipped in the ConfigMap (also run by the tests against a real server)."""
    return pkg_resources.files(__package__).joinpath("files/pg-backup.sh").read_text()


@dataclass(frozen=True, kw_only=True)
class InClusterPostgresArgs:
    namespace: str
    """The application namespace (created by NamespaceBaseline)."""
    instance: str
    """The stack name: `app.kubernetes.io/instance`, and part of the names of cloud resources."""
    settings: DatabaseSettings
    """Image, storage, resources and the backup schedule, retention and volume size."""
    clients: tuple[str, ...]
    """App names allowed to connect on 5432."""
    secret_access: SecretAccess = NO_ACCESS
    """How the database and backup pods reach the secret store (Azure CSI); plain secretKeyRefs by
    default.
    """
    wait_for: Mapping[str, Sequence[pulumi.Resource]] = field(default_factory=dict)
    """ServiceAccount name (`READERS`) -> what its workload waits for before it is created (the
    store's `wait_for`: the Secrets it reads, or what mounts them). Default: nothing."""
    protect: bool = False
    """Pulumi `protect` on the StatefulSet (production). Default off."""
    adopt: Optional[pulumi.ProviderResource] = None
    """The Kubernetes provider that adopts an existing object (`upsertExistingObjects`), for the
    retained backup claim: a stack declared again over it takes it over. None: the inherited
    provider (`components.kube.lifecycle`)."""
    monitoring_namespace: Optional[str] = None
    """Where Prometheus runs: admitted to the exporter's 9187. Default none."""
    service_monitor: bool = False
    """Create a ServiceMonitor for the exporter (needs the Prometheus operator CRDs). Default
    off."""
    crd_dependencies: Sequence[pulumi.Resource] = ()
    """What installs the ServiceMonitor CRD, when this program installs it (waited for)."""


def _secret_env(pairs: Sequence[tuple[str, str]]) -> list[k8s.core.v1.EnvVarArgs]:
    """Environment variables read from `webapp-database` keys, by reference."""
    return [
        k8s.core.v1.EnvVarArgs(
            name=variable,
            value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=DATABASE.name, key=key)
            ),
        )
        for variable, key in pairs
    ]


def _empty_dir(name: str, size: str) -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(
        name=name, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=size)
    )


def _postgres_container(
    settings: DatabaseSettings, extra_mounts: Sequence[k8s.core.v1.VolumeMountArgs]
) -> k8s.core.v1.ContainerArgs:
    """The server, checked by pg_isready on loopback (the probes never leave the pod)."""
    ready = k8s.core.v1.ExecActionArgs(
        command=[
            "sh",
            "-c",
            'pg_isready -h 127.0.0.1 -p 5432 -U "$POSTGRES_USER" -d "$POSTGRES_DB"',
        ]
    )
    credentials = (
        ("POSTGRES_USER", "username"),
        ("POSTGRES_PASSWORD", "password"),
        ("POSTGRES_DB", "dbname"),
    )
    return k8s.core.v1.ContainerArgs(
        name="postgres",
        image=settings.image,
        image_pull_policy=settings.image_pull_policy,
        ports=[k8s.core.v1.ContainerPortArgs(name="postgres", container_port=PORT)],
        env=[
            *_secret_env(credentials),
            k8s.core.v1.EnvVarArgs(name="PGDATA", value="/var/lib/postgresql/data/pgdata"),
        ],
        resources=kx.resources(settings.resources.as_dict()),
        security_context=kx.container_security(POSTGRES_UID),
        startup_probe=k8s.core.v1.ProbeArgs(
            exec_=ready, period_seconds=5, failure_threshold=60, timeout_seconds=5
        ),
        liveness_probe=k8s.core.v1.ProbeArgs(
            exec_=ready, period_seconds=15, failure_threshold=4, timeout_seconds=5
        ),
        readiness_probe=k8s.core.v1.ProbeArgs(
            exec_=ready, period_seconds=5, failure_threshold=3, timeout_seconds=5
        ),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="data", mount_path="/var/lib/postgresql/data"),
            k8s.core.v1.VolumeMountArgs(name="run", mount_path="/var/run/postgresql"),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            *extra_mounts,
        ],
    )


def _exporter_container(settings: DatabaseSettings) -> k8s.core.v1.ContainerArgs:
    """postgres_exporter: reads the server over loopback as the application's user (its
    statistics views need no superuser), serves 9187."""
    metrics = k8s.core.v1.HTTPGetActionArgs(path="/", port="metrics")
    return k8s.core.v1.ContainerArgs(
        name="postgres-exporter",
        image=EXPORTER_IMAGE,
        image_pull_policy=settings.image_pull_policy,
        args=[f"--web.listen-address=:{METRICS_PORT}"],
        env=[
            *_secret_env(
                (
                    ("DATA_SOURCE_USER", "username"),
                    ("DATA_SOURCE_PASS", "password"),
                    ("PGDATABASE", "dbname"),
                )
            ),
            k8s.core.v1.EnvVarArgs(
                name="DATA_SOURCE_URI", value=f"127.0.0.1:{PORT}/$(PGDATABASE)?sslmode=disable"
            ),
        ],
        ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=METRICS_PORT)],
        resources=kx.resources(POSTGRES_EXPORTER.as_dict()),
        security_context=kx.container_security(EXPORTER_UID),
        liveness_probe=k8s.core.v1.ProbeArgs(
            http_get=metrics, period_seconds=30, failure_threshold=3, timeout_seconds=5
        ),
        # Its landing page answers whether or not the server does: `pg_up` reports the server.
        readiness_probe=k8s.core.v1.ProbeArgs(
            http_get=metrics, period_seconds=10, failure_threshold=3, timeout_seconds=5
        ),
    )


def _backup_container(
    settings: DatabaseSettings, extra_mounts: Sequence[k8s.core.v1.VolumeMountArgs]
) -> k8s.core.v1.ContainerArgs:
    """`pg-backup.sh backup` with the server's own image (pg_dump matches the server version)."""
    env = [
        k8s.core.v1.EnvVarArgs(name="PGHOST", value="postgres"),
        k8s.core.v1.EnvVarArgs(name="PGPORT", value=str(PORT)),
        k8s.core.v1.EnvVarArgs(name="BACKUP_DIR", value="/backups"),
        k8s.core.v1.EnvVarArgs(name="RETENTION_DAYS", value=str(settings.backup.retention_days)),
        *_secret_env(
            (("PGUSER", "username"), ("PGPASSWORD", "password"), ("PGDATABASE", "dbname"))
        ),
    ]
    return k8s.core.v1.ContainerArgs(
        name="backup",
        image=settings.image,
        image_pull_policy=settings.image_pull_policy,
        command=["/bin/sh", "/scripts/pg-backup.sh", "backup"],
        env=env,
        resources=kx.resources(
            {
                "requests": {"cpu": "50m", "memory": "64Mi"},
                "limits": {"cpu": "500m", "memory": "256Mi"},
            }
        ),
        security_context=kx.container_security(BACKUP_UID),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="backups", mount_path="/backups"),
            k8s.core.v1.VolumeMountArgs(name="scripts", mount_path="/scripts", read_only=True),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            *extra_mounts,
        ],
    )


def _backup_volumes(extra: Sequence[k8s.core.v1.VolumeArgs]) -> list[k8s.core.v1.VolumeArgs]:
    claim = k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(claim_name="postgres-backups")
    script = k8s.core.v1.ConfigMapVolumeSourceArgs(name="postgres-backup", default_mode=0o555)
    return [
        k8s.core.v1.VolumeArgs(name="backups", persistent_volume_claim=claim),
        k8s.core.v1.VolumeArgs(name="scripts", config_map=script),
        _empty_dir("tmp", "64Mi"),
        *extra,
    ]


class InClusterPostgres(pulumi.ComponentResource):
    host: pulumi.Output[str]

    def __init__(
        self, name: str, args: InClusterPostgresArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:data:InClusterPostgres", name, None, opts)
        self._name, self._args, self._opts = name, args, opts
        self._workload_labels = kx.labels(
            "postgres", args.instance, "database", image_tag(args.settings.image)
        )
        self._labels = kx.without_version(self._workload_labels)
        child = kx.child_options(self, opts)
        self.service, headless = self._create_services(child)
        self.service_accounts = {
            "postgres": kx.service_account(
                f"{name}-sa",
                "postgres",
                args.namespace,
                self._labels,
                child,
                args.secret_access.service_account_annotations,
            )
        }
        self.stateful_set = self._create_stateful_set(headless, child)
        kx.grow_claims(
            f"{name}-claim",
            self.stateful_set,
            ["data-postgres-0"],
            args.namespace,
            args.settings.storage_size,
            child,
        )
        self._create_backup(child)
        clients = [
            kx.Peer(app=client, ports=(PORT,)) for client in (*args.clients, "postgres-backup")
        ]
        if args.monitoring_namespace:
            clients.append(kx.prometheus(args.monitoring_namespace, (METRICS_PORT,)))
        if args.service_monitor:
            self._create_service_monitor()
        self.ingress: dict[str, tuple[kx.Peer, ...]] = {"postgres": tuple(clients)}
        """What the NetworkPolicy admits (the mesh's AuthorizationPolicy mirrors it)."""
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=kx.metadata("postgres", args.namespace, self._labels),
            spec=kx.network_policy_spec("postgres", args.instance, clients, []),
            opts=child,
        )
        self.host = pulumi.Output.concat(
            self.service.metadata.name, ".", args.namespace, ".svc.cluster.local"
        )
        self.register_outputs({"host": self.host})

    def _create_service_monitor(self) -> None:
        args = self._args
        kx.service_monitor(
            f"{self._name}-servicemonitor",
            "postgres",
            args.instance,
            args.namespace,
            self._labels,
            kx.child_options(self, self._opts, args.crd_dependencies),
        )

    def _create_services(
        self, child: pulumi.ResourceOptions
    ) -> tuple[k8s.core.v1.Service, k8s.core.v1.Service]:
        """`postgres` for the clients, `postgres-headless` for the StatefulSet's pod name."""
        args = self._args
        selector = kx.selector("postgres", args.instance)
        service = k8s.core.v1.Service(
            f"{self._name}-service",
            metadata=kx.metadata("postgres", args.namespace, self._labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="postgres",
                        port=PORT,
                        target_port="postgres",
                        # Istio knows no `postgresql`: it would sniff the port.
                        app_protocol="tcp",
                    ),
                    k8s.core.v1.ServicePortArgs(
                        name="metrics",
                        port=METRICS_PORT,
                        target_port="metrics",
                        app_protocol="http",
                    ),
                ],
            ),
            opts=child,
        )
        headless = k8s.core.v1.Service(
            f"{self._name}-headless",
            metadata=kx.metadata("postgres-headless", args.namespace, self._labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                cluster_ip="None",
                selector=selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="postgres", port=PORT, target_port="postgres", app_protocol="tcp"
                    )
                ],
            ),
            opts=child,
        )
        return service, headless

    def _create_stateful_set(
        self, headless: k8s.core.v1.Service, child: pulumi.ResourceOptions
    ) -> k8s.apps.v1.StatefulSet:
        args, settings = self._args, self._args.settings
        selector = kx.selector("postgres", args.instance)
        csi_volumes, csi_mounts = args.secret_access.volumes()
        pod = k8s.core.v1.PodSpecArgs(
            service_account_name="postgres",
            automount_service_account_token=False,
            enable_service_links=False,
            security_context=kx.pod_security(POSTGRES_UID),
            termination_grace_period_seconds=60,
            containers=[_postgres_container(settings, csi_mounts), _exporter_container(settings)],
            volumes=[_empty_dir("run", "16Mi"), _empty_dir("tmp", "256Mi"), *csi_volumes],
        )
        pod_labels = {**self._workload_labels, **dict(args.secret_access.pod_labels)}
        claim = kx.claim_template("data", settings.storage_size, settings.storage_class, selector)
        return k8s.apps.v1.StatefulSet(
            f"{self._name}-statefulset",
            metadata=kx.metadata("postgres", args.namespace, self._workload_labels),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name=headless.metadata.name,
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                persistent_volume_claim_retention_policy=kx.RETAIN_CLAIMS,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels), spec=pod
                ),
                volume_claim_templates=[claim],
            ),
            opts=kx.stateful_set_options(
                child,
                [self.service_accounts["postgres"], *args.wait_for.get("postgres", ())],
                args.protect,
            ),
        )

    def _create_backup(self, child: pulumi.ResourceOptions) -> None:
        """The nightly backup: its ServiceAccount, script, claim, CronJob and NetworkPolicy."""
        args, settings = self._args, self._args.settings
        labels = kx.without_version(
            kx.labels("postgres-backup", args.instance, "backup", image_tag(settings.image))
        )
        self.service_accounts["postgres-backup"] = kx.service_account(
            f"{self._name}-backup-sa",
            "postgres-backup",
            args.namespace,
            labels,
            child,
            args.secret_access.service_account_annotations,
        )
        script = backup_script()
        k8s.core.v1.ConfigMap(
            f"{self._name}-backup-script",
            metadata=kx.metadata("postgres-backup", args.namespace, labels),
            data={"pg-backup.sh": script},
            opts=child,
        )
        self._create_backup_claim(labels, child)
        self._create_backup_job(labels, script, child)
        k8s.networking.v1.NetworkPolicy(
            f"{self._name}-backup-netpol",
            metadata=kx.metadata("postgres-backup", args.namespace, labels),
            spec=kx.network_policy_spec(
                "postgres-backup", args.instance, [], [kx.Peer(app="postgres", ports=(PORT,))]
            ),
            opts=child,
        )

    def _create_backup_claim(self, labels: dict[str, str], child: pulumi.ResourceOptions) -> None:
        settings = self._args.settings
        k8s.core.v1.PersistentVolumeClaim(
            f"{self._name}-backups",
            # Its first consumer is the 02:00 backup Job: on WaitForFirstConsumer storage classes
            # the claim stays Pending until then, so `pulumi up` must not wait for it to bind.
            metadata=kx.metadata(
                "postgres-backups", self._args.namespace, labels, {"pulumi.com/skipAwait": "true"}
            ),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                storage_class_name=settings.storage_class,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                    requests={"storage": settings.backup.storage_size}
                ),
            ),
            # Retained by Pulumi: `pulumi destroy` leaves it, and its backups, as long as the
            # namespace stays (production's is protected); where the namespace goes too (dev),
            # the cluster deletes the claim with it (README "Destroy safety"). And `protect`ed
            # where the stack protects its data: a change that would replace it (a storage
            # class) is refused at preview.
            opts=pulumi.ResourceOptions.merge(
                retained(child, self._args.adopt),
                pulumi.ResourceOptions(protect=self._args.protect),
            ),
        )

    def _create_backup_job(
        self, labels: dict[str, str], script: str, child: pulumi.ResourceOptions
    ) -> None:
        args, settings = self._args, self._args.settings
        csi_volumes, csi_mounts = args.secret_access.volumes()
        pod = k8s.core.v1.PodSpecArgs(
            service_account_name="postgres-backup",
            restart_policy="Never",
            automount_service_account_token=False,
            enable_service_links=False,
            security_context=kx.pod_security(BACKUP_UID),
            containers=[_backup_container(settings, csi_mounts)],
            volumes=_backup_volumes(csi_volumes),
        )
        template = k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(
                labels={
                    **labels,
                    kx.VERSION_LABEL: image_tag(settings.image),
                    **dict(args.secret_access.pod_labels),
                },
                annotations={"checksum/script": kx.checksum(script)},
            ),
            spec=pod,
        )
        k8s.batch.v1.CronJob(
            f"{self._name}-backup",
            metadata=kx.metadata(
                "postgres-backup",
                args.namespace,
                {**labels, kx.VERSION_LABEL: image_tag(settings.image)},
            ),
            spec=k8s.batch.v1.CronJobSpecArgs(
                schedule=settings.backup.schedule,
                time_zone="Etc/UTC",
                concurrency_policy="Forbid",
                starting_deadline_seconds=3600,
                successful_jobs_history_limit=3,
                failed_jobs_history_limit=3,
                job_template=k8s.batch.v1.JobTemplateSpecArgs(
                    spec=k8s.batch.v1.JobSpecArgs(
                        backoff_limit=2,
                        active_deadline_seconds=3600,
                        ttl_seconds_after_finished=86400,
                        template=template,
                    )
                ),
            ),
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    depends_on=[
                        self.service_accounts["postgres-backup"],
                        *args.wait_for.get("postgres-backup", ()),
                    ]
                ),
            ),
        )
