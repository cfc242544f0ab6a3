"""Which store delivers the catalogued Secrets, by `webapp:cloud` (one shape for every cloud).

`create_store(...)` declares the stack's store and returns a `StoreWiring`: what the workloads need
from it. The workloads themselves never change by cloud; only `SecretAccess` (Azure CSI: a
workload-identity ServiceAccount, a pod label and the SecretProviderClass mount) is added to the
pods that read secrets, and the federated credentials are declared once those ServiceAccounts exist.

- none: GeneratedSecrets (Kubernetes Secrets from pulumi-random)
- aws: StackKey, RdsPostgres (managed database), AwsSecretStore (Secrets Manager + IRSA + ESO)
- azure: resource group (optional), KeyVaultStore, WorkloadIdentity, FlexiblePostgres (managed
  database), AzureSecretDelivery (CSI or ESO), ManagedPrometheusConfig (optional), and later
  FederatedCredentials for every ServiceAccount that reads the vault
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

import pulumi
import pulumi_azure_native as azure
import pulumi_kubernetes as k8s

from components.aws.kms import StackKey, StackKeyArgs
from components.aws.rds import RdsPostgres, RdsPostgresArgs
from components.aws.secrets import AwsSecretStore, AwsSecretStoreArgs, ManagedDatabase
from components.azure.delivery import SECRET_PROVIDER_CLASS, AzureSecretDelivery, AzureSecretDeliveryArgs
from components.azure.identity import FederatedCredentials, FederatedCredentialsArgs, WorkloadIdentity, WorkloadIdentityArgs
from components.azure.key_vault import DatabaseValues, KeyVaultStore, KeyVaultStoreArgs
from components.azure.monitor import ManagedPrometheusConfig, ManagedPrometheusConfigArgs
from components.azure.postgres import FlexiblePostgres, FlexiblePostgresArgs
from components.config.settings import Settings
from components.kube.objects import labels, service_account
from components.platform.addons import ClusterAddons
from components.secrets import catalogue as cat
from components.secrets.access import (
    CLIENT_ID_ANNOTATION,
    CSI_DRIVER,
    CSI_MOUNT_PATH,
    ESO_SERVICE_ACCOUNT,
    GRAFANA_SERVICE_ACCOUNT,
    NO_ACCESS,
    TENANT_ID_ANNOTATION,
    USE_LABEL,
    SecretAccess,
)
from components.secrets.generated import GeneratedSecrets, GeneratedSecretsArgs, generated_password


@dataclass
class StoreWiring:
    secret_access: SecretAccess = NO_ACCESS
    grafana_ready: list[pulumi.Resource] = field(default_factory=list)
    grafana_values: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, pulumi.Input[Any]] = field(default_factory=dict)
    federate: Optional[Callable[[Mapping[str, k8s.core.v1.ServiceAccount]], None]] = None
    """Declares the federated credentials, given every ServiceAccount that reads the store."""


def create_store(name: str, s: Settings, addons: ClusterAddons, opts: pulumi.ResourceOptions) -> StoreWiring:
    monitoring_ns = s.monitoring.namespace if addons.monitoring_namespace else None
    if s.cloud == "aws":
        return _aws(name, s, addons, monitoring_ns, opts)
    if s.cloud == "azure":
        return _azure(name, s, addons, monitoring_ns, opts)
    generated = GeneratedSecrets(f"{name}-secrets", GeneratedSecretsArgs(
        namespace=s.namespace, instance=s.stack, database_host=_in_cluster_database(s), database_name=s.database.name,
        database_username=s.database.username, redis_host=_redis(s), monitoring_namespace=monitoring_ns,
        webhook_url=s.broadcaster_webhook_url), opts=opts)
    return StoreWiring(grafana_ready=[generated.secrets[cat.GRAFANA.name]] if monitoring_ns else [])


def _in_cluster_database(s: Settings) -> str:
    return f"postgres.{s.namespace}.svc.cluster.local"


def _redis(s: Settings) -> str:
    return f"redis.{s.namespace}.svc.cluster.local"


def _aws(name: str, s: Settings, addons: ClusterAddons, monitoring_ns: Optional[str], opts: pulumi.ResourceOptions) -> StoreWiring:
    assert s.aws is not None
    key = StackKey(f"{name}-kms", StackKeyArgs(instance=s.stack, existing_key_arn=s.aws.kms_key_arn, protect=s.protect), opts=opts)
    managed = None
    if s.database.mode == "managed":
        # Not a dependency of any workload: pods read webapp-database by name, so the 15-minute
        # instance is created in parallel with everything in the cluster.
        rds = RdsPostgres(f"{name}-rds", RdsPostgresArgs(
            instance=s.stack, aws=s.aws, database_name=s.database.name, username=s.database.username,
            kms_key_arn=key.arn, protect=s.protect), opts=opts)
        managed = ManagedDatabase(host=rds.address, port=rds.port, master_secret_arn=rds.master_secret_arn)
    store = AwsSecretStore(f"{name}-secrets", AwsSecretStoreArgs(
        namespace=s.namespace, instance=s.stack, aws=s.aws, kms_key_arn=key.arn,
        database_name=s.database.name, database_username=s.database.username, redis_host=_redis(s),
        in_cluster_database_host=_in_cluster_database(s) if managed is None else None, managed_database=managed,
        monitoring_namespace=monitoring_ns, webhook_url=s.broadcaster_webhook_url, protect=s.protect,
        crd_dependencies=addons.secret_operator), opts=opts)
    return StoreWiring(grafana_ready=[store.external_secrets[cat.GRAFANA.name]] if monitoring_ns else [])


def _azure(name: str, s: Settings, addons: ClusterAddons, monitoring_ns: Optional[str], opts: pulumi.ResourceOptions) -> StoreWiring:
    az = s.azure
    assert az is not None
    protect = pulumi.ResourceOptions(protect=s.protect)
    resource_group: pulumi.Input[str] = az.resource_group
    if az.create_resource_group:
        group = azure.resources.ResourceGroup(f"{name}-resource-group", azure.resources.ResourceGroupArgs(
            resource_group_name=az.resource_group, location=az.location, tags=dict(az.tags) or None),
            opts=pulumi.ResourceOptions.merge(opts, protect))
        resource_group = group.name
    parent = opts.parent
    outputs: dict[str, pulumi.Input[Any]] = {}
    database_password = generated_password(f"{name}-database-password", 32, pulumi.ResourceOptions(parent=parent))
    if s.database.mode == "managed":
        server = FlexiblePostgres(f"{name}-postgres-server", FlexiblePostgresArgs(
            instance=s.stack, azure=az, resource_group=resource_group, database_name=s.database.name,
            admin_password=database_password, protect=s.protect), opts=opts)
        database = DatabaseValues(host=server.fqdn, name=s.database.name, username=az.database.admin_login,
                                  password=database_password, ssl_mode="Require")
        outputs["databaseServerName"] = server.server_name
    else:
        database = DatabaseValues(host=_in_cluster_database(s), name=s.database.name, username=s.database.username,
                                  password=database_password, ssl_mode="Prefer")
    specs = cat.APP_SECRETS + ((cat.GRAFANA,) if monitoring_ns else ())
    vault = KeyVaultStore(f"{name}-key-vault", KeyVaultStoreArgs(
        instance=s.stack, azure=az, resource_group=resource_group, redis_host=_redis(s), database=database,
        specs=specs, webhook_url=s.broadcaster_webhook_url, protect=s.protect, tags=dict(az.tags)), opts=opts)
    identity = WorkloadIdentity(f"{name}-identity", WorkloadIdentityArgs(
        instance=s.stack, resource_group=resource_group, location=az.location, subscription_id=az.subscription_id,
        vault_id=vault.vault_id), opts=opts)
    namespaces = {s.namespace: cat.APP_SECRETS, **({monitoring_ns: (cat.GRAFANA,)} if monitoring_ns else {})}
    delivery = AzureSecretDelivery(f"{name}-secret-delivery", AzureSecretDeliveryArgs(
        instance=s.stack, mode=az.delivery, namespaces=namespaces, vault_name=vault.vault_name, vault_uri=vault.vault_uri,
        tenant_id=az.tenant_id, client_id=identity.client_id, crd_dependencies=addons.secret_operator), opts=opts)
    if az.managed_prometheus:
        ManagedPrometheusConfig(f"{name}-managed-prometheus", ManagedPrometheusConfigArgs(
            namespace=s.namespace, instance=s.stack), opts=opts)

    wiring = StoreWiring(outputs={"keyVaultName": vault.vault_name, **outputs})
    annotations: dict[str, pulumi.Input[str]] = {CLIENT_ID_ANNOTATION: identity.client_id, TENANT_ID_ANNOTATION: az.tenant_id}
    grafana_accounts: dict[str, k8s.core.v1.ServiceAccount] = {}
    if az.delivery == "csi":
        wiring.secret_access = SecretAccess(service_account_annotations=annotations, pod_labels={USE_LABEL: "true"},
                                            secret_provider_class=SECRET_PROVIDER_CLASS)
        if monitoring_ns:
            # Grafana mounts the monitoring namespace's SecretProviderClass as its own workload identity;
            # its dashboard sidecar watches ConfigMaps, so this ServiceAccount keeps its API token.
            grafana = service_account(
                f"{name}-grafana-service-account", GRAFANA_SERVICE_ACCOUNT, monitoring_ns,
                labels(GRAFANA_SERVICE_ACCOUNT, s.stack, "monitoring", "v1"), opts, annotations, automount=True)
            grafana_accounts[f"{monitoring_ns}-{GRAFANA_SERVICE_ACCOUNT}"] = grafana
            wiring.grafana_ready = [grafana, delivery.objects[monitoring_ns]]
            wiring.grafana_values = {
                "serviceAccount": {"create": False, "name": GRAFANA_SERVICE_ACCOUNT},
                "podLabels": {USE_LABEL: "true"},
                "extraSecretMounts": [{"name": "secrets-store", "mountPath": CSI_MOUNT_PATH, "readOnly": True, "csi": {
                    "driver": CSI_DRIVER, "readOnly": True, "volumeAttributes": {"secretProviderClass": SECRET_PROVIDER_CLASS}}}],
            }
    else:
        assert delivery.service_account is not None
        eso_accounts = {f"{s.namespace}-{ESO_SERVICE_ACCOUNT}": delivery.service_account}
        wiring.grafana_ready = [delivery.objects[cat.GRAFANA.name]] if monitoring_ns else []

    def federate(readers: Mapping[str, k8s.core.v1.ServiceAccount]) -> None:
        accounts = {**readers, **grafana_accounts} if az.delivery == "csi" else eso_accounts
        FederatedCredentials(f"{name}-federated-credentials", FederatedCredentialsArgs(
            identity_name=identity.identity.name, resource_group=resource_group, issuer=az.oidc_issuer_url,
            service_accounts=accounts), opts=opts)

    wiring.federate = federate
    return wiring
