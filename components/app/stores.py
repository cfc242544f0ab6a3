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
from components.azure.store import AzureStore, AzureStoreArgs
from components.config.settings import Settings
from components.secrets.generated import GeneratedSecretsArgs, GeneratedStore
from components.secrets.store import SecretStore


def create_store(name: str, settings: Settings, monitoring_namespace: Optional[str],
                 secret_operator: Sequence[pulumi.Resource], opts: pulumi.ResourceOptions) -> SecretStore:
    """Declare the stack's store. `monitoring_namespace` is set when Grafana (installed by this
    program) needs its admin Secret there; `secret_operator` installs the External Secrets CRDs."""
    s = settings
    database_host = f"postgres.{s.namespace}.svc.cluster.local"
    redis_host = f"redis.{s.namespace}.svc.cluster.local"
    managed = s.database.mode == "managed"
    if s.cloud == "aws":
        assert s.aws is not None, "the settings require webapp:aws for cloud aws"
        return AwsStore(name, AwsStoreArgs(
            namespace=s.namespace, instance=s.stack, aws=s.aws, database_name=s.database.name,
            database_username=s.database.username, managed_database=managed, in_cluster_database_host=database_host,
            redis_host=redis_host, monitoring_namespace=monitoring_namespace, webhook_url=s.broadcaster_webhook_url,
            protect=s.protect, crd_dependencies=secret_operator), opts)
    if s.cloud == "azure":
        assert s.azure is not None, "the settings require webapp:azure for cloud azure"
        return AzureStore(name, AzureStoreArgs(
            namespace=s.namespace, instance=s.stack, azure=s.azure, database_name=s.database.name,
            database_username=s.database.username, managed_database=managed, in_cluster_database_host=database_host,
            redis_host=redis_host, monitoring_namespace=monitoring_namespace, webhook_url=s.broadcaster_webhook_url,
            protect=s.protect, crd_dependencies=secret_operator), opts)
    return GeneratedStore(f"{name}-secrets", GeneratedSecretsArgs(
        namespace=s.namespace, instance=s.stack, database_host=database_host, database_name=s.database.name,
        database_username=s.database.username, redis_host=redis_host, monitoring_namespace=monitoring_namespace,
        webhook_url=s.broadcaster_webhook_url), opts)
