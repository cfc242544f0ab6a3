"""Which ServiceAccounts read Azure Key Vault, and how their pods are wired (pure).

With the Secrets Store CSI driver every pod that reads a catalogued Secret mounts the
SecretProviderClass itself (the driver syncs Kubernetes Secrets only while a pod mounts it), so each
such workload runs as its own ServiceAccount with a federated credential. With External Secrets only
the operator's ServiceAccount reads the vault. An identity holds at most 20 federated credentials;
the settings parser checks the count before anything is declared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from pulumi import Input

    from components.config.settings import Settings

USE_LABEL = "azure.workload.identity/use"
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
TENANT_ID_ANNOTATION = "azure.workload.identity/tenant-id"
AUDIENCE = "api://AzureADTokenExchange"
CSI_DRIVER = "secrets-store.csi.k8s.io"
CSI_MOUNT_PATH = "/mnt/secrets-store"
ESO_SERVICE_ACCOUNT = "external-secrets-azure"
GRAFANA_SERVICE_ACCOUNT = "grafana-key-vault"

# Application services whose pods read catalogued Secrets (a test keeps this equal to the catalogue).
SECRET_READING_SERVICES = ("api", "websocket", "auth", "broadcaster")


def key_vault_readers(settings: Settings) -> list[tuple[str, str]]:
    """(namespace, ServiceAccount name) of everything that authenticates to Key Vault."""
    assert settings.azure is not None
    ns = settings.namespace
    if settings.azure.delivery == "external-secrets":
        return [(ns, ESO_SERVICE_ACCOUNT)]
    readers = [(ns, name) for name in SECRET_READING_SERVICES] + [(ns, "redis")]
    if settings.database.mode == "in-cluster":
        readers += [(ns, "postgres"), (ns, "postgres-backup")]
    if settings.monitoring.enabled and settings.addons.monitoring_stack == "install":
        readers.append((settings.monitoring.namespace, GRAFANA_SERVICE_ACCOUNT))
    return readers


@dataclass(frozen=True, kw_only=True)
class SecretAccess:
    """What a pod needs to read the store itself: ServiceAccount annotations, pod labels, a CSI mount.

    Values may be Pulumi inputs (the identity's client id). Empty means plain `secretKeyRef`s suffice.
    """

    service_account_annotations: Mapping[str, Input[str]] = field(default_factory=dict)
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    secret_provider_class: str | None = None
    """Mount this SecretProviderClass read-only at /mnt/secrets-store (it syncs the Secrets)."""


NO_ACCESS = SecretAccess()
