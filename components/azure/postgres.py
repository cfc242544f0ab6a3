"""FlexiblePostgres: Azure Database for PostgreSQL Flexible Server, private and backed up.

Creates (parented to the component):
- `dbforpostgresql.Server`: PostgreSQL 16+, private access only (delegated subnet + private DNS
  zone, public network access disabled), storage autogrow, backups (7 days in staging; 14 days and
  geo-redundant in production), zone-redundant HA in production; the admin password comes from
  pulumi-random (kept in Key Vault and as a Pulumi secret only). `protect`ed in production.
- `dbforpostgresql.Configuration` `require_secure_transport = on`
- `dbforpostgresql.Database` for the application

Password rotation must not replace the server: azure-native plans a *replacement* of a Flexible
Server when `administratorLoginPassword` changes (pulumi/pulumi-azure-native#1911), which would lose
every row. The server therefore ignores changes to that property; a rotation writes the new value to
Key Vault and applies it with `make rotate-db-password` (az postgres flexible-server update), which
changes the password in place.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_azure_native as azure

from components.config.azure import AzureSettings, FlexibleServerSettings
from components.kube import objects as kx

PASSWORD_PROPERTY = "administratorLoginPassword"
DNS_SUFFIX = "postgres.database.azure.com"
"""Every Flexible Server is reached as <server name>.postgres.database.azure.com, with private
access too (that name resolves through the private DNS zone linked to the VNet)."""


def server_name(az: AzureSettings, instance: str) -> str:
    """Server names are global DNS names (<name>.postgres.database.azure.com): a readable prefix and
    a stable hash of subscription, resource group and stack keep them unique without a lookup."""
    digest = hashlib.sha256(
        f"{az.subscription_id}/{az.resource_group}/{instance}".encode()
    ).hexdigest()[:6]
    return f"psql-webapp-{instance}"[:56].rstrip("-") + f"-{digest}"


def server_id(az: AzureSettings, instance: str) -> str:
    """The server's ARM resource id (Azure Monitor's resource)."""
    return (
        f"/subscriptions/{az.subscription_id}/resourceGroups/{az.resource_group}/providers/"
        f"Microsoft.DBforPostgreSQL/flexibleServers/{server_name(az, instance)}"
    )


@dataclass(frozen=True, kw_only=True)
class FlexiblePostgresArgs:
    instance: str
    """The stack name (descriptions and the database's labels)."""
    server_name: str
    """Globally unique (`server_name(...)`)."""
    location: str
    """The Azure region of the resources."""
    settings: FlexibleServerSettings
    """SKU, version, storage, backups, high availability and the admin login."""
    database_subnet_id: str
    """The delegated subnet: the server has no public endpoint."""
    private_dns_zone_id: str
    """The private DNS zone the server's name resolves in."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags on every Azure resource. Default none."""
    resource_group: pulumi.Input[str]
    """The resource group, by name (or the output of the one this program creates)."""
    database_name: str
    """The application database's name."""
    admin_password: pulumi.Input[str]
    """Generated; set at creation only (changes are applied with `make rotate-db-password`)."""
    protect: bool = False
    """Pulumi `protect` on the server (production). Default off."""


def _same_host(host: str, fqdn: Optional[str]) -> str:
    """The name the server reports, once it exists, is the one the Secrets were written with."""
    if fqdn and fqdn != host:
        raise ValueError(
            f"Azure reports the database server as {fqdn!r}, not {host!r}: this program supports "
            f"Azure's public cloud (*.{DNS_SUFFIX}) only"
        )
    return fqdn or host


class FlexiblePostgres(pulumi.ComponentResource):
    host: str
    """The server's DNS name, known before the server exists: the Key Vault secrets, and so the
    pods that read them, do not wait for the 5-20 minutes of its creation (the services whose
    readiness checks the database wait for it through their rollout, see `SecretStore`)."""
    fqdn: pulumi.Output[str]
    """The name the server reports (the same as `host`, checked)."""
    server_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: FlexiblePostgresArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:azure:FlexiblePostgres", name, None, opts)
        az, db = args, args.settings
        child = kx.child_options(self, opts)
        self.server = azure.dbforpostgresql.Server(
            f"{name}-server",
            azure.dbforpostgresql.ServerArgs(
                server_name=args.server_name,
                resource_group_name=args.resource_group,
                location=az.location,
                version=db.version,
                sku=azure.dbforpostgresql.SkuArgs(name=db.sku, tier=db.tier),
                administrator_login=db.admin_login,
                administrator_login_password=pulumi.Output.secret(args.admin_password),
                auth_config=azure.dbforpostgresql.AuthConfigArgs(
                    password_auth="Enabled", active_directory_auth="Disabled"
                ),
                storage=azure.dbforpostgresql.StorageArgs(
                    storage_size_gb=db.storage_gb, auto_grow="Enabled"
                ),
                backup=azure.dbforpostgresql.BackupArgs(
                    backup_retention_days=db.backup_retention_days,
                    geo_redundant_backup="Enabled" if db.geo_redundant_backup else "Disabled",
                ),
                high_availability=azure.dbforpostgresql.HighAvailabilityArgs(
                    mode="ZoneRedundant" if db.zone_redundant else "Disabled"
                ),
                network=azure.dbforpostgresql.NetworkArgs(
                    delegated_subnet_resource_id=az.database_subnet_id,
                    private_dns_zone_arm_resource_id=az.private_dns_zone_id,
                    public_network_access="Disabled",
                ),
                tags=dict(az.tags) or None,
            ),
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(protect=args.protect, ignore_changes=[PASSWORD_PROPERTY]),
            ),
        )
        self._configure(name, args, child)
        azure.dbforpostgresql.Database(
            f"{name}-database",
            azure.dbforpostgresql.DatabaseArgs(
                resource_group_name=args.resource_group,
                server_name=self.server.name,
                database_name=args.database_name,
                charset="UTF8",
                collation="en_US.utf8",
            ),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect)),
        )
        self.host = f"{args.server_name}.{DNS_SUFFIX}"
        self.fqdn = self.server.fully_qualified_domain_name.apply(
            lambda value: _same_host(self.host, value)
        )
        self.server_name = self.server.name
        self.register_outputs(
            {"host": self.host, "fqdn": self.fqdn, "server_name": self.server_name}
        )

    def _configure(
        self, name: str, args: FlexiblePostgresArgs, child: pulumi.ResourceOptions
    ) -> None:
        """TLS required, and every schema change in the server log; one after the other: the
        server applies one configuration change at a time."""
        previous: list[pulumi.Resource] = []
        for suffix, setting, value in (
            ("secure-transport", "require_secure_transport", "on"),
            ("log-statement", "log_statement", "ddl"),
        ):
            previous = [
                azure.dbforpostgresql.Configuration(
                    f"{name}-{suffix}",
                    azure.dbforpostgresql.ConfigurationArgs(
                        resource_group_name=args.resource_group,
                        server_name=self.server.name,
                        configuration_name=setting,
                        value=value,
                        source="user-override",
                    ),
                    opts=pulumi.ResourceOptions.merge(
                        child, pulumi.ResourceOptions(depends_on=previous)
                    ),
                )
            ]
