"""`webapp:azure` validation: every bad input named, production safety."""

from __future__ import annotations

from typing import Any

import pytest

from components.config.parsing import parse_settings
from components.config.settings import SettingsError
from tools.offline import load_stack_config


@pytest.mark.parametrize(
    "changes, expected",
    [
        (
            {"tenantId": "not-a-guid"},
            "webapp:azure.tenantId: 'not-a-guid' is not allowed; expected a tenant id (GUID)",
        ),
        (
            {"oidcIssuerUrl": "https://example.com/"},
            "webapp:azure.oidcIssuerUrl: 'https://example.com/' is not allowed; expected the AKS OIDC issuer URL",
        ),
        (
            {"tenantId": "00000000-0000-4000-8000-000000000000"},
            "is not an issuer of webapp:azure.tenantId",
        ),
        (
            {"databaseSubnetId": "snet-postgres"},
            "webapp:azure.databaseSubnetId: 'snet-postgres' is not allowed; expected a subnet resource id",
        ),
        (
            {
                "privateDnsZoneId": "/subscriptions/1c5b4a3e-0000-4000-8000-00000000000b/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/example.com"
            },
            "expected a private DNS zone resource id of a *.postgres.database.azure.com zone",
        ),
        (
            {"location": "West Europe"},
            "webapp:azure.location: 'West Europe' is not allowed; expected an Azure location",
        ),
        (
            {"allowedIps": ["10.0.0.1"]},
            "webapp:azure.allowedIps[0]: '10.0.0.1' is not allowed; expected a public IPv4 address",
        ),
        (
            {"secretDelivery": "vault-agent"},
            "webapp:azure.secretDelivery: 'vault-agent' is not allowed; expected one of csi, external-secrets",
        ),
        (
            {"csiRotationPollInterval": None},
            "webapp:azure.csiRotationPollInterval: missing; secretDelivery is csi, whose driver "
            "rotates nothing unless its secret rotation is on",
        ),
        (
            {"csiRotationPollInterval": "off"},
            "webapp:azure.csiRotationPollInterval: 'off' is not allowed; expected the add-on's "
            "rotation poll interval, 10s to 1h, such as 2m (the AKS default); secret rotation "
            "cannot be off",
        ),
        (
            {"csiRotationPollInterval": "2d"},
            "webapp:azure.csiRotationPollInterval: '2d' is not allowed",
        ),
        (
            {"csiRotationPollInterval": "5s"},
            "webapp:azure.csiRotationPollInterval: '5s' is not allowed",
        ),
        (
            {"secretDelivery": "external-secrets", "csiRotationPollInterval": "2m"},
            "webapp:azure.csiRotationPollInterval: '2m' is not allowed; expected unset: "
            "secretDelivery is not csi",
        ),
        (
            {"keyVault": {"name": "kv_bad"}},
            "webapp:azure.keyVault.name: 'kv_bad' is not allowed; expected a Key Vault name",
        ),
        (
            {"database": {"version": "14"}},
            "webapp:azure.database.version: '14' is not allowed; expected PostgreSQL 16 or newer",
        ),
        (
            {"database": {"adminLogin": "azure_superuser"}},
            "webapp:azure.database.adminLogin: 'azure_superuser' is not allowed",
        ),
        (
            {"database": {"backupRetentionDays": 40}},
            "webapp:azure.database.backupRetentionDays: 40 is not allowed; expected a whole number from 7 to 35",
        ),
        (
            {"database": {"zoneRedundant": True}},
            "webapp:azure.database.zoneRedundant: true is not allowed; expected false for the Burstable tier",
        ),
        (
            {"databaseSubnetCidr": "10.99.8.0/24"},
            "webapp:azure.databaseSubnetCidr: '10.99.8.0/24' is not allowed; expected the "
            "delegated database subnet's range inside vnetCidr",
        ),
        (
            {"vnetCidr": "8.8.0.0/16"},
            "webapp:azure.vnetCidr: '8.8.0.0/16' is not allowed; expected the VNet's private address space",
        ),
    ],
)
def test_bad_azure_config_is_rejected_naming_the_key(
    changes: dict[str, Any], expected: str
) -> None:
    config = load_stack_config("staging")
    config["webapp:azure"] = {**config["webapp:azure"], **changes}
    with pytest.raises(SettingsError) as info:
        parse_settings(config, "staging", check_data_lock=False)
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_production_on_azure_refuses_unsafe_database_settings() -> None:
    config = load_stack_config("production", {"webapp:cloud": "azure"})
    config["webapp:azure"] = {
        **config["webapp:azure"],
        "database": {"geoRedundantBackup": False},
        "keyVault": {"purgeProtection": False},
    }
    with pytest.raises(SettingsError) as info:
        parse_settings(config, "production", check_data_lock=False)
    assert (
        "webapp:azure.database.geoRedundantBackup: false is not allowed; expected true in production"
        in info.value.problems
    )
    assert any(
        p.startswith("webapp:azure.keyVault.purgeProtection: false is not allowed")
        for p in info.value.problems
    )


def test_csi_rotation_interval_is_parsed_in_seconds() -> None:
    config = load_stack_config("staging")
    config["webapp:azure"] = {**config["webapp:azure"], "csiRotationPollInterval": "90s"}
    settings = parse_settings(config, "staging", check_data_lock=False)
    assert settings.azure is not None and settings.azure.csi_rotation_poll_seconds == 90
