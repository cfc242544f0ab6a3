"""Flexible Server: private, TLS, backups, password rotation without replacement, destroy safety."""

from __future__ import annotations

from typing import Callable

import pytest

from components.azure.postgres import PASSWORD_PROPERTY
from tests.support import records
from tools.offline import StackRun, contains_secret, normalise

# --- Flexible Server ------------------------------------------------------------------------------


def test_flexible_server_is_private_secure_and_backed_up(staging: StackRun) -> None:
    server = records(staging, "azure-native:dbforpostgresql:Server")[0]
    props = server.inputs
    assert int(props["version"]) >= 16
    assert props["network"]["publicNetworkAccess"] == "Disabled"
    assert props["network"]["delegatedSubnetResourceId"].endswith("/subnets/snet-postgres-staging")
    assert props["network"]["privateDnsZoneArmResourceId"].endswith(".postgres.database.azure.com")
    assert props["storage"]["autoGrow"] == "Enabled"
    assert props["backup"] == {"backupRetentionDays": 7, "geoRedundantBackup": "Disabled"}
    assert contains_secret(props["administratorLoginPassword"])
    config = records(staging, "azure-native:dbforpostgresql:Configuration")[0].inputs
    assert (config["configurationName"], config["value"]) == ("require_secure_transport", "on")
    assert (
        records(staging, "azure-native:dbforpostgresql:Database")[0].inputs["databaseName"]
        == "webapp"
    )


def test_password_rotation_cannot_replace_the_server(staging: StackRun) -> None:
    server = records(staging, "azure-native:dbforpostgresql:Server")[0]
    assert PASSWORD_PROPERTY in server.ignore_changes
    # The same password reaches Key Vault, where rotation starts (see README).
    vault_password = next(
        r
        for r in records(staging, "azure-native:keyvault:Secret")
        if r.inputs["secretName"] == "webapp-database-password"
    )
    assert normalise(vault_password.inputs["properties"], reveal=True)["value"] == normalise(
        server.inputs["administratorLoginPassword"], reveal=True
    )


def test_production_on_azure_destroy_safety(stack_run: Callable[..., StackRun]) -> None:
    run = stack_run("production", {"webapp:cloud": "azure"})
    server = records(run, "azure-native:dbforpostgresql:Server")[0]
    assert server.protect
    assert server.inputs["highAvailability"]["mode"] == "ZoneRedundant"
    assert server.inputs["backup"] == {"backupRetentionDays": 14, "geoRedundantBackup": "Enabled"}
    vault = records(run, "azure-native:keyvault:Vault")[0]
    assert vault.protect and vault.inputs["properties"]["enablePurgeProtection"] is True
    assert vault.inputs["properties"]["softDeleteRetentionInDays"] == 90
    assert all(r.protect for r in records(run, "azure-native:keyvault:Secret"))
    assert all(r.protect for r in records(run, "azure-native:dbforpostgresql:Database"))


def test_staging_is_not_protected(staging: StackRun) -> None:
    assert not records(staging, "azure-native:dbforpostgresql:Server")[0].protect


def test_the_flexible_server_logs_ddl_after_its_other_setting(staging: StackRun) -> None:
    configurations = {
        r.inputs["configurationName"]: r
        for r in records(staging, "azure-native:dbforpostgresql:Configuration")
    }
    assert configurations["log_statement"].inputs["value"] == "ddl"
    # One configuration change at a time on a server.
    assert (
        configurations["require_secure_transport"].urn in configurations["log_statement"].depends_on
    )


def test_the_name_the_secrets_carry_is_the_one_azure_reports() -> None:
    from components.azure.postgres import DNS_SUFFIX, _same_host

    host = f"psql-webapp-staging-9182d4.{DNS_SUFFIX}"
    assert _same_host(host, host) == host
    assert _same_host(host, None) == host  # before the server exists (preview)
    with pytest.raises(ValueError, match="public cloud"):
        _same_host(host, "psql-webapp-staging-9182d4.postgres.database.chinacloudapi.cn")
