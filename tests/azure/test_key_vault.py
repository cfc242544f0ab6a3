"""Key Vault holds a secret per catalogued key; who writes each value follows its owner."""

from __future__ import annotations

from typing import Callable

import pytest

from components.config.credentials import KEYS
from components.config.parsing import parse_settings
from components.config.settings import SettingsError
from components.secrets import catalogue as cat
from tests.support import records
from tools.golden import variant_overrides
from tools.offline import SecretConfig, StackRun, contains_secret, load_stack_config, normalise

VAULT_SECRET = "azure-native:keyvault:Secret"


def operator_keys() -> set[str]:
    return {
        f"{spec.name}-{key}"
        for spec in cat.APP_SECRETS
        if spec.owner == "operator"
        for key in spec.keys
    }


def test_credentials_from_config_are_written_and_retained_when_they_leave_the_program(
    stack_run: Callable[..., StackRun],
) -> None:
    given = {group: {key: f"real-{group}-{key}" for key in keys} for group, keys in KEYS.items()}
    run = stack_run("staging", {"webapp:credentials": SecretConfig(given)})
    secrets = {r.inputs["secretName"]: r for r in records(run, VAULT_SECRET)}
    assert operator_keys() <= set(secrets)
    for name in operator_keys():
        record = secrets[name]
        assert contains_secret(record.inputs["properties"]), name
        # Leaving the program (the group switched to `store`) neither deletes nor soft-deletes it.
        assert record.retain_on_delete, name
    value = normalise(secrets["webapp-smtp-password"].inputs, reveal=True)["properties"]["value"]
    assert value == "real-smtp-password"
    oauth = normalise(secrets["webapp-oauth-github-client-id"].inputs, reveal=True)
    assert oauth["properties"]["value"] == "real-oauth-github-client-id"
    assert not secrets["webapp-jwt-secret-key"].retain_on_delete  # the program's own


def test_credentials_kept_in_the_vault_are_never_declared(staging: StackRun) -> None:
    """Staging ships `store`: operators `az keyvault secret set` them; nothing here writes one,
    and no placeholder is generated for them."""
    declared = {r.inputs["secretName"] for r in records(staging, VAULT_SECRET)}
    assert not operator_keys() & declared
    assert not any(
        r.name.endswith(("client-id", "client-secret", "smtp-password"))
        for r in records(staging, "random:index/randomPassword:RandomPassword")
    )


def test_production_reaches_its_vault_through_a_private_endpoint_only(
    stack_run: Callable[..., StackRun],
) -> None:
    run = stack_run("production", variant_overrides("production", "cloud-azure"))
    (vault,) = records(run, "azure-native:keyvault:Vault")
    assert vault.inputs["properties"]["publicNetworkAccess"] == "Disabled"
    (endpoint,) = records(run, "azure-native:network:PrivateEndpoint")
    (connection,) = endpoint.inputs["privateLinkServiceConnections"]
    assert connection["groupIds"] == ["vault"]
    assert connection["privateLinkServiceId"].endswith("/vaults/" + vault.inputs["vaultName"])
    azure = load_stack_config("production")["webapp:azure"]
    assert endpoint.inputs["subnet"]["id"] == azure["clusterSubnetId"]
    (zone_group,) = records(run, "azure-native:network:PrivateDnsZoneGroup")
    assert zone_group.inputs["privateDnsZoneConfigs"] == [
        {"name": "vault", "privateDnsZoneId": azure["keyVault"]["privateEndpoint"]["dnsZoneId"]}
    ]
    # The deployer writes the secrets through the endpoint: after it and its DNS record.
    for secret in records(run, VAULT_SECRET):
        assert {endpoint.urn, zone_group.urn} <= set(secret.depends_on), secret.name
    staging = stack_run("staging")
    (public,) = records(staging, "azure-native:keyvault:Vault")
    assert (
        public.inputs["properties"]["publicNetworkAccess"] == "Enabled"
    )  # firewalled, not private
    assert not records(staging, "azure-native:network:PrivateEndpoint")


def test_production_on_azure_without_a_private_endpoint_is_refused() -> None:
    config = {**load_stack_config("production"), "webapp:cloud": "azure"}
    azure = dict(config["webapp:azure"])
    azure.pop("keyVault")
    with pytest.raises(SettingsError) as info:
        parse_settings({**config, "webapp:azure": azure}, "production", check_data_lock=False)
    (found,) = [p for p in info.value.problems if "privateEndpoint" in p]
    assert found.startswith(
        "webapp:azure.keyVault.privateEndpoint: missing; production's Key Vault"
    )
    wrong = {**azure, "keyVault": {"privateEndpoint": {"dnsZoneId": "/subscriptions/x/zone"}}}
    with pytest.raises(SettingsError) as info:
        parse_settings({**config, "webapp:azure": wrong}, "production", check_data_lock=False)
    assert any("privatelink.vaultcore.azure.net" in p for p in info.value.problems)
