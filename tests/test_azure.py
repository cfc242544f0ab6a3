"""`cloud: azure`: Key Vault + workload identity (CSI driver or External Secrets), Flexible Server, branches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from components.azure import workload_identity as wi
from components.azure.postgres import PASSWORD_PROPERTY
from components.config import azure as azure_config
from components.config.parsing import parse_settings
from components.config.settings import SettingsError
from components.secrets import catalogue as cat
from tools.branch import BranchNameError, branch_config, branch_slug, stack_name
from tools.offline import (
    Registered,
    StackRun,
    contains_secret,
    load_stack_config,
    normalise,
    run_stack,
)

from .test_stacks import pod_specs, produced_secrets

ESO = {
    "webapp:azure": {
        **load_stack_config("staging")["webapp:azure"],
        "secretDelivery": "external-secrets",
    }
}
ISSUER = load_stack_config("staging")["webapp:azure"]["oidcIssuerUrl"]


@pytest.fixture(scope="module")
def staging(stack_run: Callable[..., StackRun]) -> StackRun:
    run = stack_run("staging")
    assert run.outputs["cloud"] == "azure"
    return run


@pytest.fixture(scope="module")
def staging_eso(stack_run: Callable[..., StackRun]) -> StackRun:
    return stack_run("staging", ESO)


def records(run: StackRun, typ: str) -> list[Registered]:
    return [r for r in run.resources if r.type == typ]


def credentials(run: StackRun) -> dict[str, dict[str, Any]]:
    return {
        normalise(r.inputs["subject"], reveal=True): normalise(r.inputs, reveal=True)
        for r in records(run, "azure-native:managedidentity:FederatedIdentityCredential")
    }


def identity_client_id(run: StackRun) -> str:
    identity = records(run, "azure-native:managedidentity:UserAssignedIdentity")
    assert len(identity) == 1
    import hashlib

    h = hashlib.sha256(("client" + identity[0].name).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


# --- Workload identity --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["csi", "external-secrets"])
def test_every_workload_identity_service_account_has_its_exact_credential(
    mode: str, staging: StackRun, staging_eso: StackRun
) -> None:
    run = staging if mode == "csi" else staging_eso
    client_id = identity_client_id(run)
    accounts = [
        o
        for o in run.kubernetes_objects()
        if o["kind"] == "ServiceAccount"
        and (o["metadata"].get("annotations") or {}).get(wi.CLIENT_ID_ANNOTATION)
    ]
    assert accounts
    found = credentials(run)
    expected = set()
    for account in accounts:
        meta = account["metadata"]
        assert meta["annotations"][wi.CLIENT_ID_ANNOTATION] == client_id
        assert (
            meta["annotations"][wi.TENANT_ID_ANNOTATION]
            == load_stack_config("staging")["webapp:azure"]["tenantId"]
        )
        subject = (
            f"system:serviceaccount:{meta['namespace']}:{meta['name']}"  # exact and case-sensitive
        )
        expected.add(subject)
        credential = found[subject]
        assert credential["issuer"] == ISSUER and credential["audiences"] == [
            "api://AzureADTokenExchange"
        ]
        assert credential["resourceName"] == "id-webapp-staging"
    assert set(found) == expected, "a credential without a ServiceAccount, or the other way round"
    settings = parse_settings(
        load_stack_config("staging", ESO if mode == "external-secrets" else None), "staging"
    )
    assert {
        f"system:serviceaccount:{ns}:{name}"
        for ns, name in azure_config.key_vault_readers(settings)
    } == expected


def test_role_assignment_is_scoped_to_the_vault(staging: StackRun) -> None:
    vault = records(staging, "azure-native:keyvault:Vault")[0]
    vault_id = f"/subscriptions/{load_stack_config('staging')['webapp:azure']['subscriptionId']}/resourceGroups/rg-webapp-staging/providers/Microsoft.KeyVault/vaults/{vault.inputs['vaultName']}"
    roles = {
        r.inputs["roleDefinitionId"].rsplit("/", 1)[1]: normalise(r.inputs, reveal=True)
        for r in records(staging, "azure-native:authorization:RoleAssignment")
    }
    user = roles["4633458b-17de-408a-b874-0445c86b69e6"]  # Key Vault Secrets User
    assert user["scope"] == vault_id and user["principalType"] == "ServicePrincipal"
    officer = roles[
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
    ]  # the deployer writes secrets, on this vault only
    assert (
        officer["scope"] == vault_id
        and officer["principalId"] == "66666666-7777-8888-9999-000000000000"
    )
    assert len(roles) == 2


def test_pods_using_identity_service_accounts_carry_the_label(staging: StackRun) -> None:
    objects = staging.kubernetes_objects()
    identity_accounts = {
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for o in objects
        if o["kind"] == "ServiceAccount"
        and wi.CLIENT_ID_ANNOTATION in (o["metadata"].get("annotations") or {})
    }
    namespaces = {
        o["metadata"]["name"]: o["metadata"]["namespace"]
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet", "CronJob")
    }
    checked = 0
    for name, spec, meta in pod_specs(objects):
        account = (namespaces[name.split("/", 1)[1]], spec.get("serviceAccountName"))
        labelled = (meta.get("labels") or {}).get(wi.USE_LABEL) == "true"
        assert labelled == (account in identity_accounts), name
        checked += labelled
    assert (
        checked >= 5
    )  # api, websocket, auth, broadcaster, redis (and the in-cluster database, where there is one)


def test_csi_pods_mount_the_provider_class_and_read_only_synced_secrets(staging: StackRun) -> None:
    objects = staging.kubernetes_objects()
    produced = produced_secrets(objects)
    for name, spec, _ in pod_specs(objects):
        reads = {
            env["valueFrom"]["secretKeyRef"]["name"]
            for c in spec["containers"]
            for env in c.get("env") or []
            if "secretKeyRef" in (env.get("valueFrom") or {})
        }
        if not reads:
            continue
        csi = [v for v in spec.get("volumes") or [] if "csi" in v]
        assert csi and csi[0]["csi"] == {
            "driver": "secrets-store.csi.k8s.io",
            "readOnly": True,
            "volumeAttributes": {"secretProviderClass": "webapp-secrets"},
        }, name
        for secret in reads:
            assert produced[("webapp-staging", secret)][1] == "SecretProviderClass"


@pytest.mark.parametrize("mode", ["csi", "external-secrets"])
def test_delivered_objects_name_secrets_that_exist_in_the_vault(
    mode: str, staging: StackRun, staging_eso: StackRun
) -> None:
    run = staging if mode == "csi" else staging_eso
    in_vault = {r.inputs["secretName"] for r in records(run, "azure-native:keyvault:Secret")}
    wanted = {f"{spec.name}-{key}" for spec in cat.ALL_SECRETS for key in spec.keys}
    assert in_vault == wanted
    named = set()
    for obj in run.kubernetes_objects():
        if obj["kind"] == "SecretProviderClass":
            import yaml

            objects = yaml.safe_load(obj["spec"]["parameters"]["objects"])["array"]
            named |= {yaml.safe_load(o)["objectName"] for o in objects}
            named |= {d["objectName"] for so in obj["spec"]["secretObjects"] for d in so["data"]}
        if obj["kind"] == "ExternalSecret":
            named |= {d["remoteRef"]["key"] for d in obj["spec"]["data"]}
    assert named == wanted
    for secret in records(run, "azure-native:keyvault:Secret"):
        assert contains_secret(secret.inputs["properties"]), secret.name


def test_external_secrets_operator_only_where_it_delivers(
    staging: StackRun, staging_eso: StackRun
) -> None:
    def charts(run: StackRun) -> set[str]:
        return {r.inputs["chart"] for r in records(run, "kubernetes:helm.sh/v3:Release")}

    assert "external-secrets" not in charts(staging)  # the CSI driver delivers
    assert "external-secrets" in charts(staging_eso)


def test_external_secrets_store_uses_workload_identity(staging_eso: StackRun) -> None:
    store = next(o for o in staging_eso.kubernetes_objects() if o["kind"] == "ClusterSecretStore")
    provider = store["spec"]["provider"]["azurekv"]
    assert provider["authType"] == "WorkloadIdentity"
    assert provider["serviceAccountRef"] == {
        "name": "external-secrets-azure",
        "namespace": "webapp-staging",
    }
    assert provider["vaultUrl"].startswith("https://kv-webapp-staging") and provider[
        "vaultUrl"
    ].endswith(".vault.azure.net/")
    assert store["spec"]["conditions"] == [{"namespaces": ["webapp-staging", "monitoring"]}]
    assert not [o for o in staging_eso.kubernetes_objects() if o["kind"] == "SecretProviderClass"]


def test_key_vault_is_rbac_purge_protected_and_closed(staging: StackRun) -> None:
    props = records(staging, "azure-native:keyvault:Vault")[0].inputs["properties"]
    assert props["enableRbacAuthorization"] is True and "accessPolicies" not in props
    assert props["enablePurgeProtection"] is True and props["enableSoftDelete"] is True
    assert props["softDeleteRetentionInDays"] == 7
    acls = props["networkAcls"]
    assert acls["defaultAction"] == "Deny"
    assert acls["virtualNetworkRules"] == [
        {"id": load_stack_config("staging")["webapp:azure"]["clusterSubnetId"]}
    ]


def test_too_many_federated_credentials_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        azure_config, "SECRET_READING_SERVICES", tuple(f"svc{i}" for i in range(19))
    )
    with pytest.raises(SettingsError) as info:
        parse_settings(load_stack_config("staging"), "staging")
    assert any(
        p.startswith("webapp:azure.secretDelivery: 'csi' needs 21 federated credentials")
        and "20" in p
        for p in info.value.problems
    )
    eso = load_stack_config("staging", ESO)
    assert parse_settings(eso, "staging").azure is not None  # one credential with External Secrets


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
            "webapp:azure.database.zoneRedundant: True is not allowed; expected false for the Burstable tier",
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
        parse_settings(config, "staging")
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_production_on_azure_refuses_unsafe_database_settings() -> None:
    config = load_stack_config("production", {"webapp:cloud": "azure"})
    config["webapp:azure"] = {
        **config["webapp:azure"],
        "database": {"geoRedundantBackup": False},
        "keyVault": {"purgeProtection": False},
    }
    with pytest.raises(SettingsError) as info:
        parse_settings(config, "production")
    assert (
        "webapp:azure.database.geoRedundantBackup: False is not allowed; expected true in production"
        in info.value.problems
    )
    assert any(
        p.startswith("webapp:azure.keyVault.purgeProtection: False is not allowed")
        for p in info.value.problems
    )


# --- Managed Prometheus ---------------------------------------------------------------------------


def test_managed_prometheus_scrapes_only_the_stack_namespace(
    staging: StackRun, tmp_path: Path
) -> None:
    settings = staging.find("ConfigMap", "ama-metrics-settings-configmap", "kube-system")
    assert (
        settings["data"]["pod-annotation-based-scraping"]
        == 'podannotationnamespaceregex = "^webapp-staging$"'
    )
    scrape = staging.find("ConfigMap", "ama-metrics-prometheus-config", "kube-system")["data"][
        "prometheus-config"
    ]
    import yaml

    job = yaml.safe_load(scrape)["scrape_configs"][0]
    assert job["kubernetes_sd_configs"] == [
        {"role": "pod", "namespaces": {"names": ["webapp-staging"]}}
    ]
    keep = job["relabel_configs"][0]
    assert keep == {
        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
        "action": "keep",
        "regex": "true",
    }
    # (Debian's promtool is built without Kubernetes service discovery, so it cannot check this file.)
    import re

    for rule in job["relabel_configs"]:
        re.compile(rule.get("regex", ".*"))


# --- Per-branch environments ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "branch, slug",
    [
        ("feature/login-page", "login-page"),
        ("Feature/Login_Page", "login-page"),
        ("refs/heads/feature/JIRA-123/fix it!", "jira-123-fix-it"),
        ("bugfix/ünïcødé-brånch", "bugfix-unicode-branch"),
        ("release/1.2.3", "release-1-2-3"),
        ("--leading--and--trailing--", "leading-and-trailing"),
        ("UPPER", "upper"),
        (
            "a" * 200,
            "a" * 47 + "-" + __import__("hashlib").sha256(("a" * 200).encode()).hexdigest()[:7],
        ),
        ("feat/emoji-🚀-launch", "emoji-launch"),
        (
            "dependabot/npm_and_yarn/frontend/lodash-4.17.21",
            "dependabot-npm-and-yarn-frontend-lodash-4-17-21",
        ),
    ],
)
def test_branch_names_map_to_valid_namespaces(branch: str, slug: str) -> None:
    from components.config.quantities import is_dns_label

    assert branch_slug(branch) == slug
    assert is_dns_label(stack_name(branch)) and len(stack_name(branch)) <= 63


@pytest.mark.parametrize("branch", ["", "   ", "///", "🚀🚀", "feature/", "---"])
def test_branch_names_without_letters_are_rejected(branch: str) -> None:
    with pytest.raises(BranchNameError, match="branch name"):
        branch_slug(branch)


def test_long_branches_do_not_collide() -> None:
    a, b = "feature/" + "x" * 80 + "-one", "feature/" + "x" * 80 + "-two"
    assert stack_name(a) != stack_name(b)


def test_branch_stack_runs_and_validates(stack_run: Callable[..., StackRun]) -> None:
    from tools.render import validate_run

    branch = "feature/Login_Page"
    run = run_stack(stack_name(branch), config=branch_config(branch))
    assert run.outputs["namespace"] == "feature-login-page"
    assert run.outputs["url"] == "https://login-page.staging.webapp.example.com"
    assert not validate_run(run)
    objects = run.kubernetes_objects()
    assert any(
        o["kind"] == "StatefulSet" and o["metadata"]["name"] == "postgres" for o in objects
    )  # in-cluster database
    assert not records(run, "azure-native:dbforpostgresql:Server")
    assert not records(run, "kubernetes:helm.sh/v3:Release")  # staging's add-ons are shared
    subjects = set(credentials(run))
    assert "system:serviceaccount:feature-login-page:api" in subjects
    vault = records(run, "azure-native:keyvault:Vault")[0].inputs
    assert vault["properties"].get("enablePurgeProtection") is None  # a branch vault can be purged
    assert (
        vault["vaultName"]
        != records(stack_run("staging"), "azure-native:keyvault:Vault")[0].inputs["vaultName"]
    )


def test_branch_config_command_prints_the_stack_file() -> None:
    from tools.branch import main

    assert main(["config", "🚀"]) == 2
    assert json.dumps(branch_config("feature/x"))  # serialisable


def test_branch_up_and_down_drive_the_pulumi_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commands `make branch-up/branch-down` run, with a stand-in `pulumi` that records its calls."""
    import os
    import stat

    import yaml

    from tools.branch import main, stack_file

    log = tmp_path / "calls"
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    branch = "feature/Test-Branch-Env"
    path = stack_file(branch)
    try:
        assert main(["up", branch]) == 0
        written = yaml.safe_load(path.read_text())["config"]
        assert written == branch_config(branch)
        parse_settings(written, stack_name(branch))  # the file it writes is valid config
        assert main(["down", branch]) == 0
        assert not path.exists()
        assert log.read_text().splitlines() == [
            "stack select --create feature-test-branch-env",
            "up --yes --stack feature-test-branch-env",
            "destroy --yes --stack feature-test-branch-env",
            "stack rm --yes feature-test-branch-env",
        ]
    finally:
        path.unlink(missing_ok=True)
