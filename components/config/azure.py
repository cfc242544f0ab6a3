"""Settings of the Azure side (`webapp:azure`): the existing AKS cluster, Key Vault, delivery and
database.

Pure module. `parse_azure(reader, environment, stack, namespace, required)` validates the section
precisely (ids, GUIDs, the AKS OIDC issuer, the delegated subnet and private DNS zone, production
safety) and returns `AzureSettings`, or None when the section is absent and not required.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Mapping, Optional, get_args

from components.config import quantities as q
from components.config.catalogue import SECRET_READING_SERVICES
from components.config.reader import Reader, Rule

if TYPE_CHECKING:
    from components.config.settings import Settings

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SUBNET = (
    r"/subscriptions/{g}/resourceGroups/[\w.()-]{{1,90}}/providers/Microsoft\.Network/"
    r"virtualNetworks/[\w.-]{{2,64}}/subnets/[\w.-]{{1,80}}"
)
_SUBNET_RE = re.compile(_SUBNET.format(g=GUID.pattern), re.IGNORECASE)
_ZONE_RE = re.compile(
    rf"/subscriptions/{GUID.pattern}/resourceGroups/[\w.()-]{{1,90}}/providers/Microsoft\.Network/"
    r"privateDnsZones/([a-z0-9-]+\.)*postgres\.database\.azure\.com",
    re.IGNORECASE,
)

_VAULT_ZONE_RE = re.compile(
    rf"/subscriptions/{GUID.pattern}/resourceGroups/[\w.()-]{{1,90}}/providers/Microsoft\.Network/"
    r"privateDnsZones/privatelink\.vaultcore\.azure\.net",
    re.IGNORECASE,
)

TENANT = Rule(lambda value: bool(GUID.fullmatch(value)), "a tenant id (GUID)")
SUBSCRIPTION = Rule(lambda value: bool(GUID.fullmatch(value)), "a subscription id (GUID)")
LOCATION = Rule(
    lambda value: bool(re.fullmatch(r"[a-z]+[a-z0-9]*", value)),
    "an Azure location such as westeurope",
)
RESOURCE_GROUP = Rule(
    lambda value: bool(re.fullmatch(r"[\w.()-]{0,89}[\w()-]", value)),
    "a resource group name (1-90 characters)",
)
ISSUER = Rule(
    lambda value: bool(
        re.fullmatch(
            r"https://[a-z0-9.-]+\.oic\.prod-aks\.azure\.com/[0-9a-f-]{36}/[0-9a-f-]{36}/", value
        )
    ),
    "the AKS OIDC issuer URL (az aks show --query oidcIssuerProfile.issuerUrl), with its trailing "
    "slash",
)
SUBNET_ID = Rule(
    lambda value: bool(_SUBNET_RE.fullmatch(value)),
    "a subnet resource id /subscriptions/<id>/resourceGroups/<rg>/"
    "providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>",
)
DNS_ZONE_ID = Rule(
    lambda value: bool(_ZONE_RE.fullmatch(value)),
    "a private DNS zone resource id of a *.postgres.database.azure.com zone",
)
VAULT_DNS_ZONE_ID = Rule(
    lambda value: bool(_VAULT_ZONE_RE.fullmatch(value)),
    "the resource id of a privatelink.vaultcore.azure.net private DNS zone linked to the VNet",
)
SKU = Rule(
    lambda value: bool(re.fullmatch(r"Standard_[A-Za-z0-9_]+", value)),
    "a Flexible Server SKU such as Standard_D2ds_v5",
)
PG_VERSION = Rule(
    lambda value: value.isdigit() and int(value) >= 16, "PostgreSQL 16 or newer, such as 16 or 17"
)
ADMIN_LOGIN = Rule(
    lambda value: (
        bool(re.fullmatch(r"[a-z][a-z0-9_]{0,62}", value))
        and value
        not in (
            "admin",
            "administrator",
            "root",
            "guest",
            "public",
            "postgres",
            "azure_superuser",
            "azure_pg_admin",
            "sa",
        )
        and not value.startswith("pg_")
    ),
    "a login of lower-case letters, digits and _, not a reserved name (admin, root, postgres, "
    "azure_*, pg_*)",
)
Delivery = Literal["csi", "external-secrets"]
"""How the catalogued Secrets reach the pods: the Secrets Store CSI driver, or External Secrets."""
Tier = Literal["Burstable", "GeneralPurpose", "MemoryOptimized"]
DELIVERY_MODES: tuple[Delivery, ...] = get_args(Delivery)
TIERS: tuple[Tier, ...] = get_args(Tier)
MAX_FEDERATED_CREDENTIALS = 20
"""An Azure user-assigned identity holds at most 20 federated identity credentials."""
ESO_SERVICE_ACCOUNT = "external-secrets-azure"
"""The External Secrets ServiceAccount that reads Key Vault (`secretDelivery: external-secrets`)."""
GRAFANA_SERVICE_ACCOUNT = "grafana-key-vault"
SECRET_SYNC_SERVICE_ACCOUNT = "secret-sync"
"""The pod that mounts, with the CSI driver, the Secrets only a controller reads (the alert
receivers' endpoints), so the driver syncs them (`workloads.secret_sync`)."""
"""Grafana's own ServiceAccount when it mounts the vault through the CSI driver."""


@dataclass(frozen=True, kw_only=True)
class FlexibleServerSettings:
    sku: str
    tier: Tier
    version: str
    storage_gb: int
    backup_retention_days: int
    geo_redundant_backup: bool
    zone_redundant: bool
    admin_login: str


@dataclass(frozen=True, kw_only=True)
class VaultPrivateEndpoint:
    """`webapp:azure.keyVault.privateEndpoint`: where the vault's private endpoint lives."""

    dns_zone_id: str
    """The privatelink.vaultcore.azure.net zone the endpoint registers its address in."""
    subnet_id: str
    """The subnet the endpoint's address comes from (default: the cluster's)."""


@dataclass(frozen=True, kw_only=True)
class AzureSettings:
    tenant_id: str
    subscription_id: str
    location: str
    resource_group: str
    create_resource_group: bool
    oidc_issuer_url: str
    cluster_subnet_id: str
    database_subnet_id: str
    vnet_cidr: str
    """Address space of the VNet (the database's delegated subnet is in it)."""
    database_subnet_cidr: Optional[str] = None
    """`databaseSubnetCidr`: the address range of `databaseSubnetId`, so api and auth reach 5432
    there only. Default None: the whole `vnetCidr` (a subnet id is not an address, and a
    NetworkPolicy matches addresses)."""
    private_dns_zone_id: str
    allowed_ips: tuple[str, ...]
    delivery: Delivery
    """csi: Secrets Store CSI driver; external-secrets: External Secrets Operator (azurekv)."""
    csi_rotation_poll_seconds: Optional[int] = None
    """`csiRotationPollInterval`: how often the cluster's Key Vault provider (the AKS add-on
    `azure-keyvault-secrets-provider`) re-reads the vault, with its secret rotation on
    (`--enable-secret-rotation --rotation-poll-interval <this>`). Required with `secretDelivery:
    csi`: the driver's rotation is off by default, and then no Key Vault change ever reaches a
    synced Secret. The rotation rehearsal counts it in every rotation's duration. None with
    External Secrets (its refresh interval is the program's)."""
    key_vault_name: str
    soft_delete_retention_days: int
    purge_protection: bool
    key_vault_private: Optional[VaultPrivateEndpoint] = None
    """Set: the vault takes no public traffic and is reached through a private endpoint
    (required in production)."""
    managed_prometheus: bool
    tags: tuple[tuple[str, str], ...]
    database: FlexibleServerSettings


DATABASE_PROFILES: Mapping[str, FlexibleServerSettings] = {
    "dev": FlexibleServerSettings(
        sku="Standard_B1ms",
        tier="Burstable",
        version="16",
        storage_gb=32,
        backup_retention_days=7,
        geo_redundant_backup=False,
        zone_redundant=False,
        admin_login="webappadmin",
    ),
    "staging": FlexibleServerSettings(
        sku="Standard_B2s",
        tier="Burstable",
        version="16",
        storage_gb=32,
        backup_retention_days=7,
        geo_redundant_backup=False,
        zone_redundant=False,
        admin_login="webappadmin",
    ),
    "production": FlexibleServerSettings(
        sku="Standard_D2ds_v5",
        tier="GeneralPurpose",
        version="16",
        storage_gb=128,
        backup_retention_days=14,
        geo_redundant_backup=True,
        zone_redundant=True,
        admin_login="webappadmin",
    ),
}


def default_vault_name(stack: str, namespace: str) -> str:
    """Key Vault names are global, 3-24 characters: a readable prefix and a stable hash of the
    stack.
    """
    digest = hashlib.sha256(f"{stack}/{namespace}".encode()).hexdigest()[:8]
    return f"kv-webapp-{stack[:9].strip('-')}-{digest}"[:24].strip("-")


VAULT_NAME = Rule(
    lambda value: (
        bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]", value)) and "--" not in value
    ),
    "a Key Vault name: 3-24 letters, digits and single hyphens, starting with a letter",
)


def _ip_or_cidr(value: str) -> bool:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        return False
    return network.version == 4 and not network.is_private


REQUIRED = (
    "tenantId",
    "subscriptionId",
    "location",
    "resourceGroup",
    "oidcIssuerUrl",
    "clusterSubnetId",
    "databaseSubnetId",
    "privateDnsZoneId",
    "vnetCidr",
)


def _private_cidr(value: str) -> bool:
    # A bare address parses as a /32 network: refused, it is a host, not an address space.
    try:
        return "/" in value and ipaddress.ip_network(value, strict=True).is_private
    except ValueError:
        return False


VNET_CIDR = Rule(
    _private_cidr, "the VNet's private address space such as 10.1.0.0/16", q.cidr_problem
)


def _inside(inner: str, outer: str) -> bool:
    """Whether the range `inner` lies within `outer` (both valid CIDRs)."""
    small, large = ipaddress.ip_network(inner), ipaddress.ip_network(outer)
    return small.network_address in large and small.broadcast_address in large


def _database_subnet_cidr(reader: Reader, vnet_cidr: Optional[str]) -> Optional[str]:
    """`databaseSubnetCidr`: a private CIDR inside `vnetCidr`, or None."""
    value = reader.opt_text("databaseSubnetCidr", rule=VNET_CIDR)
    if value is not None and vnet_cidr is not None and not _inside(value, vnet_cidr):
        reader.report(
            f"{reader.key('databaseSubnetCidr')}: {value!r} is not allowed; expected the "
            f"delegated database subnet's range inside vnetCidr {vnet_cidr}"
        )
        return None
    return value


def parse_azure(
    reader: Reader, environment: str, stack: str, namespace: str, required: bool
) -> Optional[AzureSettings]:
    """Parse `webapp:azure`; `required` when `webapp:cloud` is azure (then every cluster input
    must be set). Returns None when the section is absent or has a problem (it is recorded).
    """
    if not reader.items():
        if required:
            reader.report(
                f"{reader.path}: missing; webapp:cloud is azure, so set {', '.join(REQUIRED)}"
            )
        return None
    ids = _cluster_ids(reader, required)
    ips = _allowed_ips(reader)
    _check_ids(reader, ids)
    delivery = reader.choice("secretDelivery", "csi", DELIVERY_MODES)
    poll = _csi_rotation(reader, delivery)
    vault_name, retention, purge, private = _key_vault(
        reader.section("keyVault"), environment, stack, namespace, ids["cluster_subnet_id"]
    )
    managed_prometheus = reader.flag("managedPrometheus", False)
    tags = tuple(sorted((key, str(value)) for key, value in reader.section("tags").items()))
    database = _database(reader.section("database"), environment)
    create_group = reader.flag("createResourceGroup", False)
    subnet_cidr = _database_subnet_cidr(reader, ids["vnet_cidr"])
    reader.finish()
    found = {key: value for key, value in ids.items() if value is not None}
    if len(found) < len(ids) or database is None:
        return None
    return AzureSettings(
        **found,
        create_resource_group=create_group,
        allowed_ips=ips,
        delivery=delivery,
        csi_rotation_poll_seconds=poll,
        key_vault_name=vault_name,
        soft_delete_retention_days=retention,
        purge_protection=purge,
        key_vault_private=private,
        managed_prometheus=managed_prometheus,
        database_subnet_cidr=subnet_cidr,
        tags=tags,
        database=database,
    )


CSI_POLL = Rule(
    lambda value: bool(re.fullmatch(r"[1-9][0-9]*[smh]", value)) and 10 <= q.seconds(value) <= 3600,
    "the add-on's rotation poll interval, 10s to 1h, such as 2m (the AKS default); secret rotation "
    "cannot be off: `az aks addon update -g <rg> -n <aks> --addon azure-keyvault-secrets-provider "
    "--enable-secret-rotation --rotation-poll-interval 2m`",
)


def _csi_rotation(reader: Reader, delivery: Delivery) -> Optional[int]:
    """`csiRotationPollInterval` in seconds; required with the CSI driver (None otherwise)."""
    key = "csiRotationPollInterval"
    if delivery != "csi":
        stated = reader.value(key)
        if stated not in (None, ""):
            reader.problem(key, stated, "unset: secretDelivery is not csi")
        return None
    if not reader.has(key):
        reader.report(
            f"{reader.key(key)}: missing; secretDelivery is csi, whose driver rotates nothing "
            "unless its secret rotation is on: turn it on (`az aks addon update -g <rg> -n <aks> "
            "--addon azure-keyvault-secrets-provider --enable-secret-rotation "
            "--rotation-poll-interval 2m`) and set this key to that interval (such as 2m)"
        )
        return None
    found = reader.opt_text(key, rule=CSI_POLL)
    return None if found is None else q.seconds(found)


def _cluster_ids(reader: Reader, required: bool) -> dict[str, Optional[str]]:
    """The existing cluster's ids, by `AzureSettings` field; None where missing or invalid."""
    ids = {
        "tenant_id": reader.opt_text("tenantId", rule=TENANT),
        "subscription_id": reader.opt_text("subscriptionId", rule=SUBSCRIPTION),
        "location": reader.opt_text("location", rule=LOCATION),
        "resource_group": reader.opt_text("resourceGroup", rule=RESOURCE_GROUP),
        "oidc_issuer_url": reader.opt_text("oidcIssuerUrl", rule=ISSUER),
        "cluster_subnet_id": reader.opt_text("clusterSubnetId", rule=SUBNET_ID),
        "database_subnet_id": reader.opt_text("databaseSubnetId", rule=SUBNET_ID),
        "private_dns_zone_id": reader.opt_text("privateDnsZoneId", rule=DNS_ZONE_ID),
        "vnet_cidr": reader.opt_text("vnetCidr", rule=VNET_CIDR),
    }
    for key in REQUIRED:
        if required and not reader.has(key):
            reader.report(
                f"{reader.key(key)}: missing; webapp:cloud is azure, so the cluster's {key} is "
                "needed"
            )
    return ids


def _allowed_ips(reader: Reader) -> tuple[str, ...]:
    ips = []
    for index, ip in enumerate(reader.sequence("allowedIps")):
        if isinstance(ip, str) and _ip_or_cidr(ip):
            ips.append(ip)
        else:
            reader.report(
                f"{reader.key('allowedIps')}[{index}]: {ip!r} is not allowed; expected a public "
                "IPv4 address or CIDR (the cluster's subnet is allowed already)"
            )
    return tuple(ips)


def _check_ids(reader: Reader, ids: Mapping[str, Optional[str]]) -> None:
    """Rules across ids: the issuer belongs to the tenant, the database has its own subnet."""
    issuer, tenant = ids["oidc_issuer_url"], ids["tenant_id"]
    if issuer and tenant and f"/{tenant}/" not in issuer:
        reader.report(
            f"{reader.key('oidcIssuerUrl')}: {issuer!r} is not an issuer of "
            f"{reader.key('tenantId')} {tenant!r}"
        )
    if ids["cluster_subnet_id"] and ids["cluster_subnet_id"] == ids["database_subnet_id"]:
        reader.report(
            f"{reader.key('databaseSubnetId')}: {ids['database_subnet_id']!r} is the cluster's "
            "subnet; expected a subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers"
        )


def _private_endpoint(
    reader: Reader, environment: str, cluster_subnet: Optional[str]
) -> Optional[VaultPrivateEndpoint]:
    """`keyVault.privateEndpoint`: required in production, as Azure's security baseline asks."""
    if reader.value("privateEndpoint") is None:
        if environment == "production":
            reader.report(
                f"{reader.key('privateEndpoint')}: missing; production's Key Vault takes no public "
                "traffic: set privateEndpoint.dnsZoneId (a privatelink.vaultcore.azure.net zone "
                "linked to the cluster's VNet) and optionally privateEndpoint.subnetId (default: "
                "the cluster's subnet); the deployer then reaches the vault from inside the VNet"
            )
        return None
    section = reader.section("privateEndpoint")
    zone = section.opt_text("dnsZoneId", rule=VAULT_DNS_ZONE_ID)
    subnet = section.opt_text("subnetId", rule=SUBNET_ID) or cluster_subnet
    if zone is None and not section.has("dnsZoneId"):
        section.report(f"{section.key('dnsZoneId')}: missing; {VAULT_DNS_ZONE_ID.expected}")
    section.finish()
    if zone is None or subnet is None:
        return None
    return VaultPrivateEndpoint(dns_zone_id=zone, subnet_id=subnet)


def _key_vault(
    reader: Reader, environment: str, stack: str, namespace: str, cluster_subnet: Optional[str]
) -> tuple[str, int, bool, Optional[VaultPrivateEndpoint]]:
    """`webapp:azure.keyVault`: name, soft-delete retention, purge protection, private
    endpoint."""
    name = reader.text("name", default_vault_name(stack, namespace), rule=VAULT_NAME)
    retention = reader.integer(
        "softDeleteRetentionDays", 90 if environment == "production" else 7, minimum=7, maximum=90
    )
    purge = reader.flag("purgeProtection", True)
    if environment == "production" and not purge:
        reader.problem(
            "purgeProtection", purge, "true in production (a deleted vault must stay recoverable)"
        )
    private = _private_endpoint(reader, environment, cluster_subnet)
    reader.finish()
    return name, retention, purge, private


def _database(reader: Reader, environment: str) -> Optional[FlexibleServerSettings]:
    defaults = DATABASE_PROFILES[environment]
    db = FlexibleServerSettings(
        sku=reader.text("sku", defaults.sku, rule=SKU),
        tier=reader.choice("tier", defaults.tier, TIERS),
        version=reader.text("version", defaults.version, rule=PG_VERSION),
        storage_gb=reader.integer("storageGb", defaults.storage_gb, minimum=32, maximum=32768),
        backup_retention_days=reader.integer(
            "backupRetentionDays", defaults.backup_retention_days, minimum=7, maximum=35
        ),
        geo_redundant_backup=reader.flag("geoRedundantBackup", defaults.geo_redundant_backup),
        zone_redundant=reader.flag("zoneRedundant", defaults.zone_redundant),
        admin_login=reader.text("adminLogin", defaults.admin_login, rule=ADMIN_LOGIN),
    )
    ok = True
    if environment == "production":
        for key, value in (
            ("geoRedundantBackup", db.geo_redundant_backup),
            ("zoneRedundant", db.zone_redundant),
        ):
            if not value:
                reader.problem(key, value, "true in production")
                ok = False
        if db.backup_retention_days < 14:
            reader.problem(
                "backupRetentionDays", db.backup_retention_days, "at least 14 in production"
            )
            ok = False
    if db.zone_redundant and db.tier == "Burstable":
        reader.problem(
            "zoneRedundant",
            True,
            "false for the Burstable tier (high availability needs GeneralPurpose or "
            "MemoryOptimized)",
        )
        ok = False
    reader.finish()
    return db if ok else None


def key_vault_readers(settings: Settings) -> list[tuple[str, str]]:
    """(namespace, ServiceAccount name) of everything that authenticates to Key Vault.

    With the Secrets Store CSI driver every pod that reads a catalogued Secret mounts the
    SecretProviderClass itself (the driver syncs Kubernetes Secrets only while a pod mounts it), so
    each such workload runs as its own ServiceAccount with a federated credential. With External
    Secrets only the operator's ServiceAccount reads the vault. An identity holds at most
    `MAX_FEDERATED_CREDENTIALS`; the settings parser checks the count before anything is declared.
    """
    assert settings.azure is not None
    ns = settings.namespace
    if settings.azure.delivery == "external-secrets":
        return [(ns, ESO_SERVICE_ACCOUNT)]
    readers = [(ns, name) for name in SECRET_READING_SERVICES] + [(ns, "redis"), (ns, "nats")]
    # The database roles Job reads the admin's Secret (`data.database_roles.ROLES`).
    readers.append((ns, "database-roles"))
    if settings.database.mode == "in-cluster":
        readers += [(ns, "postgres"), (ns, "postgres-backup")]
    if settings.monitoring.enabled and settings.addons.monitoring_stack == "install":
        readers.append((settings.monitoring.namespace, GRAFANA_SERVICE_ACCOUNT))
    if settings.monitoring.routes_alerts:
        readers.append((ns, SECRET_SYNC_SERVICE_ACCOUNT))
    return readers
