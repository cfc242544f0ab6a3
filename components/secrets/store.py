"""The secret-store interface: what a workload needs from the stack's store, on any cloud.

Every store (`secrets.generated.GeneratedStore` for `cloud: none`, `aws.store.AwsStore`,
`azure.store.AzureStore`) delivers the catalogued Kubernetes Secrets with the same names and keys,
and implements `SecretStore`. A workload never knows which cloud it runs on: it reads Secrets by
name, wires its pods with `access` (empty unless pods must reach the store themselves), and asks the
store for access with `grant_read(...)`, the grant pattern of the AWS CDK. The store decides what a
grant means: nothing where an operator reads for the pods (External Secrets), a federated
credential per ServiceAccount with the Azure CSI driver.

In time: every grant comes first, then `seal()`, then the workloads, each created only once what
`wait_for(...)` returns exists and is Ready (the Secrets it reads, or what lets its pods mount
them). The Kubernetes provider awaits a Deployment or StatefulSet for 10 minutes from its creation,
so a workload created before its Secrets could time out behind a slow store or database.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.config.credentials import CredentialSettings
from components.config.rotation import SecretRotation
from components.secrets import catalogue as cat

CSI_DRIVER = "secrets-store.csi.k8s.io"
CSI_MOUNT_PATH = "/mnt/secrets-store"


@dataclass(frozen=True, kw_only=True)
class SecretAccess:
    """What a pod needs to read the store itself: ServiceAccount annotations, pod labels, a CSI
    mount.

    Values may be Pulumi inputs (the identity's client id). Empty means plain `secretKeyRef`s
    suffice.
    """

    service_account_annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    secret_provider_classes: tuple[str, ...] = ()
    """Mount these SecretProviderClasses read-only, each at /mnt/secrets-store/<name> (each syncs
    one Kubernetes Secret while a pod mounts it). Default none."""

    def volumes(self) -> tuple[list[k8s.core.v1.VolumeArgs], list[k8s.core.v1.VolumeMountArgs]]:
        """One Secrets Store CSI volume (`csi-<class>`) and its mount per SecretProviderClass the
        pod mounts.

        A CSI volume is set up only once every object its class lists can be read, so a pod
        mounts exactly the classes of the Secrets it reads and waits for nothing else.
        """
        volumes = [
            k8s.core.v1.VolumeArgs(
                name=f"csi-{name}",
                csi=k8s.core.v1.CSIVolumeSourceArgs(
                    driver=CSI_DRIVER,
                    read_only=True,
                    volume_attributes={"secretProviderClass": name},
                ),
            )
            for name in self.secret_provider_classes
        ]
        mounts = [
            k8s.core.v1.VolumeMountArgs(
                name=f"csi-{name}", mount_path=f"{CSI_MOUNT_PATH}/{name}", read_only=True
            )
            for name in self.secret_provider_classes
        ]
        return volumes, mounts


NO_ACCESS = SecretAccess()


@dataclass(frozen=True, kw_only=True)
class ManagedEndpoint:
    """Where a managed database answers, and what creates it (waited for by what must reach it:
    the database roles Job)."""

    host: pulumi.Input[str]
    """The server's DNS name."""
    ready: tuple[pulumi.Resource, ...]
    """The server's resources."""


@dataclass(frozen=True, kw_only=True)
class GrafanaWiring:
    """What the monitoring stack's Grafana needs to read its admin Secret from the store."""

    ready: tuple[pulumi.Resource, ...] = ()
    """Resources that must exist before the Grafana release (its Secret, or what syncs it)."""
    values: Mapping[str, Any] = field(default_factory=dict)
    """Extra Helm values for Grafana (a workload identity and a CSI mount on Azure)."""


@dataclass(frozen=True, kw_only=True)
class StoreArgs:
    """What every store needs to know, whichever cloud backs it (each cloud adds its section)."""

    namespace: str
    """The application namespace (where the catalogued Secrets are delivered)."""
    instance: str
    """The stack name: part of the names of the store's cloud resources."""
    database_name: str
    """The application database's name."""
    database_username: str
    """The in-cluster database's user (a managed database keeps its own admin user)."""
    managed_database: bool
    """True: the cloud's managed PostgreSQL holds the data; False: the in-cluster PostgreSQL at
    `in_cluster_database_host` with a generated password."""
    in_cluster_database_host: str
    """The in-cluster PostgreSQL's DNS name, used when the database is not managed."""
    redis_host: str
    """The in-cluster Redis Service's DNS name (the connection strings point at it)."""
    nats_host: str
    """The in-cluster NATS Service's DNS name (the NATS users' URLs point at it)."""
    credentials: CredentialSettings
    """Where the external credentials come from: placeholders, config, or written into the store
    by operators (then the store declares no value for them)."""
    secret_rotation: SecretRotation = SecretRotation()
    """`webapp:secretRotation`: the generations of the rotated values and the one clients use.
    Default: generation a alone."""
    monitoring_namespace: Optional[str] = None
    """Where Grafana's admin Secret goes; None when this program does not install Grafana."""
    webhook_url: Optional[str] = None
    """The broadcaster's webhook URL; None delivers to a discard address. Default None."""
    rabbitmq_host: Optional[str] = None
    """The RabbitMQ Service's DNS name when the stack runs RabbitMQ (its Secret is delivered
    then). Default None."""
    elasticsearch_host: Optional[str] = None
    """The Elasticsearch HTTP Service's DNS name when the stack runs Elasticsearch. Default
    None."""

    @property
    def specs(self) -> tuple[cat.SecretSpec, ...]:
        """The Secrets delivered to the app namespace (the optional services' when they run)."""
        return cat.app_secrets(
            rabbitmq=self.rabbitmq_host is not None,
            elasticsearch=self.elasticsearch_host is not None,
        )

    protect: bool = False
    """Pulumi `protect` on the store's stateful resources (production). Default off."""
    crd_dependencies: Sequence[pulumi.Resource] = ()
    """What installs the External Secrets CRDs, when this program does (waited for)."""


class SecretStore(abc.ABC):
    """The stack's secret store, as the workloads see it."""

    def access(self, secrets: Sequence[str]) -> SecretAccess:
        """How the pods of a workload that reads the catalogued Secrets `secrets` are wired (its
        ServiceAccount, labels, volumes). Default: plain `secretKeyRef`s suffice."""
        del secrets
        return NO_ACCESS

    @property
    @abc.abstractmethod
    def grafana(self) -> GrafanaWiring:
        """Grafana's admin Secret: what to wait for and how to mount it."""

    @property
    def database_networks(self) -> tuple[str, ...]:
        """The CIDRs the store's managed database is reached in (its subnets, or its VPC/VNet when
        config does not give their ranges); () when the database runs in the cluster. Default
        ()."""
        return ()

    @property
    def managed_database(self) -> Optional[ManagedEndpoint]:
        """The store's managed database (RDS, Flexible Server): its host and the resource that
        creates it; None when the database runs in the cluster. Default None."""
        return None

    @property
    def syncs_on_mount(self) -> bool:
        """Whether a Secret exists only while a pod mounts it (the Secrets Store CSI driver):
        a Secret read by something other than a pod (the Prometheus operator) needs a pod that
        mounts it (`workloads.secret_sync`). Default False."""
        return False

    @property
    def database_create_timeout(self) -> Optional[str]:
        """How long the first rollout of a service whose readiness checks the database may take:
        set when its pods start while the store's managed database is still being created (its
        Secret does not wait for the server) and that creation can pass the provider's 10
        minutes. Default None: the in-cluster database is ready well within them (and awaited
        itself for 10), and a database whose Secret needs it (RDS) is created first."""
        return None

    @property
    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        """Stack outputs an operator needs (names, never values)."""
        return {}

    def grant_read(self, *, namespace: str, name: str) -> None:
        """Let the pods running as ServiceAccount `namespace`/`name` read the store; called before
        that workload (or its ServiceAccount) is declared.

        Default: nothing to do, the Secrets are synced by an operator and pods read them by name.
        """
        del namespace, name

    def seal(self) -> None:
        """Declare what the grants need; called once, after the last `grant_read` and before the
        first workload.

        Default: the grants needed nothing, so there is nothing to declare.
        """
        return None

    @abc.abstractmethod
    def wait_for(
        self, secrets: Sequence[str], *, namespace: str, name: str
    ) -> list[pulumi.Resource]:
        """What a workload whose pods run as `namespace`/`name` and read the catalogued Secrets
        `secrets` must wait for before it is created (after `seal()`)."""
