"""Settings of the Azure side (`webapp:azure`): the existing AKS cluster, Key Vault, delivery and database.

Pure module. `parse_azure(reader, environment, stack, namespace, required)` validates the section
precisely (ids, GUIDs, the AKS OIDC issuer, the delegated subnet and private DNS zone, production
safety) and returns `AzureSettings`, or None when the section is absent and not required.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Optional

from components.config.catalogue import SECRET_READING_SERVICES
from components.config.reader import Reader, Rule

if TYPE_CHECKING:
    from components.config.settings import Settings

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SUBNET = (r"/subscriptions/{g}/resourceGroups/[\w.()-]{{1,90}}/providers/Microsoft\.Network/"
           r"virtualNetworks/[\w.-]{{2,64}}/subnets/[\w.-]{{1,80}}")
_SUBNET_RE = re.compile(_SUBNET.format(g=GUID.pattern), re.IGNORECASE)
_ZONE_RE = re.compile(rf"/subscriptions/{GUID.pattern}/resourceGroups/[\w.()-]{{1,90}}/providers/Microsoft\.Network/"
                      r"privateDnsZones/([a-z0-9-]+\.)*postgres\.database\.azure\.com", re.IGNORECASE)

TENANT = Rule(lambda v: bool(GUID.fullmatch(v)), "a tenant id (GUID)")
SUBSCRIPTION = Rule(lambda v: bool(GUID.fullmatch(v)), "a subscription id (GUID)")
LOCATION = Rule(lambda v: bool(re.fullmatch(r"[a-z]+[a-z0-9]*", v)), "an Azure location such as westeurope")
RESOURCE_GROUP = Rule(lambda v: bool(re.fullmatch(r"[\w.()-]{0,89}[\w()-]", v)), "a resource group name (1-90 characters)")
ISSUER = Rule(lambda v: bool(re.fullmatch(r"https://[a-z0-9.-]+\.oic\.prod-aks\.azure\.com/[0-9a-f-]{36}/[0-9a-f-]{36}/", v)),
              "the AKS OIDC issuer URL (az aks show --query oidcIssuerProfile.issuerUrl), with its trailing slash")
SUBNET_ID = Rule(lambda v: bool(_SUBNET_RE.fullmatch(v)), "a subnet resource id /subscriptions/<id>/resourceGroups/<rg>/"
                 "providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>")
DNS_ZONE_ID = Rule(lambda v: bool(_ZONE_RE.fullmatch(v)), "a private DNS zone resource id of a *.postgres.database.azure.com zone")
SKU = Rule(lambda v: bool(re.fullmatch(r"Standard_[A-Za-z0-9_]+", v)), "a Flexible Server SKU such as Standard_D2ds_v5")
PG_VERSION = Rule(lambda v: v.isdigit() and int(v) >= 16, "PostgreSQL 16 or newer, such as 16 or 17")
ADMIN_LOGIN = Rule(lambda v: bool(re.fullmatch(r"[a-z][a-z0-9_]{0,62}", v)) and v not in (
    "admin", "administrator", "root", "guest", "public", "postgres", "azure_superuser", "azure_pg_admin", "sa") and not v.startswith("pg_"),
    "a login of lower-case letters, digits and _, not a reserved name (admin, root, postgres, azure_*, pg_*)")
DELIVERY_MODES = ("csi", "external-secrets")
TIERS = ("Burstable", "GeneralPurpose", "MemoryOptimized")
MAX_FEDERATED_CREDENTIALS = 20
"""An Azure user-assigned identity holds at most 20 federated identity credentials."""
ESO_SERVICE_ACCOUNT = "external-secrets-azure"
"""The External Secrets ServiceAccount that reads Key Vault (`secretDelivery: external-secrets`)."""
GRAFANA_SERVICE_ACCOUNT = "grafana-key-vault"
"""Grafana's own ServiceAccount when it mounts the vault through the CSI driver."""


@dataclass(frozen=True, kw_only=True)
class FlexibleServerSettings:
    sku: str
    tier: str
    version: str
    storage_gb: int
    backup_retention_days: int
    geo_redundant_backup: bool
    zone_redundant: bool
    admin_login: str


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
    """Address space of the VNet (the database's delegated subnet is in it): api and auth may reach 5432 there."""
    private_dns_zone_id: str
    allowed_ips: tuple[str, ...]
    delivery: str
    """csi: Secrets Store CSI driver; external-secrets: External Secrets Operator (azurekv)."""
    key_vault_name: str
    soft_delete_retention_days: int
    purge_protection: bool
    managed_prometheus: bool
    tags: tuple[tuple[str, str], ...]
    database: FlexibleServerSettings


DATABASE_PROFILES: Mapping[str, FlexibleServerSettings] = {
    "dev": FlexibleServerSettings(sku="Standard_B1ms", tier="Burstable", version="16", storage_gb=32, backup_retention_days=7,
                                  geo_redundant_backup=False, zone_redundant=False, admin_login="webappadmin"),
    "staging": FlexibleServerSettings(sku="Standard_B2s", tier="Burstable", version="16", storage_gb=32, backup_retention_days=7,
                                      geo_redundant_backup=False, zone_redundant=False, admin_login="webappadmin"),
    "production": FlexibleServerSettings(sku="Standard_D2ds_v5", tier="GeneralPurpose", version="16", storage_gb=128,
                                         backup_retention_days=14, geo_redundant_backup=True, zone_redundant=True,
                                         admin_login="webappadmin"),
}


def default_vault_name(stack: str, namespace: str) -> str:
    """Key Vault names are global, 3-24 characters: a readable prefix and a stable hash of the stack."""
    digest = hashlib.sha256(f"{stack}/{namespace}".encode()).hexdigest()[:8]
    return f"kv-webapp-{stack[:9].strip('-')}-{digest}"[:24].strip("-")


VAULT_NAME = Rule(lambda v: bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]", v)) and "--" not in v,
                  "a Key Vault name: 3-24 letters, digits and single hyphens, starting with a letter")


def _ip_or_cidr(value: str) -> bool:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        return False
    return network.version == 4 and not network.is_private


REQUIRED = ("tenantId", "subscriptionId", "location", "resourceGroup", "oidcIssuerUrl", "clusterSubnetId",
            "databaseSubnetId", "privateDnsZoneId", "vnetCidr")


def _private_cidr(value: str) -> bool:
    try:
        return ipaddress.ip_network(value, strict=True).is_private
    except ValueError:
        return False


VNET_CIDR = Rule(_private_cidr, "the VNet's private address space such as 10.1.0.0/16")


def parse_azure(r: Reader, environment: str, stack: str, namespace: str, required: bool) -> Optional[AzureSettings]:
    if not r.items():
        if required:
            r.report(f"{r.path}: missing; webapp:cloud is azure, so set {', '.join(REQUIRED)}")
        return None
    values = {
        "tenant_id": r.opt_text("tenantId", rule=TENANT),
        "subscription_id": r.opt_text("subscriptionId", rule=SUBSCRIPTION),
        "location": r.opt_text("location", rule=LOCATION),
        "resource_group": r.opt_text("resourceGroup", rule=RESOURCE_GROUP),
        "oidc_issuer_url": r.opt_text("oidcIssuerUrl", rule=ISSUER),
        "cluster_subnet_id": r.opt_text("clusterSubnetId", rule=SUBNET_ID),
        "database_subnet_id": r.opt_text("databaseSubnetId", rule=SUBNET_ID),
        "private_dns_zone_id": r.opt_text("privateDnsZoneId", rule=DNS_ZONE_ID),
        "vnet_cidr": r.opt_text("vnetCidr", rule=VNET_CIDR),
    }
    for key in REQUIRED:
        if required and not r.has(key):
            r.report(f"{r.key(key)}: missing; webapp:cloud is azure, so the cluster's {key} is needed")
    ips = []
    for i, ip in enumerate(r.sequence("allowedIps")):
        if isinstance(ip, str) and _ip_or_cidr(ip):
            ips.append(ip)
        else:
            r.report(f"{r.key('allowedIps')}[{i}]: {ip!r} is not allowed; expected a public IPv4 address or CIDR "
                     "(the cluster's subnet is allowed already)")
    issuer, tenant = values["oidc_issuer_url"], values["tenant_id"]
    if issuer and tenant and f"/{tenant}/" not in issuer:
        r.report(f"{r.key('oidcIssuerUrl')}: {issuer!r} is not an issuer of {r.key('tenantId')} {tenant!r}")
    if values["cluster_subnet_id"] and values["cluster_subnet_id"] == values["database_subnet_id"]:
        r.report(f"{r.key('databaseSubnetId')}: {values['database_subnet_id']!r} is the cluster's subnet; expected a "
                 "subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers")
    delivery = r.text("secretDelivery", "csi", allowed=DELIVERY_MODES)
    kv = r.section("keyVault")
    vault = kv.text("name", default_vault_name(stack, namespace), rule=VAULT_NAME)
    retention = kv.integer("softDeleteRetentionDays", 90 if environment == "production" else 7, minimum=7, maximum=90)
    purge = kv.flag("purgeProtection", True)
    if environment == "production" and not purge:
        kv.problem("purgeProtection", purge, "true in production (a deleted vault must stay recoverable)")
    kv.finish()
    managed_prometheus = r.flag("managedPrometheus", False)
    tags = tuple(sorted((k, str(v)) for k, v in r.section("tags").items()))
    database = _database(r.section("database"), environment)
    create_group = r.flag("createResourceGroup", False)
    r.finish()
    if None in values.values() or database is None:
        return None
    return AzureSettings(
        tenant_id=values["tenant_id"] or "", subscription_id=values["subscription_id"] or "",
        location=values["location"] or "", resource_group=values["resource_group"] or "",
        create_resource_group=create_group, oidc_issuer_url=values["oidc_issuer_url"] or "",
        cluster_subnet_id=values["cluster_subnet_id"] or "", database_subnet_id=values["database_subnet_id"] or "",
        private_dns_zone_id=values["private_dns_zone_id"] or "", vnet_cidr=values["vnet_cidr"] or "",
        allowed_ips=tuple(ips), delivery=delivery,
        key_vault_name=vault, soft_delete_retention_days=retention, purge_protection=purge,
        managed_prometheus=managed_prometheus, tags=tags, database=database)


def _database(r: Reader, environment: str) -> Optional[FlexibleServerSettings]:
    d = DATABASE_PROFILES[environment]
    db = FlexibleServerSettings(
        sku=r.text("sku", d.sku, rule=SKU), tier=r.text("tier", d.tier, allowed=TIERS),
        version=r.text("version", d.version, rule=PG_VERSION),
        storage_gb=r.integer("storageGb", d.storage_gb, minimum=32, maximum=32768),
        backup_retention_days=r.integer("backupRetentionDays", d.backup_retention_days, minimum=7, maximum=35),
        geo_redundant_backup=r.flag("geoRedundantBackup", d.geo_redundant_backup),
        zone_redundant=r.flag("zoneRedundant", d.zone_redundant),
        admin_login=r.text("adminLogin", d.admin_login, rule=ADMIN_LOGIN),
    )
    ok = True
    if environment == "production":
        for key, value in (("geoRedundantBackup", db.geo_redundant_backup), ("zoneRedundant", db.zone_redundant)):
            if not value:
                r.problem(key, value, "true in production")
                ok = False
        if db.backup_retention_days < 14:
            r.problem("backupRetentionDays", db.backup_retention_days, "at least 14 in production")
            ok = False
    if db.zone_redundant and db.tier == "Burstable":
        r.problem("zoneRedundant", True, "false for the Burstable tier (high availability needs GeneralPurpose or MemoryOptimized)")
        ok = False
    r.finish()
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
    readers = [(ns, name) for name in SECRET_READING_SERVICES] + [(ns, "redis")]
    if settings.database.mode == "in-cluster":
        readers += [(ns, "postgres"), (ns, "postgres-backup")]
    if settings.monitoring.enabled and settings.addons.monitoring_stack == "install":
        readers.append((settings.monitoring.namespace, GRAFANA_SERVICE_ACCOUNT))
    return readers
