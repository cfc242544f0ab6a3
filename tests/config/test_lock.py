"""The data lock: a change that would replace or delete data is refused before anything is
declared, naming the setting, and `make lock` records it only when named."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config.lock import LOCK_KEY, LOCKED
from components.config.parsing import parse_settings
from components.config.settings import SettingsError
from tests.support import STACKS
from tools import lock as lock_tool
from tools.offline import ROOT, load_stack_config

LOCK = f"webapp:{LOCK_KEY}"


def problems(stack: str, overrides: dict[str, Any]) -> list[str]:
    raw, secret = lock_tool.decode(load_stack_config(stack, overrides))
    with pytest.raises(SettingsError) as info:
        parse_settings(raw, stack, secret_keys=secret)
    return info.value.problems


@pytest.mark.parametrize("stack", STACKS)
def test_each_shipped_stack_records_its_lock(stack: str) -> None:
    config = load_stack_config(stack)
    recorded = {
        key: str(value).lower() if isinstance(value, bool) else value
        for key, value in config[LOCK].items()
    }
    assert recorded == lock_tool.current_lock(config, stack)


def test_every_locked_setting_is_a_real_key() -> None:
    consulted: set[str] = set()
    for stack in STACKS:
        raw, secret = lock_tool.decode(load_stack_config(stack))
        parse_settings(raw, stack, consulted=consulted, secret_keys=secret)
    assert {f"webapp:{entry.key}" for entry in LOCKED} <= consulted


def test_a_stack_without_a_lock_is_refused() -> None:
    (found,) = problems("dev", {LOCK: None})
    assert found.startswith(f"{LOCK}: missing") and "make lock STACK=dev" in found


def test_a_change_that_loses_data_names_the_setting_and_its_procedure() -> None:
    (found,) = problems("staging", {"webapp:redis": {"storageClass": "premium-rwo"}})
    assert found.startswith("webapp:redis.storageClass: 'default' -> 'premium-rwo' would ")
    assert (
        "Safe procedure:" in found and "make lock STACK=staging ACCEPT=redis.storageClass" in found
    )
    assert "unprotect" not in found  # staging does not protect its data
    (found,) = problems("production", {"webapp:database": {"name": "todos"}})
    assert "webapp:database.name" in found and "pulumi state unprotect" in found


def test_a_change_that_loses_nothing_only_asks_for_the_record() -> None:
    found = problems("dev", {"webapp:nats": {"persistence": True}})
    assert [problem.split(":", 2)[1] for problem in found] == [
        "dataLock.nats.persistence",
        "dataLock.nats.storageClass",  # volumes now, so a class to record,
        "dataLock.nats.image",  # the version that writes them,
        "dataLock.nats.storageSize",  # and the size they may not shrink below
    ]
    assert found[0].startswith(f"{LOCK}.nats.persistence: 'false', the config makes it 'true'")
    assert all(
        "loses no data" in problem and "make lock STACK=dev`" in problem for problem in found
    )
    assert not any("Safe procedure" in problem for problem in found)


def test_an_unknown_or_malformed_lock_is_refused() -> None:
    lock = {**load_stack_config("dev")[LOCK], "nats.storageclass": "default"}
    (found,) = problems("dev", {LOCK: lock})
    assert found.startswith(f"{LOCK}.nats.storageclass: unknown; the lock records ")
    (found,) = problems("dev", {LOCK: "locked"})
    assert found.startswith(f"{LOCK}: 'locked' is not allowed; expected a mapping")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.staging.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def _set_storage_class(path: Path, value: str) -> None:
    text = path.read_text()
    assert "  webapp:redis:" not in text and lock_tool.COMMENT in text
    setting = f"  webapp:redis:\n    storageClass: {value}\n"
    path.write_text(text.replace(lock_tool.COMMENT, setting + lock_tool.COMMENT, 1))


def test_make_lock_records_a_losing_change_only_when_named(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack_file = project / "Pulumi.staging.yaml"
    _set_storage_class(stack_file, "premium-rwo")
    changed = stack_file.read_text()
    assert lock_tool.main(["staging"], root=project) == 1
    assert "refused, nothing written" in capsys.readouterr().out
    assert stack_file.read_text() == changed
    assert lock_tool.main(["staging", "--accept", "redis.storageClass"], root=project) == 0
    written = stack_file.read_text()
    config = yaml.safe_load(written)["config"]
    assert config[LOCK]["redis.storageClass"] == "premium-rwo"
    # Only the lock block changed; the comments elsewhere stay.
    assert lock_tool.BLOCK.sub("", written) == lock_tool.BLOCK.sub("", changed)
    assert written.count("#") == changed.count("#")
    assert lock_tool.main(["staging"], root=project) == 0
    assert stack_file.read_text() == written  # idempotent


def test_make_lock_writes_a_missing_lock(project: Path) -> None:
    stack_file = project / "Pulumi.staging.yaml"
    text = stack_file.read_text()
    stack_file.write_text(lock_tool.BLOCK.sub("", text).replace(lock_tool.COMMENT, ""))
    assert LOCK not in stack_file.read_text()
    assert lock_tool.main(["staging"], root=project) == 0
    assert stack_file.read_text() == text


def test_accepting_a_key_the_lock_does_not_hold_is_refused_with_a_suggestion(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (project / "Pulumi.staging.yaml").read_text()
    assert lock_tool.main(["staging", "--accept", "redis.storageclass"], root=project) == 2
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(
        "ACCEPT=redis.storageclass: not a locked setting; did you mean redis.storageClass? "
        "expected one of cloud, namespace,"
    )
    assert lock_tool.main(["staging", "--accept", "everything"], root=project) == 2
    (line,) = capsys.readouterr().out.splitlines()
    assert "did you mean" not in line and line.startswith("ACCEPT=everything: not a locked")
    assert (project / "Pulumi.staging.yaml").read_text() == before


def _with(stack: str, key: str, **fields: Any) -> dict[str, Any]:
    """`webapp:<key>` of the shipped stack with `fields` changed."""
    return {f"webapp:{key}": {**(load_stack_config(stack).get(f"webapp:{key}") or {}), **fields}}


def _recorded(stack: str, **entries: str) -> dict[str, Any]:
    return {LOCK: {**load_stack_config(stack)[LOCK], **entries}}


SHRINKS = [
    (
        "production",
        _with("production", "nats", storageSize="5Gi"),
        "nats.storageSize: '10Gi' -> '5Gi'",
    ),
    (
        "production",
        _with("production", "redis", storageSize="1Gi"),
        "redis.storageSize: '5Gi' -> '1Gi'",
    ),
    (
        "production",
        _with("production", "monitoring", storageSize="50Gi"),
        "monitoring.storageSize: '100Gi' -> '50Gi'",
    ),
    (
        "production",
        _with(
            "production",
            "aws",
            database={
                "instanceClass": "db.m7g.large",
                "backupRetentionDays": 14,
                "allocatedStorage": 50,
            },
        ),
        "aws.database.allocatedStorage: '100' -> '50'",
    ),
    ("dev", _with("dev", "database", storageSize="1Gi"), "database.storageSize: '2Gi' -> '1Gi'"),
    (
        "dev",
        _with("dev", "database", backup={"storageSize": "5Gi"}),
        "database.backup.storageSize: '10Gi' -> '5Gi'",
    ),
    # Recorded bigger than the config allows to set here: the lock is what was deployed.
    (
        "staging",
        _recorded("staging", **{"azure.database.storageGb": "64"}),
        "azure.database.storageGb: '64' -> '32'",
    ),
    (
        "staging",
        _recorded("staging", **{"redis.storageSize": "8Gi"}),
        "redis.storageSize: '8Gi' -> '5Gi'",
    ),
]


@pytest.mark.parametrize(
    "stack, overrides, expected", SHRINKS, ids=[s[2].split(":")[0] for s in SHRINKS]
)
def test_a_volume_that_would_shrink_is_refused(
    stack: str, overrides: dict[str, Any], expected: str
) -> None:
    (found,) = problems(stack, overrides)
    assert found.startswith(f"webapp:{expected} would shrink"), found
    assert "Safe procedure:" in found


@pytest.mark.parametrize(
    "stack, overrides, key",
    [
        ("production", _with("production", "nats", storageSize="20Gi"), "nats.storageSize"),
        (
            "staging",
            _with("staging", "azure", database={"storageGb": 64}),
            "azure.database.storageGb",
        ),
    ],
)
def test_a_volume_that_grows_only_asks_for_the_record(
    stack: str, overrides: dict[str, Any], key: str
) -> None:
    (found,) = problems(stack, overrides)
    assert found.startswith(f"{LOCK}.{key}: ") and "loses no data" in found


@pytest.mark.parametrize(
    "stack, overrides, expected",
    [
        (
            "dev",
            _with("dev", "database", image="postgres:17.6-alpine"),
            "database.image: '16' -> '17' would start a PostgreSQL of another major",
        ),
        (
            "production",
            _with("production", "redis", image="redis:6.2.20-alpine"),
            "redis.image: '7' -> '6' would start an older Redis",
        ),
        (
            "production",
            _with(
                "production",
                "aws",
                database={
                    "instanceClass": "db.m7g.large",
                    "backupRetentionDays": 14,
                    "engineVersion": "17",
                },
            ),
            "aws.database.engineVersion: '16' -> '17'",
        ),
        (
            "staging",
            _with("staging", "azure", database={"version": "17"}),
            "azure.database.version: '16' -> '17'",
        ),
        (
            "production",
            _with("production", "database", username="todo"),
            "database.username: 'webapp' -> 'todo' would replace the RDS instance",
        ),
        (
            "production",
            _with("production", "monitoring", namespace="observability"),
            "monitoring.namespace: 'monitoring' -> 'observability'",
        ),
    ],
)
def test_a_version_or_identity_change_that_loses_data_is_refused(
    stack: str, overrides: dict[str, Any], expected: str
) -> None:
    found = [p for p in problems(stack, overrides) if "Safe procedure" in p]
    assert len(found) == 1 and found[0].startswith(f"webapp:{expected}"), found


def test_a_newer_redis_or_a_minor_postgres_only_asks_for_the_record_or_nothing() -> None:
    (found,) = problems("production", _with("production", "redis", image="redis:8.2.1-alpine"))
    assert found.startswith(f"{LOCK}.redis.image: '7', the config makes it '8'")
    raw, secret = lock_tool.decode(
        load_stack_config("dev", _with("dev", "database", image="postgres:16.11-alpine"))
    )
    parse_settings(raw, "dev", secret_keys=secret)  # same major: nothing to record
