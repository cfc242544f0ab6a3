"""Generated secrets (`cloud: none`) and the Secret catalogue."""

from __future__ import annotations

import pytest

from components.config.credentials import PLACEHOLDERS
from components.secrets import catalogue as cat
from components.secrets.generated import GeneratedSecrets, GeneratedSecretsArgs
from tests.support import SHIPPED_SECRETS
from tools.offline import contains_secret, run_components

# --- Secrets ----------------------------------------------------------------------------------


def test_generated_secrets_match_the_catalogue_and_are_secret() -> None:
    run = run_components(
        lambda: GeneratedSecrets(
            "s",
            GeneratedSecretsArgs(
                namespace="ns",
                instance="t",
                database_host="postgres",
                database_name="webapp",
                database_username="webapp",
                redis_host="redis",
                nats_host="nats",
                credentials=PLACEHOLDERS,
                monitoring_namespace="monitoring",
            ),
        )
    )
    records = [r for r in run.resources if r.is_kubernetes_object]
    by_name = {r.inputs["metadata"]["name"]: r for r in records}
    assert set(by_name) == {s.name for s in SHIPPED_SECRETS}
    for spec in SHIPPED_SECRETS:
        record = by_name[spec.name]
        assert contains_secret(record.inputs["stringData"]), spec.name
        assert set(run.kubernetes_objects()[records.index(record)]["stringData"]) == set(spec.keys)
    assert by_name["webapp-grafana-admin"].inputs["metadata"]["namespace"] == "monitoring"


def test_catalogue_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="has no key"):
        cat.SecretRef(secret=cat.JWT, key="password")
