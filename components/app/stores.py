"""The store factory: which `SecretStore` delivers the catalogued Secrets, by `webapp:cloud`.

It sits above the cloud packages (which build on `components.secrets`), so that neither the secret
store interface nor a cloud imports another cloud. Each store gets the few settings it reads.

- none: `secrets.generated.GeneratedStore` (Kubernetes Secrets from pulumi-random)
- aws: `aws.store.AwsStore` (KMS key, RDS when managed, Secrets Manager + IRSA + External Secrets)
- azure: `azure.store.AzureStore` (Key Vault, workload identity, Flexible Server when managed,
  CSI driver or External Secrets)
"""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi

from components.aws.store import AwsStore, AwsStoreArgs
from components.azure.monitor import AddonScrape
from components.azure.store import AzureStore, AzureStoreArgs
from components.config.settings import Settings
from components.data.brokers import ELASTICSEARCH_HTTP, RABBITMQ
from components.secrets.generated import GeneratedStore
from components.secrets.store import SecretStore, StoreArgs


def create_store(
    name: str,
    settings: Settings,
    monitoring_namespace: Optional[str],
    secret_operator: Sequence[pulumi.Resource],
    opts: pulumi.ResourceOptions,
    scrape_addons: tuple[AddonScrape, ...] = (),
) -> SecretStore:
    """Declare the stack's store. `monitoring_namespace` is set when Grafana (installed by this
    program) needs its admin Secret there; `secret_operator` installs the External Secrets CRDs."""
    store = StoreArgs(
        namespace=settings.namespace,
        instance=settings.stack,
        database_name=settings.database.name,
        database_username=settings.database.username,
        managed_database=settings.database.mode == "managed",
        in_cluster_database_host=f"postgres.{settings.namespace}.svc.cluster.local",
        redis_host=f"redis.{settings.namespace}.svc.cluster.local",
        nats_host=f"nats.{settings.namespace}.svc.cluster.local",
        credentials=settings.credentials,
        secret_rotation=settings.secret_rotation,
        monitoring_namespace=monitoring_namespace,
        webhook_url=settings.broadcaster_webhook_url,
        rabbitmq_host=(
            f"{RABBITMQ}.{settings.namespace}.svc.cluster.local"
            if settings.rabbitmq.enabled
            else None
        ),
        elasticsearch_host=(
            f"{ELASTICSEARCH_HTTP}.{settings.namespace}.svc.cluster.local"
            if settings.elasticsearch.enabled
            else None
        ),
        protect=settings.protect,
        crd_dependencies=secret_operator,
    )
    if settings.cloud == "aws":
        assert settings.aws is not None, "the settings require webapp:aws for cloud aws"
        return AwsStore(name, AwsStoreArgs(store=store, aws=settings.aws), opts)
    if settings.cloud == "azure":
        assert settings.azure is not None, "the settings require webapp:azure for cloud azure"
        return AzureStore(
            name,
            AzureStoreArgs(store=store, azure=settings.azure, scrape_addons=scrape_addons),
            opts,
        )
    return GeneratedStore(f"{name}-secrets", store, opts)
