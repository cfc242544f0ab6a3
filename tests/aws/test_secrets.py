"""Secrets Manager delivered by External Secrets."""

from __future__ import annotations

import json
from typing import Callable

from components.config.credentials import KEYS as CREDENTIAL_KEYS
from components.secrets import catalogue as cat
from tests.support import SHIPPED_SECRETS, only, pod_specs, produced_secrets, records
from tools.offline import SecretConfig, StackRun, contains_secret, normalise

# --- Secrets Manager and External Secrets -----------------------------------------------------


def test_secrets_manager_layout_encryption_and_recovery(production: StackRun) -> None:
    names = {r.inputs["name"] for r in records(production, "aws:secretsmanager/secret:Secret")}
    assert names == {
        f"webapp/production/{p}"
        for p in (
            "database/connection",
            "redis/auth",
            "nats/auth",
            "auth/jwt-secret",
            "oauth/google",
            "oauth/github",
            "oauth/microsoft",
            "email/smtp",
            "alerting/receivers",
            "grafana/admin",
            "broadcaster/webhook",
        )
    }
    key_arn = only(production, "aws:kms/key:Key")
    for record in records(production, "aws:secretsmanager/secret:Secret"):
        assert record.inputs["kmsKeyId"].startswith("arn:aws:kms:eu-central-1:123456789012:key/"), (
            key_arn
        )
        assert record.inputs["recoveryWindowInDays"] == 30
    for version in records(production, "aws:secretsmanager/secretVersion:SecretVersion"):
        assert contains_secret(version.inputs["secretString"])


PROGRAM = {spec.name for spec in cat.PROGRAM_SECRETS}


def test_every_secret_a_production_pod_reads_comes_from_an_external_secret(
    production: StackRun,
) -> None:
    objects = production.kubernetes_objects()
    produced = produced_secrets(objects)
    read = 0
    for name, spec, _ in pod_specs(objects):
        for container in spec["containers"]:
            for env in container.get("env") or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    keys, producer = produced[("webapp-production", ref["name"])]
                    # The program's own (the database roles', `data.database_roles`) excepted.
                    expected = "Secret" if ref["name"] in PROGRAM else "ExternalSecret"
                    assert producer == expected and ref["key"] in keys, f"{name}: {ref}"
                    read += 1
    assert read > 15
    stores = [o for o in objects if o["kind"] == "ClusterSecretStore"]
    assert len(stores) == 1
    for obj in objects:
        if obj["kind"] == "ExternalSecret":
            assert obj["spec"]["target"]["creationPolicy"] == "Owner"
            assert obj["spec"]["secretStoreRef"] == {
                "name": stores[0]["metadata"]["name"],
                "kind": "ClusterSecretStore",
            }


def test_refresh_intervals_follow_sensitivity(production: StackRun) -> None:
    intervals = {
        o["spec"]["target"]["name"]: o["spec"]["refreshInterval"]
        for o in production.kubernetes_objects()
        if o["kind"] == "ExternalSecret"
    }
    assert intervals == {s.name: s.refresh for s in SHIPPED_SECRETS}
    assert intervals["webapp-database"] == "15m" and intervals["webapp-jwt"] == "24h"


def test_database_secret_has_the_seed_shape(production: StackRun) -> None:
    external = production.find("ExternalSecret", "webapp-database", "webapp-production")
    assert set(external["spec"]["target"]["template"]["data"]) == {
        "host",
        "port",
        "dbname",
        "username",
        "password",
        "connection-string",
        "url",
    }
    sources = {d["secretKey"]: d["remoteRef"] for d in external["spec"]["data"]}
    assert sources["host"] == {"key": "webapp/production/database/connection", "property": "host"}
    assert sources["password"]["key"].startswith(
        "arn:aws:secretsmanager:eu-central-1:123456789012:secret:rds!db-"
    )
    assert "SSL Mode=Require" in external["spec"]["target"]["template"]["data"]["connection-string"]


def test_store_is_limited_to_the_stack_namespaces(production: StackRun) -> None:
    store = next(o for o in production.kubernetes_objects() if o["kind"] == "ClusterSecretStore")
    assert store["spec"]["conditions"] == [{"namespaces": ["webapp-production", "monitoring"]}]
    assert store["spec"]["provider"]["aws"]["region"] == "eu-central-1"
    assert store["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"] == {
        "name": "external-secrets-aws",
        "namespace": "webapp-production",
    }


def test_external_secrets_operator_is_pinned_or_declared_present(
    stack_run: Callable[..., StackRun],
) -> None:
    installed = stack_run("production")
    release = next(
        r
        for r in records(installed, "kubernetes:helm.sh/v3:Release")
        if r.inputs["chart"] == "external-secrets"
    )
    assert release.inputs["version"] == "0.19.2"
    present = stack_run("production", {"webapp:addons": {"externalSecrets": "present"}})
    assert not [
        r
        for r in records(present, "kubernetes:helm.sh/v3:Release")
        if r.inputs["chart"] == "external-secrets"
    ]
    assert [o for o in present.kubernetes_objects() if o["kind"] == "ExternalSecret"]


# --- who owns each value ------------------------------------------------------------------------

VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
OPERATOR_PATHS = ("oauth-google", "oauth-github", "oauth-microsoft", "email-smtp")


def configured_credentials() -> SecretConfig:
    return SecretConfig(
        {group: {key: f"real-{key}" for key in keys} for group, keys in CREDENTIAL_KEYS.items()}
    )


def test_operator_owned_secrets_kept_in_the_store_get_no_value_from_the_program(
    production: StackRun,
) -> None:
    """`credentials: store`: the containers exist (encrypted, protected, read by the store's
    policy), but no version: operators put and rotate the values, and no up or refresh reverts."""
    versions = {
        r.name.removeprefix("webapp-secrets-").removesuffix("-value"): r
        for r in records(production, VERSION)
    }
    assert not set(OPERATOR_PATHS) & set(versions)
    assert set(versions) == {
        "auth-jwt-secret",
        "broadcaster-webhook",
        "database-connection",
        "grafana-admin",
        "nats-auth",
        "redis-auth",
    }
    # the program's: never protected (a new value replaces a version), never retained
    assert not any(r.protect or r.retain_on_delete for r in versions.values())
    assert not any(
        r.name.endswith(("client-id", "client-secret", "smtp-password"))
        for r in records(production, "random:index/randomPassword:RandomPassword")
    )
    oauth = production.find("ExternalSecret", cat.OAUTH.name)
    assert {d["remoteRef"]["key"] for d in oauth["spec"]["data"]} == {
        f"webapp/production/oauth/{provider}" for provider in ("google", "github", "microsoft")
    }


def test_credentials_from_config_are_secret_versions_that_survive_a_switch_to_store(
    stack_run: Callable[..., StackRun],
) -> None:
    run = stack_run("production", {"webapp:credentials": configured_credentials()})
    versions = {r.name: r for r in records(run, VERSION)}
    google = versions["webapp-secrets-oauth-google-value"]
    assert contains_secret(google.inputs["secretString"])
    assert json.loads(normalise(google.inputs, reveal=True)["secretString"]) == {
        "client-id": "real-google-client-id",
        "client-secret": "real-google-client-secret",
    }
    smtp = versions["webapp-secrets-email-smtp-value"]
    assert json.loads(normalise(smtp.inputs, reveal=True)["secretString"]) == {
        "username": "real-username",
        "password": "real-password",
    }
    # Leaving the program (switched to `store`) must not delete the value the pods read.
    assert all(versions[f"webapp-secrets-{path}-value"].retain_on_delete for path in OPERATOR_PATHS)
    assert not versions["webapp-secrets-auth-jwt-secret-value"].retain_on_delete
