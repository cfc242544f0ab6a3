"""AzureSecretDelivery: the catalogued Secrets from Key Vault into the cluster, by CSI driver or
External Secrets.

Creates (parented to the component), `delivery: csi`:
- a SecretProviderClass per catalogued Secret and namespace, named like the Secret (provider azure,
  the identity's client id, vault name, tenant id, one object per key, `secretObjects` syncing them
  into that one Kubernetes Secret); each reading pod mounts the classes of the Secrets it reads
  (`secrets.store.SecretAccess`)

In time: the driver mounts a class only once every object it lists can be read, and syncs its
Secret only while a pod mounts it. One class per Secret means a pod waits for the vault secrets it
reads and no others (Redis does not wait for the managed database's), and every Secret is synced
by exactly one class.

`delivery: external-secrets`:
- ServiceAccount `external-secrets-azure` annotated with the identity's client and tenant ids
- ClusterSecretStore (azurekv, WorkloadIdentity auth through that ServiceAccount) usable only
  from the stack's namespaces, and one ExternalSecret per catalogued Secret

Either way the Kubernetes Secrets have the same names and keys as with `cloud: none` or AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.azure.key_vault import vault_secret_name
from components.azure.workload_identity import CLIENT_ID_ANNOTATION, TENANT_ID_ANNOTATION
from components.config.azure import ESO_SERVICE_ACCOUNT, Delivery
from components.kube import objects as kx
from components.secrets import catalogue as cat
from components.secrets.external import (
    API_VERSION,
    Remote,
    catalogue_external_secret,
    declare_external_secret,
)

SPC_API = "secrets-store.csi.x-k8s.io/v1"
CSI_DRIVER_VERSION = "v1.5.6"
"""The Secrets Store CSI driver release whose SecretProviderClass schema the suite checks against
(`tools.schemas`). AKS runs the driver as its Key Vault add-on, not this program; every field set
here exists since the v1 API (driver v1.0)."""


def csi_objects(specs: Sequence[cat.SecretSpec]) -> str:
    """The `objects` parameter of the Azure provider: a YAML `array` of one entry per
    vault secret.
    """
    lines = ["array:"]
    for spec in specs:
        for key in spec.keys:
            lines += [
                "  - |",
                f"    objectName: {vault_secret_name(spec, key)}",
                "    objectType: secret",
            ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, kw_only=True)
class AzureSecretDeliveryArgs:
    instance: str
    """The stack name (labels)."""
    mode: Delivery
    """`csi`: a SecretProviderClass per Secret; `external-secrets`: a SecretStore and
    ExternalSecrets.
    """
    namespaces: dict[str, tuple[cat.SecretSpec, ...]]
    """Namespace -> the catalogued Secrets delivered there (the app's, and Grafana's)."""
    vault_name: pulumi.Input[str]
    """The Key Vault's name (the SecretProviderClass names it)."""
    vault_uri: pulumi.Input[str]
    """The Key Vault's URI (the External Secrets provider reads it)."""
    tenant_id: str
    """The Entra ID tenant of the subscription."""
    client_id: pulumi.Input[str]
    """The user-assigned identity's client id (workload identity)."""
    crd_dependencies: Sequence[pulumi.Resource] = ()
    """What installs the CRDs this component's custom resources need, when this program installs
    it (waited for). Default: nothing.
    """
    store_dependencies: Sequence[pulumi.Resource] = ()
    """What the External Secrets store needs to authenticate (the identity, its role and the
    operator's federated credential): the store waits for them. Default: nothing."""
    values_ready: Mapping[str, Sequence[pulumi.Resource]] = field(default_factory=dict)
    """Catalogued Secret name -> the vault secrets it is made of: its ExternalSecret waits for
    them (and for no other), so its first sync finds every value. Default: nothing."""


class AzureSecretDelivery(pulumi.ComponentResource):
    service_account: Optional[k8s.core.v1.ServiceAccount]

    def __init__(
        self,
        name: str,
        args: AzureSecretDeliveryArgs,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("webapp:azure:AzureSecretDelivery", name, None, opts)
        self._name, self._args, self._opts = name, args, opts
        self._crd_opts = kx.child_options(self, opts, args.crd_dependencies)
        self.service_account = None
        self.objects: dict[str, k8s.apiextensions.CustomResource] = {}
        """Catalogued Secret name -> what produces it (its SecretProviderClass or ExternalSecret);
        each Secret is delivered to one namespace."""
        if args.mode == "csi":
            for namespace, specs in args.namespaces.items():
                for spec in specs:
                    self._provider_class(namespace, spec)
        else:
            self._external_secrets(kx.child_options(self, opts))
        self.register_outputs({})

    def _provider_class(self, namespace: str, spec: cat.SecretSpec) -> None:
        args = self._args
        self.objects[spec.name] = k8s.apiextensions.CustomResource(
            f"{self._name}-spc-{spec.category}",
            api_version=SPC_API,
            kind="SecretProviderClass",
            metadata=kx.metadata(
                spec.name, namespace, kx.labels(spec.name, args.instance, "secrets", "v1")
            ),
            spec={
                "provider": "azure",
                "parameters": {
                    "usePodIdentity": "false",
                    "useVMManagedIdentity": "false",
                    "clientID": args.client_id,
                    "keyvaultName": args.vault_name,
                    "tenantId": args.tenant_id,
                    "objects": csi_objects([spec]),
                },
                "secretObjects": [
                    {
                        "secretName": spec.name,
                        "type": "Opaque",
                        "labels": kx.labels(spec.name, args.instance, "secret", "v1"),
                        "data": [
                            {"objectName": vault_secret_name(spec, key), "key": key}
                            for key in spec.keys
                        ],
                    }
                ],
            },
            opts=self._crd_opts,
        )

    def _external_secrets(self, child: pulumi.ResourceOptions) -> None:
        args = self._args
        app_namespace = next(iter(args.namespaces))
        self.service_account = kx.service_account(
            f"{self._name}-service-account",
            ESO_SERVICE_ACCOUNT,
            app_namespace,
            kx.labels(ESO_SERVICE_ACCOUNT, args.instance, "secrets", "v1"),
            child,
            {CLIENT_ID_ANNOTATION: args.client_id, TENANT_ID_ANNOTATION: args.tenant_id},
        )
        store = f"{app_namespace}-azure"
        # Awaited until Ready: External Secrets has authenticated as the workload identity.
        cluster_store = k8s.apiextensions.CustomResource(
            f"{self._name}-store",
            api_version=API_VERSION,
            kind="ClusterSecretStore",
            metadata=kx.metadata(
                store, None, kx.labels(store, args.instance, "secrets", "v1"), kx.AWAIT_READY
            ),
            spec={
                "conditions": [{"namespaces": list(args.namespaces)}],
                "provider": {
                    "azurekv": {
                        "authType": "WorkloadIdentity",
                        "vaultUrl": args.vault_uri,
                        "tenantId": args.tenant_id,
                        "serviceAccountRef": {
                            "name": self.service_account.metadata.name,
                            "namespace": self.service_account.metadata.namespace,
                        },
                    }
                },
            },
            opts=kx.child_options(
                self, self._opts, [*args.crd_dependencies, *args.store_dependencies]
            ),
        )
        for namespace, specs in args.namespaces.items():
            for spec in specs:
                body = catalogue_external_secret(
                    spec,
                    store,
                    "ClusterSecretStore",
                    {key: Remote(key=vault_secret_name(spec, key)) for key in spec.keys},
                )
                self.objects[spec.name] = declare_external_secret(
                    f"{self._name}-{spec.category}",
                    spec,
                    namespace,
                    args.instance,
                    body,
                    kx.child_options(
                        self,
                        self._opts,
                        [
                            *args.crd_dependencies,
                            cluster_store,
                            *args.values_ready.get(spec.name, ()),
                        ],
                    ),
                )
