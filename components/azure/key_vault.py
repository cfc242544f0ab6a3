"""KeyVaultStore: the stack's Azure Key Vault holding one secret per catalogued Secret key.

Creates (parented to the component):
- `keyvault.Vault`: RBAC authorization (no access policies), soft delete with a retention,
  purge protection, network ACLs default Deny with the cluster's subnet (and optional IPs) allowed;
  `protect`ed in production
- with a private endpoint (required in production): public network access disabled, a
  `network.PrivateEndpoint` in the cluster's VNet (group `vault`) and its `PrivateDnsZoneGroup`
  in the privatelink.vaultcore.azure.net zone; the secrets are written after both, through it
- a "Key Vault Secrets Officer" role assignment for the deploying identity (from the provider's
  client config), scoped to this vault, so Pulumi can write the secret values
- one `keyvault.Secret` per key of every catalogued Secret, named `<secret>-<key>` (so the CSI
  driver and External Secrets map them 1:1, without templates); values generated with
  pulumi-random here or taken from config, the database ones passed in; `protect`ed in production.
  The operator-owned OAuth and SMTP keys are not declared when `webapp:credentials.<group>` is
  `store` (operators set and rotate them in the vault), and are retained on delete otherwise, so
  switching a group to `store` neither deletes nor soft-deletes a value
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_azure_native as azure

from components.azure.identity import KEY_VAULT_SECRETS_OFFICER, role_definition
from components.config.azure import VaultPrivateEndpoint
from components.config.credentials import CredentialSettings
from components.config.rotation import SecretRotation
from components.kube import objects as kx
from components.secrets import catalogue as cat
from components.secrets.generated import (
    generated_values,
    nats_secret_values,
    passwords,
    redis_secret_values,
)


def vault_secret_name(spec: cat.SecretSpec, key: str) -> str:
    return f"{spec.name}-{key}"


@dataclass(frozen=True, kw_only=True)
class KeyVaultStoreArgs:
    instance: str
    """The stack name (descriptions)."""
    vault_name: str
    """Globally unique, 3-24 characters (validated by the settings)."""
    location: str
    """The Azure region of the resources."""
    tenant_id: str
    """The Entra ID tenant of the subscription."""
    subscription_id: str
    """The subscription the resources (and role definitions) belong to."""
    soft_delete_retention_days: int
    """How long a deleted vault or secret can be recovered (7-90)."""
    purge_protection: bool
    """Cannot be turned off once on; only branch stacks may leave it off."""
    cluster_subnet_id: str
    """The only subnet allowed through the vault firewall (besides `allowed_ips`)."""
    allowed_ips: tuple[str, ...] = ()
    """Public addresses let through the vault firewall besides the cluster's subnet. Default
    none.
    """
    resource_group: pulumi.Input[str]
    """The resource group, by name (or the output of the one this program creates)."""
    redis_host: str
    """The in-cluster Redis Service's DNS name (the connection strings point at it)."""
    nats_host: str
    """The in-cluster NATS Service's DNS name (the NATS users' URLs point at it)."""
    database: Mapping[str, pulumi.Input[str]]
    """Every key of `webapp-database` (`secrets.values.database_values`)."""
    specs: tuple[cat.SecretSpec, ...]
    """The catalogued Secrets written to the vault, one vault secret per key."""
    credentials: CredentialSettings
    """Where the OAuth and SMTP values come from (`store`: the vault secrets are the operators')."""
    secret_rotation: SecretRotation = SecretRotation()
    """`webapp:secretRotation`: the generations of the rotated values and the one clients use.
    Default: generation a alone."""
    webhook_url: Optional[str] = None
    """The broadcaster's webhook URL; None delivers to a discard address. Default None."""
    rabbitmq_host: Optional[str] = None
    """RabbitMQ's Service when the stack runs it (its vault secrets are written then)."""
    elasticsearch_host: Optional[str] = None
    """Elasticsearch's HTTP Service when the stack runs it."""
    protect: bool = False
    """Pulumi `protect` on the vault and its secrets (production). Default off."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags on every Azure resource. Default none."""
    private_endpoint: Optional[VaultPrivateEndpoint] = None
    """Reach the vault only through a private endpoint (no public traffic). Default None: the
    firewall admits the cluster's subnet and `allowed_ips`."""


def _vault_args(args: KeyVaultStoreArgs) -> azure.keyvault.VaultArgs:
    """RBAC authorization, soft delete and purge protection, firewall closed but for the cluster's
    subnet and `allowed_ips`."""
    return azure.keyvault.VaultArgs(
        vault_name=args.vault_name,
        resource_group_name=args.resource_group,
        location=args.location,
        tags=dict(args.tags) or None,
        properties=azure.keyvault.VaultPropertiesArgs(
            tenant_id=args.tenant_id,
            sku=azure.keyvault.SkuArgs(
                family=azure.keyvault.SkuFamily.A, name=azure.keyvault.SkuName.STANDARD
            ),
            enable_rbac_authorization=True,
            enable_soft_delete=True,
            soft_delete_retention_in_days=args.soft_delete_retention_days,
            # Purge protection cannot be turned off again once on; branch stacks may leave it off.
            enable_purge_protection=True if args.purge_protection else None,
            enabled_for_deployment=False,
            enabled_for_disk_encryption=False,
            enabled_for_template_deployment=False,
            public_network_access="Disabled" if args.private_endpoint else "Enabled",
            network_acls=azure.keyvault.NetworkRuleSetArgs(
                default_action="Deny",
                bypass="AzureServices",
                virtual_network_rules=[
                    azure.keyvault.VirtualNetworkRuleArgs(id=args.cluster_subnet_id)
                ],
                ip_rules=[azure.keyvault.IPRuleArgs(value=ip) for ip in args.allowed_ips],
            ),
        ),
    )


class KeyVaultStore(pulumi.ComponentResource):
    vault_name: pulumi.Output[str]
    vault_id: pulumi.Output[str]
    vault_uri: pulumi.Output[str]

    def __init__(
        self, name: str, args: KeyVaultStoreArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:azure:KeyVaultStore", name, None, opts)
        self._name, self._args = name, args
        child = kx.child_options(self, opts)
        protected = pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(protect=args.protect)
        )
        self.vault = azure.keyvault.Vault(f"{name}-vault", _vault_args(args), opts=protected)
        deployer = azure.authorization.get_client_config_output(
            opts=pulumi.InvokeOutputOptions(parent=self)
        )
        officer = azure.authorization.RoleAssignment(
            f"{name}-deployer-officer",
            azure.authorization.RoleAssignmentArgs(
                principal_id=deployer.object_id,
                role_definition_id=role_definition(args.subscription_id, KEY_VAULT_SECRETS_OFFICER),
                scope=self.vault.id,
                description=f"webapp {args.instance}: the deployer writes the stack's secrets",
            ),
            opts=child,
        )
        # Writing a secret needs the deployer's Secrets Officer grant on the vault (and, for a
        # private vault, its endpoint and DNS record: the deployer writes through them).
        private = self._private_endpoint(child)
        self._create_secrets(
            child,
            pulumi.ResourceOptions.merge(
                protected, pulumi.ResourceOptions(depends_on=[officer, *private])
            ),
        )
        self.vault_name = self.vault.name
        self.vault_id = self.vault.id
        self.vault_uri = pulumi.Output.concat("https://", self.vault.name, ".vault.azure.net/")
        self.register_outputs(
            {"vault_name": self.vault_name, "vault_id": self.vault_id, "vault_uri": self.vault_uri}
        )

    def _private_endpoint(self, child: pulumi.ResourceOptions) -> list[pulumi.Resource]:
        """The vault's private endpoint in the cluster's VNet and its DNS record, when private."""
        args, private = self._args, self._args.private_endpoint
        if private is None:
            return []
        endpoint_name = f"pe-{args.vault_name}"
        endpoint = azure.network.PrivateEndpoint(
            f"{self._name}-private-endpoint",
            azure.network.PrivateEndpointArgs(
                private_endpoint_name=endpoint_name,
                resource_group_name=args.resource_group,
                location=args.location,
                subnet=azure.network.SubnetArgs(id=private.subnet_id),
                private_link_service_connections=[
                    azure.network.PrivateLinkServiceConnectionArgs(
                        name=endpoint_name,
                        private_link_service_id=self.vault.id,
                        group_ids=["vault"],
                    )
                ],
                tags=dict(args.tags) or None,
            ),
            opts=child,
        )
        zone_group = azure.network.PrivateDnsZoneGroup(
            f"{self._name}-private-dns",
            azure.network.PrivateDnsZoneGroupArgs(
                private_endpoint_name=endpoint_name,
                resource_group_name=args.resource_group,
                private_dns_zone_group_name="vault",
                private_dns_zone_configs=[
                    azure.network.PrivateDnsZoneConfigArgs(
                        name="vault", private_dns_zone_id=private.dns_zone_id
                    )
                ],
            ),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[endpoint])),
        )
        return [endpoint, zone_group]

    def _create_secrets(
        self, child: pulumi.ResourceOptions, secret_opts: pulumi.ResourceOptions
    ) -> None:
        """One vault secret per key of each catalogued Secret (`<secret>-<key>`)."""
        args = self._args

        password = passwords(self._name, child, args.secret_rotation)

        # The Grafana password exists whether or not Grafana reads it (so turning monitoring on
        # later adds a vault secret and no new generated value).
        values = generated_values(
            password,
            args.secret_rotation,
            webhook_url=args.webhook_url,
            grafana=True,
            credentials=args.credentials,
            rabbitmq_host=args.rabbitmq_host,
            elasticsearch_host=args.elasticsearch_host,
        )
        values[cat.DATABASE.name] = dict(args.database)
        values[cat.REDIS.name] = redis_secret_values(
            args.redis_host, password, args.secret_rotation
        )
        values[cat.NATS.name] = nats_secret_values(args.nats_host, password, args.secret_rotation)
        self.secrets: dict[str, list[azure.keyvault.Secret]] = {}
        for spec in args.specs:
            self.secrets[spec.name] = []
            if spec.name not in values:
                # Operator-owned and kept in the vault (`store`): operators `az keyvault secret
                # set` each key; the program declares none, so no up or refresh can revert one.
                continue
            # Retained when they leave the program: a deleted vault secret is soft-deleted, and its
            # name then refuses `secret set` until it is recovered or purged.
            opts = pulumi.ResourceOptions.merge(
                secret_opts, pulumi.ResourceOptions(retain_on_delete=spec.owner == "operator")
            )
            for key in spec.keys:
                secret_name = vault_secret_name(spec, key)
                written = azure.keyvault.Secret(
                    f"{self._name}-{secret_name}",
                    azure.keyvault.SecretArgs(
                        vault_name=self.vault.name,
                        resource_group_name=args.resource_group,
                        secret_name=secret_name,
                        properties=azure.keyvault.SecretPropertiesArgs(
                            value=pulumi.Output.secret(values[spec.name][key]),
                            content_type="text/plain",
                        ),
                    ),
                    opts=opts,
                )
                self.secrets[spec.name].append(written)
