"""The data lock is complete by construction: the settings whose change loses data are derived from
the program (`tests/app/lock_derivation.py`), not listed, and each must be refused by the lock.

Three variants hold every kind of data the program declares: production as shipped (AWS: RDS,
KMS, Secrets Manager, Redis and NATS on volumes, monitoring), on Azure (Flexible Server, Key
Vault) and without a cloud (in-cluster PostgreSQL and its backups claim, RabbitMQ and
Elasticsearch). Each derivation is
run once per session.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import pytest

from components.config import lock
from tests.app import lock_derivation as d
from tools.golden import variant_overrides

VARIANTS: dict[str, Any] = {
    "aws": lambda: {},
    "azure": lambda: variant_overrides("production", "cloud-azure"),
    # With RabbitMQ and Elasticsearch on: their versions are data versions too.
    "in-cluster": lambda: {
        **variant_overrides("production", "cloud-none"),
        **variant_overrides("production", "optional-services"),
    },
}


@functools.cache
def derived(variant: str) -> tuple[d.Derivation, float]:
    start = time.monotonic()
    found = d.derive(variant, "production", VARIANTS[variant]())
    return found, time.monotonic() - start


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_change_that_touches_data_is_locked(variant: str) -> None:
    found, _ = derived(variant)
    assert not found.errors, found.errors
    assert not d.problems(found.events), "\n".join(d.problems(found.events))


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_derivation_sees_the_data_it_must(variant: str) -> None:
    """The walk is not vacuous: what the lock refuses is skipped (so the walk had to reach it),
    and a setting the lock lets through but that touches data is found by a run."""
    found, _ = derived(variant)
    expected = {"namespace", "redis.persistence", "nats.storage_class", "monitoring.namespace"}
    expected |= {
        "aws": {"database.username", "aws.kms_key_arn"},
        "azure": {"azure.key_vault_name", "azure.database.admin_login"},
        "in-cluster": {"database.image", "database.storage_class"},
    }[variant]
    assert expected <= set(found.skipped), found.skipped
    # A newer Redis reads an older one's files, so the lock records it without refusing it:
    # the run is what shows it reaches the data's version.
    assert ("redis.image", "version") in {(e.field, e.kind) for e in found.events}


@pytest.mark.parametrize(
    "variant, removed, section",
    [
        ("aws", "database.username", "database"),
        ("in-cluster", "database.image", "database"),
        ("azure", "azure.database.adminLogin", "azure.database"),
        ("aws", "redis.image", "redis"),
    ],
)
def test_a_setting_missing_from_the_lock_fails_the_derivation(
    variant: str, removed: str, section: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Take one entry out of LOCKED: the derivation (of its section, for speed) now runs the
    change, sees the data it touches, and names the setting."""
    monkeypatch.setattr(lock, "LOCKED", tuple(e for e in lock.LOCKED if e.key != removed))
    found = d.derive(variant, "production", VARIANTS[variant](), only=section)
    missing = d.problems(found.events)
    assert any(f"webapp:{removed} (" in problem for problem in missing), missing


def test_settings_fields_map_to_the_config_keys_they_are_read_from() -> None:
    assert d.config_key("aws.rds.engine_version") == "aws.database.engineVersion"
    assert d.config_key("services.api.autoscaling.min_replicas") == "services.api.minReplicas"
    assert d.config_key("redis.resources.cpu_limit") == "redis.resources.limits.cpu"
    assert d.config_key("azure.key_vault_name") == "azure.keyVault.name"
    assert d.config_key("database.backup.storage_size") == "database.backup.storageSize"


def test_changed_values_keep_their_shape() -> None:
    assert d.other_value("x", "postgres:16.10-alpine", str) == "postgres:17.10-alpine"
    assert d.other_value("x", "10Gi", str) == "11Gi"
    assert d.other_value("x", "10.41.0.0/16", str) == "10.41.0.0/17"
    assert d.other_value("x", True, bool) is False
    assert d.other_value("redis.storage_class", None, Any) == "premium-rwo"
