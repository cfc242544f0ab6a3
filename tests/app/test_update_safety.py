"""Every config change a user makes either applies in place or is refused before anything is
touched: the program runs before and after the change, and `tools.changes.plan` classifies every
resource (created, updated, replaced, deleted) from the properties the engine diffs.

A replacement or deletion that loses data (a StatefulSet with claims, a claim, a database, a
vault, a key) is allowed only where Pulumi refuses it at preview, because the resource is
`protect`ed (production), or where the settings refuse the change itself.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import pytest

from components.config.settings import SettingsError
from tools.changes import Change, loses_data, plan
from tools.golden import variant_overrides
from tools.offline import StackRun, load_stack_config, run_stack


def section(stack: str, key: str, base: Optional[dict[str, Any]] = None, **fields: Any) -> Any:
    """`webapp:<key>` of the stack (after `base`), with `fields` changed (dotted keys nest)."""
    config = {**load_stack_config(stack), **(base or {})}
    value = dict(config.get(f"webapp:{key}") or {})
    for name, new in fields.items():
        target = value
        *parents, leaf = name.split("__")
        for parent in parents:
            target[parent] = dict(target.get(parent) or {})
            target = target[parent]
        target[leaf] = new
    return {f"webapp:{key}": value}


IN_CLUSTER = variant_overrides("production", "cloud-none")
AZURE = variant_overrides("production", "cloud-azure")

CHANGES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("nats storage grows", {}, section("production", "nats", storageSize="20Gi")),
    ("redis storage grows", {}, section("production", "redis", storageSize="10Gi")),
    (
        "postgres storage grows",
        IN_CLUSTER,
        section("production", "database", IN_CLUSTER, storageSize="100Gi"),
    ),
    ("nats scales out", {}, section("production", "nats", replicas=5)),
    ("nats volumes off", {}, section("production", "nats", persistence=False)),
    ("nats storage class", {}, section("production", "nats", storageClass="premium-rwo")),
    (
        "postgres storage class",
        IN_CLUSTER,
        section("production", "database", IN_CLUSTER, storageClass="premium-rwo"),
    ),
    ("routing mode", {}, section("production", "routing", mode="ingress")),
    ("monitoring off", {}, section("production", "monitoring", enabled=False)),
    ("service image", {}, section("production", "services", api__image="r.example.com/api:1.1.0")),
    (
        "service resources",
        {},
        section("production", "services", api__resources={"limits": {"cpu": "2", "memory": "2Gi"}}),
    ),
    (
        "rds instance class",
        {},
        section("production", "aws", database__instanceClass="db.m7g.xlarge"),
    ),
    ("rds storage", {}, section("production", "aws", database__allocatedStorage=200)),
    (
        "flexible server sku",
        AZURE,
        section("production", "azure", AZURE, database__sku="Standard_D4ds_v5"),
    ),
    (
        "flexible server storage",
        AZURE,
        section("production", "azure", AZURE, database__storageGb=256),
    ),
    ("key vault name", AZURE, section("production", "azure", AZURE, keyVault__name="kv-other-1")),
    ("cloud", {}, {"webapp:cloud": "azure"}),
    ("secret rotation", {}, {"webapp:secretRotation": "2027-Q1"}),
]


def changes_of(
    before: dict[str, Any], after: dict[str, Any], stack_run: Callable[..., StackRun]
) -> tuple[StackRun, list[Change]]:
    old = stack_run("production", before or None)
    return old, plan(old, run_stack("production", {**before, **after}))


@pytest.mark.parametrize("name, before, after", CHANGES, ids=[c[0] for c in CHANGES])
def test_no_change_loses_data_unless_it_is_refused(
    name: str, before: dict[str, Any], after: dict[str, Any], stack_run: Callable[..., StackRun]
) -> None:
    try:
        old, changes = changes_of(before, after, stack_run)
    except SettingsError:
        return  # refused before any resource is declared
    except Exception as error:  # noqa: BLE001 - RunError wraps the settings' message
        assert "configuration problem" in str(error), error
        return
    records = old.by_urn()
    for change in changes:
        if change.action in ("replace", "delete") and loses_data(records[change.urn]):
            assert records[change.urn].protect, (
                f"{name}: {change.action} of {change.urn} ({', '.join(change.paths[:3])}) is "
                "planned silently"
            )


def actions(changes: list[Change], fragment: str) -> set[str]:
    return {change.action for change in changes if fragment in change.urn}


@pytest.mark.parametrize(
    "name, before, after, claims",
    [
        ("nats", {}, section("production", "nats", storageSize="20Gi"), 3),
        ("redis", {}, section("production", "redis", storageSize="10Gi"), 1),
        (
            "postgres",
            IN_CLUSTER,
            section("production", "database", IN_CLUSTER, storageSize="100Gi"),
            1,
        ),
    ],
)
def test_storage_grows_in_place(
    name: str,
    before: dict[str, Any],
    after: dict[str, Any],
    claims: int,
    stack_run: Callable[..., StackRun],
) -> None:
    """A bigger volume patches each existing claim; the StatefulSet is neither replaced nor
    (its claim template being immutable) even updated."""
    _, changes = changes_of(before, after, stack_run)
    patched = [c for c in changes if "PersistentVolumeClaimPatch" in c.urn and f"-{name}-" in c.urn]
    assert len(patched) == claims and {c.action for c in patched} == {"update"}
    assert all(c.paths == ("spec.resources.requests.storage",) for c in patched)
    stateful_set = [c for c in changes if f"StatefulSet::webapp-{name}-statefulset" in c.urn]
    if name == "nats":
        # JetStream's file limit follows the volume: a rolling restart for the new config.
        (change,) = stateful_set
        assert change.action == "update"
        assert change.paths == ("spec.template.metadata.annotations.checksum/config",)
    else:
        assert not stateful_set


def test_a_release_of_one_service_changes_its_deployment_alone(
    stack_run: Callable[..., StackRun],
) -> None:
    _, changes = changes_of(
        {}, section("production", "services", api__image="r.example.com/api:1.1.0"), stack_run
    )
    assert [(c.action, c.urn.rsplit("::", 1)[1]) for c in changes] == [
        ("update", "webapp-api-deployment")
    ]


def test_stateful_sets_with_data_are_protected_in_production(
    stack_run: Callable[..., StackRun],
) -> None:
    """So a change that would replace one (a storage class, volumes off) fails the preview."""
    for run in (stack_run("production"), stack_run("production", IN_CLUSTER)):
        stateful = [r for r in run.resources if r.type == "kubernetes:apps/v1:StatefulSet"]
        assert stateful and all(r.protect for r in stateful if loses_data(r))
    dev = [r for r in stack_run("dev").resources if r.type == "kubernetes:apps/v1:StatefulSet"]
    assert not any(r.protect for r in dev)  # dev can always be torn down


@pytest.mark.parametrize("stack", ["dev", "production"])
def test_a_new_rotation_label_renews_exactly_the_values_that_rotate_by_restart(
    stack: str, stack_run: Callable[..., StackRun]
) -> None:
    old = stack_run(stack)
    changes = plan(old, run_stack(stack, {"webapp:secretRotation": "2027-Q1"}))
    renewed = {
        c.urn.rsplit("::", 1)[1]
        for c in changes
        if c.action == "replace" and "RandomPassword" in c.urn
    }
    suffixes = ("redis-password", "jwt-secret-key", "nats-route-password") + tuple(
        f"nats-{user}-password" for user in ("api", "websocket", "broadcaster")
    )
    assert renewed and all(name.endswith(suffixes) for name in renewed), renewed
    assert len(renewed) == len(suffixes)
    records = old.by_urn()
    for change in changes:  # nothing else is replaced or deleted; the readers' values update
        assert change.action in ("replace", "update"), change
        if change.action == "replace":
            assert records[change.urn].type in (
                "random:index/randomPassword:RandomPassword",
                "aws:secretsmanager/secretVersion:SecretVersion",
            ), change
