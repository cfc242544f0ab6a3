"""Key Vault with workload identity: credentials, grants, CSI and External Secrets delivery."""

from __future__ import annotations

import pytest

from components.azure import workload_identity as wi
from components.config import azure as azure_config
from components.config.parsing import parse_settings
from components.config.settings import SettingsError
from components.secrets import catalogue as cat
from tests.azure.support import ESO, ISSUER, credentials, identity_client_id
from tests.support import SHIPPED_SECRETS, pod_specs, produced_secrets, records, waits_for
from tools.offline import StackRun, contains_secret, load_stack_config, normalise
from tools.timeline import pod_template

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
        load_stack_config("staging", ESO if mode == "external-secrets" else None),
        "staging",
        check_data_lock=False,
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
        if o["kind"] in ("Deployment", "Rollout", "StatefulSet", "CronJob")
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


def test_csi_pods_mount_the_provider_class_of_each_secret_they_read(staging: StackRun) -> None:
    """One SecretProviderClass per Secret, named like it: a pod mounts the classes of what it
    reads and nothing else, so it waits for no other vault secret (Redis not for the
    database's), and no Secret is synced by two classes."""
    objects = staging.kubernetes_objects()
    produced = produced_secrets(objects)
    classes = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): [
            synced["secretName"] for synced in o["spec"]["secretObjects"]
        ]
        for o in objects
        if o["kind"] == "SecretProviderClass"
    }
    assert all(synced == [name] for (_, name), synced in classes.items()), classes
    checked = 0
    for name, spec, _ in pod_specs(objects):
        reads = {
            env["valueFrom"]["secretKeyRef"]["name"]
            for c in spec["containers"]
            for env in c.get("env") or []
            if "secretKeyRef" in (env.get("valueFrom") or {})
        }
        # The program's own Secrets (`cat.PROGRAM_SECRETS`) are no vault's: nothing to mount.
        reads -= {spec.name for spec in cat.PROGRAM_SECRETS}
        if name == "Deployment/secret-sync":
            # Reads nothing itself: it mounts what only the Prometheus operator reads.
            assert not reads
            reads = {cat.ALERTING.name}
        csi = [v for v in spec.get("volumes") or [] if "csi" in v]
        assert [v["csi"] for v in csi] == [
            {
                "driver": "secrets-store.csi.k8s.io",
                "readOnly": True,
                "volumeAttributes": {"secretProviderClass": secret},
            }
            for secret in sorted(reads)
        ], name
        assert [v["name"] for v in csi] == [f"csi-{secret}" for secret in sorted(reads)], name
        mounts = [
            m
            for c in spec["containers"]
            for m in c.get("volumeMounts") or []
            if m["name"].startswith("csi-")
        ]
        assert {m["name"] for m in mounts} == {f"csi-{secret}" for secret in reads}, name
        for mount in mounts:
            assert mount["mountPath"] == f"/mnt/secrets-store/{mount['name'][4:]}", name
            assert mount["readOnly"], name
        for secret in reads:
            assert produced[("webapp-staging", secret)][1] == "SecretProviderClass"
            assert ("webapp-staging", secret) in classes
        checked += bool(reads)
    assert checked >= 5


@pytest.mark.parametrize("mode", ["csi", "external-secrets"])
def test_delivery_names_every_vault_secret_and_the_program_writes_all_but_operators(
    mode: str, staging: StackRun, staging_eso: StackRun
) -> None:
    run = staging if mode == "csi" else staging_eso
    in_vault = {r.inputs["secretName"] for r in records(run, "azure-native:keyvault:Secret")}
    wanted = {f"{spec.name}-{key}" for spec in SHIPPED_SECRETS for key in spec.keys}
    # Staging keeps the OAuth, SMTP and alerting credentials in the vault (`store`): operators
    # write those.
    operators = {
        f"{spec.name}-{key}"
        for spec in SHIPPED_SECRETS
        if spec.owner == "operator"
        for key in spec.keys
    }
    assert operators and in_vault == wanted - operators
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
        p.startswith("webapp:azure.secretDelivery: 'csi' needs 24 federated credentials")
        and "20" in p
        for p in info.value.problems
    )
    eso = load_stack_config("staging", ESO)
    assert (
        parse_settings(eso, "staging", check_data_lock=False).azure is not None
    )  # one credential with External Secrets


@pytest.mark.parametrize("mode", ["csi", "external-secrets"])
def test_federated_credentials_are_written_one_at_a_time_before_what_uses_them(
    mode: str, staging: StackRun, staging_eso: StackRun
) -> None:
    """Azure refuses concurrent credential writes on one identity, so each waits for the one
    before; a CSI pod waits for its own account's credential (its mount authenticates with it),
    the External Secrets store for the operator's."""
    run = staging if mode == "csi" else staging_eso
    fics = records(run, "azure-native:managedidentity:FederatedIdentityCredential")
    chain = sorted(fics, key=lambda r: len(waits_for(run, r.urn)))
    for earlier, later in zip(chain, chain[1:], strict=False):
        assert earlier.urn in waits_for(run, later.urn), later.name
    by_subject = {normalise(r.inputs["subject"], reveal=True): r.urn for r in fics}
    users = [
        r
        for r in run.resources
        if r.is_kubernetes_object
        and r.inputs.get("kind") in ("Deployment", "StatefulSet", "CronJob", "ClusterSecretStore")
    ]
    checked = 0
    for record in users:
        obj = record.inputs
        if obj["kind"] == "ClusterSecretStore":
            ref = obj["spec"]["provider"]["azurekv"]["serviceAccountRef"]
            account = (ref["namespace"], ref["name"])
        else:
            pod = pod_template(obj)
            if not any("csi" in volume for volume in pod.get("volumes") or []):
                continue
            account = (obj["metadata"]["namespace"], pod["serviceAccountName"])
        subject = f"system:serviceaccount:{account[0]}:{account[1]}"
        assert by_subject[subject] in waits_for(run, record.urn), obj["metadata"]["name"]
        checked += 1
    assert checked >= (5 if mode == "csi" else 1)  # api, auth, websocket, broadcaster, redis
