"""AzureStore: the stack's secret store on Azure (`webapp:cloud: azure`), behind the `SecretStore`
interface.

Declares, with the names every Azure stack has always had:
- the resource group `<name>-resource-group` when `azure.createResourceGroup` (protected in
  production)
- the database password `<name>-database-password` (pulumi-random; Key Vault holds it)
- FlexiblePostgres `<name>-postgres-server` when `database.mode` is `managed`
- KeyVaultStore `<name>-key-vault`, WorkloadIdentity `<name>-identity`
- AzureSecretDelivery `<name>-secret-delivery` (CSI driver or External Secrets)
- ManagedPrometheusConfig `<name>-managed-prometheus` when `azure.managedPrometheus`
- with the CSI driver and Grafana installed: Grafana's ServiceAccount
  `<name>-grafana-service-account`
- FederatedCredentials `<name>-federated-credentials`, one per ServiceAccount that authenticates
  to Key Vault: with External Secrets its ServiceAccount alone, declared before its store (which
  waits for it); with the CSI driver every granted reader, at `seal()`, before the workloads
  (each waits for its own)

In time: with External Secrets a workload waits for the ExternalSecrets of what it reads (each
after the store, awaited Ready, and after the vault's secrets). With the CSI driver it waits for
the SecretProviderClasses of what it reads (one per Secret), their vault secrets, its own
credential and the identity's role; nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_azure_native as azure
import pulumi_kubernetes as k8s

from components.azure.delivery import AzureSecretDelivery, AzureSecretDeliveryArgs
from components.azure.identity import (
    FederatedCredentials,
    FederatedCredentialsArgs,
    WorkloadIdentity,
    WorkloadIdentityArgs,
)
from components.azure.key_vault import KeyVaultStore, KeyVaultStoreArgs
from components.azure.monitor import (
    AddonScrape,
    ManagedPrometheusConfig,
    ManagedPrometheusConfigArgs,
)
from components.azure.postgres import FlexiblePostgres, FlexiblePostgresArgs, server_name
from components.azure.workload_identity import CLIENT_ID_ANNOTATION, TENANT_ID_ANNOTATION, USE_LABEL
from components.config.azure import ESO_SERVICE_ACCOUNT, GRAFANA_SERVICE_ACCOUNT, AzureSettings
from components.kube.objects import labels, service_account
from components.secrets import catalogue as cat
from components.secrets.generated import generated_password
from components.secrets.store import (
    CSI_DRIVER,
    CSI_MOUNT_PATH,
    NO_ACCESS,
    GrafanaWiring,
    ManagedEndpoint,
    SecretAccess,
    SecretStore,
    StoreArgs,
)
from components.secrets.values import database_values


@dataclass(frozen=True, kw_only=True)
class AzureStoreArgs:
    store: StoreArgs
    """The cloud-neutral inputs every store takes."""
    azure: AzureSettings
    """The validated `webapp:azure` section; the store hands each component only what it
    reads."""
    scrape_addons: tuple[AddonScrape, ...] = ()
    """With `azure.managedPrometheus`: the add-ons' pods the managed Prometheus scrapes too (what
    the in-cluster PodMonitors scrape). Default none."""


class AzureStore(SecretStore):
    def __init__(self, name: str, args: AzureStoreArgs, opts: pulumi.ResourceOptions):
        self._name, self._args, self._opts = name, args, opts
        self._database_networks: tuple[str, ...] = ()
        if args.store.managed_database:
            # The flexible server lives in its delegated subnet.
            self._database_networks = (args.azure.database_subnet_cidr or args.azure.vnet_cidr,)
        self._outputs: dict[str, pulumi.Input[Any]] = {}
        self._readers: dict[str, tuple[str, str]] = {}
        self._credentials: dict[str, pulumi.Resource] = {}
        self._grafana_account: Optional[k8s.core.v1.ServiceAccount] = None
        self._annotations: dict[str, pulumi.Input[str]] = {}
        self._grafana = GrafanaWiring()
        self._managed_database: Optional[ManagedEndpoint] = None
        self.resource_group = self._resource_group()
        database = self._database_values()
        self.vault = KeyVaultStore(f"{name}-key-vault", self._vault_args(database), opts=opts)
        az = args.azure
        self.identity = WorkloadIdentity(
            f"{name}-identity",
            WorkloadIdentityArgs(
                instance=args.store.instance,
                resource_group=self.resource_group,
                location=az.location,
                subscription_id=az.subscription_id,
                vault_id=self.vault.vault_id,
            ),
            opts=opts,
        )
        if az.delivery == "external-secrets":
            # The operator's one credential comes before its store, which authenticates with it.
            namespace = args.store.namespace
            self._federate({f"{namespace}-{ESO_SERVICE_ACCOUNT}": (namespace, ESO_SERVICE_ACCOUNT)})
        self.delivery = self._delivery()
        if az.managed_prometheus:
            ManagedPrometheusConfig(
                f"{name}-managed-prometheus",
                ManagedPrometheusConfigArgs(
                    namespace=args.store.namespace,
                    instance=args.store.instance,
                    addons=args.scrape_addons,
                ),
                opts=opts,
            )
        self._outputs["keyVaultName"] = self.vault.vault_name
        if az.delivery == "csi":
            self._wire_csi()
        elif args.store.monitoring_namespace:
            self._grafana = GrafanaWiring(ready=(self.delivery.objects[cat.GRAFANA.name],))

    def access(self, secrets: Sequence[str]) -> SecretAccess:
        """With the CSI driver a reading pod authenticates as its own workload identity and
        mounts the SecretProviderClass of each Secret it reads; with External Secrets it reads
        plain Secrets."""
        if self._args.azure.delivery != "csi" or not secrets:
            return NO_ACCESS
        return SecretAccess(
            service_account_annotations=self._annotations,
            pod_labels={USE_LABEL: "true"},
            secret_provider_classes=tuple(sorted(set(secrets))),
        )

    @property
    def database_networks(self) -> tuple[str, ...]:
        """The delegated database subnet (or the whole VNet without `databaseSubnetCidr`)."""
        return self._database_networks

    @property
    def managed_database(self) -> Optional[ManagedEndpoint]:
        """The Flexible Server (`database.mode: managed`)."""
        return self._managed_database

    @property
    def syncs_on_mount(self) -> bool:
        return self._args.azure.delivery == "csi"

    @property
    def database_create_timeout(self) -> Optional[str]:
        """The Key Vault secrets name the server before it exists, so api and auth start with it
        and their readiness waits for it: a Flexible Server takes 5-10 minutes, 15-20 when
        zone-redundant (Azure's quickstart), so their first rollout may take 30."""
        return "30m" if self._args.store.managed_database else None

    @property
    def grafana(self) -> GrafanaWiring:
        """With the CSI driver Grafana mounts the vault as its own identity: read after `seal()`,
        it waits for its credential too."""
        if self._grafana_account is None:
            return self._grafana
        monitoring = self._args.store.monitoring_namespace
        assert monitoring is not None
        ready = self.wait_for(
            (cat.GRAFANA.name,), namespace=monitoring, name=GRAFANA_SERVICE_ACCOUNT
        )
        return GrafanaWiring(ready=(self._grafana_account, *ready), values=self._grafana.values)

    @property
    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        return self._outputs

    def grant_read(self, *, namespace: str, name: str) -> None:
        """With the CSI driver each reading pod authenticates to Key Vault as its own
        ServiceAccount; with External Secrets only the operator does, so a grant declares
        nothing."""
        if self._args.azure.delivery == "csi":
            self._readers[f"{namespace}-{name}"] = (namespace, name)

    def seal(self) -> None:
        if self._args.azure.delivery == "csi":
            self._federate(self._readers)

    def wait_for(
        self, secrets: Sequence[str], *, namespace: str, name: str
    ) -> list[pulumi.Resource]:
        if self._args.azure.delivery == "external-secrets":
            return [self.delivery.objects[secret] for secret in secrets]
        key = f"{namespace}-{name}"
        assert key in self._credentials, f"{key}: grant_read and seal() come before the workload"
        # A pod mounts the class of each Secret it reads, and a class mounts once all its
        # objects can be read: the pod waits for those vault secrets, and no others.
        classes = [self.delivery.objects[secret] for secret in sorted(set(secrets))]
        values = [value for secret in sorted(set(secrets)) for value in self.vault.secrets[secret]]
        return [*classes, self.identity, *values, self._credentials[key]]

    def _federate(self, subjects: Mapping[str, tuple[str, str]]) -> None:
        credentials = FederatedCredentials(
            f"{self._name}-federated-credentials",
            FederatedCredentialsArgs(
                identity_name=self.identity.identity.name,
                resource_group=self.resource_group,
                issuer=self._args.azure.oidc_issuer_url,
                subjects=dict(subjects),
            ),
            opts=self._opts,
        )
        self._credentials = dict(credentials.credentials)

    def _resource_group(self) -> pulumi.Input[str]:
        az = self._args.azure
        if not az.create_resource_group:
            return az.resource_group
        group = azure.resources.ResourceGroup(
            f"{self._name}-resource-group",
            azure.resources.ResourceGroupArgs(
                resource_group_name=az.resource_group,
                location=az.location,
                tags=dict(az.tags) or None,
            ),
            opts=pulumi.ResourceOptions.merge(
                self._opts, pulumi.ResourceOptions(protect=self._args.store.protect)
            ),
        )
        return group.name

    def _database_values(self) -> dict[str, pulumi.Input[str]]:
        """`webapp-database` as Key Vault holds it; the password is generated here (the server takes
        it too).
        """
        args, az = self._args, self._args.azure
        password = generated_password(
            f"{self._name}-database-password", 32, pulumi.ResourceOptions(parent=self._opts.parent)
        )
        if not args.store.managed_database:
            return database_values(
                host=args.store.in_cluster_database_host,
                dbname=args.store.database_name,
                username=args.store.database_username,
                password=password,
                managed=False,
            )
        server = FlexiblePostgres(
            f"{self._name}-postgres-server",
            FlexiblePostgresArgs(
                instance=args.store.instance,
                server_name=server_name(az, args.store.instance),
                location=az.location,
                settings=az.database,
                database_subnet_id=az.database_subnet_id,
                private_dns_zone_id=az.private_dns_zone_id,
                tags=dict(az.tags),
                resource_group=self.resource_group,
                database_name=args.store.database_name,
                admin_password=password,
                protect=args.store.protect,
            ),
            opts=self._opts,
        )
        self._outputs["databaseServerName"] = server.server_name
        self._outputs["databaseHost"] = server.fqdn
        self._managed_database = ManagedEndpoint(host=server.host, ready=(server,))
        return database_values(
            host=server.host,
            dbname=args.store.database_name,
            username=az.database.admin_login,
            password=password,
            managed=True,
        )

    def _vault_args(self, database: Mapping[str, pulumi.Input[str]]) -> KeyVaultStoreArgs:
        args, az = self._args, self._args.azure
        specs = args.store.specs + ((cat.GRAFANA,) if args.store.monitoring_namespace else ())
        return KeyVaultStoreArgs(
            instance=args.store.instance,
            vault_name=az.key_vault_name,
            location=az.location,
            tenant_id=az.tenant_id,
            subscription_id=az.subscription_id,
            soft_delete_retention_days=az.soft_delete_retention_days,
            purge_protection=az.purge_protection,
            cluster_subnet_id=az.cluster_subnet_id,
            allowed_ips=az.allowed_ips,
            resource_group=self.resource_group,
            redis_host=args.store.redis_host,
            nats_host=args.store.nats_host,
            database=database,
            specs=specs,
            credentials=args.store.credentials,
            secret_rotation=args.store.secret_rotation,
            webhook_url=args.store.webhook_url,
            rabbitmq_host=args.store.rabbitmq_host,
            elasticsearch_host=args.store.elasticsearch_host,
            protect=args.store.protect,
            tags=dict(az.tags),
            private_endpoint=az.key_vault_private,
        )

    def _delivery(self) -> AzureSecretDelivery:
        args, az = self._args, self._args.azure
        namespaces: dict[str, tuple[cat.SecretSpec, ...]] = {
            args.store.namespace: args.store.specs,
            **(
                {args.store.monitoring_namespace: (cat.GRAFANA,)}
                if args.store.monitoring_namespace
                else {}
            ),
        }
        return AzureSecretDelivery(
            f"{self._name}-secret-delivery",
            AzureSecretDeliveryArgs(
                instance=args.store.instance,
                mode=az.delivery,
                namespaces=namespaces,
                vault_name=self.vault.vault_name,
                vault_uri=self.vault.vault_uri,
                tenant_id=az.tenant_id,
                client_id=self.identity.client_id,
                crd_dependencies=args.store.crd_dependencies,
                store_dependencies=[self.identity, *self._credentials.values()],
                values_ready=self.vault.secrets,
            ),
            opts=self._opts,
        )

    def _wire_csi(self) -> None:
        """Pods mount the SecretProviderClass as their own workload identity; so does Grafana."""
        args = self._args
        annotations: dict[str, pulumi.Input[str]] = {
            CLIENT_ID_ANNOTATION: self.identity.client_id,
            TENANT_ID_ANNOTATION: args.azure.tenant_id,
        }
        self._annotations = annotations
        monitoring = args.store.monitoring_namespace
        if not monitoring:
            return
        # No API token from the ServiceAccount itself: Grafana's pod asks for one in its own spec
        # (its dashboard sidecar watches ConfigMaps, `platform.addons.PrometheusStack`), and
        # the Key Vault mount needs none: the workload identity webhook projects its own
        # audience-bound token for Entra ID, which cannot call the Kubernetes API.
        grafana = service_account(
            f"{self._name}-grafana-service-account",
            GRAFANA_SERVICE_ACCOUNT,
            monitoring,
            labels(GRAFANA_SERVICE_ACCOUNT, args.store.instance, "monitoring", "v1"),
            self._opts,
            annotations,
        )
        self._readers[f"{monitoring}-{GRAFANA_SERVICE_ACCOUNT}"] = (
            monitoring,
            GRAFANA_SERVICE_ACCOUNT,
        )
        self._grafana_account = grafana
        self._grafana = GrafanaWiring(
            values={
                "serviceAccount": {"create": False, "name": GRAFANA_SERVICE_ACCOUNT},
                "podLabels": {USE_LABEL: "true"},
                "extraSecretMounts": [
                    {
                        "name": f"csi-{cat.GRAFANA.name}",
                        "mountPath": f"{CSI_MOUNT_PATH}/{cat.GRAFANA.name}",
                        "readOnly": True,
                        "csi": {
                            "driver": CSI_DRIVER,
                            "readOnly": True,
                            "volumeAttributes": {"secretProviderClass": cat.GRAFANA.name},
                        },
                    }
                ],
            }
        )
