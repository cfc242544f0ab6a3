"""Every config change a user makes either applies in place or is refused before anything is
touched: the program runs before and after the change, and `tools.changes.plan` classifies every
resource (created, updated, replaced, deleted) from the properties the engine diffs.

A replacement or deletion that loses data (a StatefulSet with claims, a claim, a database, a
vault, a key) is refused on every stack before any resource is declared: by the data lock
(`config.lock`, naming the setting and its safe procedure) or by the settings themselves; in
production the resources are `protect`ed as well.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import pytest

from components.config.parsing import parse_settings
from components.config.settings import SettingsError
from tests.support import STACKS
from tools.changes import Change, loses_data, plan
from tools.golden import variant_overrides
from tools.lock import current_lock, decode
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
LOCK = "webapp:dataLock"


def _changes(stack: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """The changes a user makes to `stack`: (name, the config before, what changes)."""
    other_db = "in-cluster" if stack != "dev" else "managed"
    table = [
        ("nats volumes off", {}, section(stack, "nats", persistence=False)),
        ("nats volumes on", {}, section(stack, "nats", persistence=True)),
        ("redis volumes off", {}, section(stack, "redis", persistence=False)),
        ("nats storage class", {}, section(stack, "nats", storageClass="premium-rwo")),
        ("redis storage class", {}, section(stack, "redis", storageClass="premium-rwo")),
        ("database mode", {}, section(stack, "database", mode=other_db)),
        ("database name", {}, section(stack, "database", name="todos")),
        ("namespace", {}, {"webapp:namespace": f"{stack}-other"}),
        ("monitoring flipped", {}, variant_overrides(stack, "monitoring-flipped")),
        ("cloud", {}, {"webapp:cloud": "azure" if stack == "production" else "aws"}),
    ]
    # What changes in place is the same on every stack: production shows it.
    everyday = [
        ("nats storage grows", {}, section(stack, "nats", storageSize="20Gi")),
        ("redis storage grows", {}, section(stack, "redis", storageSize="10Gi")),
        ("nats scales out", {}, section(stack, "nats", replicas=5)),
        ("routing mode", {}, variant_overrides(stack, "ingress")),
        ("service image", {}, section(stack, "services", api__image="r.example.com/api:1.1.0")),
        (
            "service resources",
            {},
            section(stack, "services", api__resources={"limits": {"cpu": "2", "memory": "2Gi"}}),
        ),
        ("secret rotation", {}, {"webapp:secretRotation": "2027-Q1"}),
    ]
    if stack == "production":
        table += everyday + [
            (
                "postgres storage grows",
                IN_CLUSTER,
                section(stack, "database", IN_CLUSTER, storageSize="100Gi"),
            ),
            (
                "postgres storage class",
                IN_CLUSTER,
                section(stack, "database", IN_CLUSTER, storageClass="premium-rwo"),
            ),
            (
                "rds instance class",
                {},
                section(stack, "aws", database__instanceClass="db.m7g.xlarge"),
            ),
            ("rds storage", {}, section(stack, "aws", database__allocatedStorage=200)),
            (
                "rds key",
                {},
                section(
                    stack,
                    "aws",
                    kmsKeyArn="arn:aws:kms:eu-central-1:123456789012:key/"
                    "0b5e7a43-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
                ),
            ),
        ]
    if stack == "staging":
        table += [
            ("flexible server sku", {}, section(stack, "azure", database__sku="Standard_D4ds_v5")),
            ("flexible server storage", {}, section(stack, "azure", database__storageGb=256)),
            ("key vault name", {}, section(stack, "azure", keyVault__name="kv-other-1")),
            ("resource group", {}, section(stack, "azure", resourceGroup="rg-webapp-other")),
        ]
    if stack == "dev":
        table.append(
            ("postgres storage class", {}, section(stack, "database", storageClass="premium-rwo"))
        )
    return table


CHANGES = [(stack, *change) for stack in STACKS for change in _changes(stack)]
REFUSED_ANYWAY = {
    # PostgreSQL creates its database only on an empty volume: the in-cluster services would be
    # pointed at a database that does not exist (the rollout never becomes ready).
    ("dev", "database name")
}
"""Changes whose plan loses nothing that the lock refuses all the same, and why."""


def changes_of(
    before: dict[str, Any],
    after: dict[str, Any],
    stack_run: Callable[..., StackRun],
    stack: str = "production",
) -> tuple[StackRun, list[Change]]:
    """The plan of a change whose lock was recorded (`make lock ... ACCEPT=`): what it does."""
    old = stack_run(stack, before or None)
    return old, plan(old, run_stack(stack, {**before, **after}))


def losses(old: StackRun, changes: list[Change]) -> list[str]:
    records = old.by_urn()
    return [
        f"{change.action} {change.urn.rsplit('::', 1)[1]}"
        for change in changes
        if change.action in ("replace", "delete") and loses_data(records[change.urn])
    ]


def refusal(stack: str, before: dict[str, Any], after: dict[str, Any], lock: Any) -> list[str]:
    """What the program says about the change with the lock as deployed (nothing: accepted)."""
    raw, secret = decode(load_stack_config(stack, {**before, **after, LOCK: lock}))
    try:
        parse_settings(raw, stack, secret_keys=secret)
    except SettingsError as error:
        return error.problems
    return []


@pytest.mark.parametrize(
    "stack, name, before, after", CHANGES, ids=[f"{c[0]}-{c[1]}" for c in CHANGES]
)
def test_no_change_loses_data_unless_it_is_refused(
    stack: str,
    name: str,
    before: dict[str, Any],
    after: dict[str, Any],
    stack_run: Callable[..., StackRun],
) -> None:
    """Run before and after (lock recorded); a change that replaces or deletes data must be
    refused, before anything is declared, with the deployed lock, naming a setting it changes
    and its procedure; one that loses nothing must not be."""
    lock = current_lock(load_stack_config(stack, before or None), stack)
    said = refusal(stack, before, after, lock)
    try:
        old, changes = changes_of(before, after, stack_run, stack)
    except Exception as error:  # noqa: BLE001 - RunError wraps the settings' message
        assert "configuration problem" in str(error), error
        assert said, f"{name}: refused by its settings, so with the lock too"
        return
    lost = losses(old, changes)
    dangers = [problem for problem in said if "Safe procedure" in problem]
    if lost:
        new = current_lock(load_stack_config(stack, {**before, **after}), stack)
        changed = {key for key in lock.keys() | new.keys() if lock.get(key) != new.get(key)}
        assert dangers, f"{name}: {', '.join(lost)} is planned silently"
        assert all(problem.split(":", 2)[1] in changed for problem in dangers), dangers
    elif (stack, name) in REFUSED_ANYWAY:
        assert dangers, name
    else:
        assert not dangers, f"{name}: loses nothing ({[str(c) for c in changes][:3]}) yet {dangers}"


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
    # NATS too: with JetStream off no limit in its config follows the volume, so nothing rolls.
    assert not stateful_set


def test_a_release_of_one_service_changes_its_workload_alone(
    stack_run: Callable[..., StackRun],
) -> None:
    _, changes = changes_of(
        {}, section("production", "services", api__image="r.example.com/api:1.1.0"), stack_run
    )
    assert [(c.action, c.urn.rsplit("::", 1)[1]) for c in changes] == [
        # production releases api as a canary: the Rollout, and a new release gate Job
        ("replace", "webapp-api-release-job"),
        ("update", "webapp-api-rollout"),
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
    # No route password: the NATS routes use certificates cert-manager renews (`data.nats_tls`).
    # And the database's application login role (`data.database_roles`), set by a new Job.
    suffixes = ("redis-password", "jwt-secret-key", "database-app-password") + tuple(
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
                # The roles Job of the new labels (named by their digest), before the clients.
                "kubernetes:batch/v1:Job",
            ), change


ROTATING = {"a": "2026-Q4", "b": "2027-Q1", "use": "a"}


def test_a_new_label_of_generation_b_renews_b_alone(stack_run: Callable[..., StackRun]) -> None:
    """Renewing the generation clients do not use replaces exactly its values: the generation in
    use (whose values clients hold) keeps every one (`config.rotation`)."""
    old = stack_run("dev", {"webapp:secretRotation": ROTATING})
    renewed_b = {**ROTATING, "b": "2027-Q2"}
    changes = plan(old, run_stack("dev", {"webapp:secretRotation": renewed_b}))
    replaced = {
        c.urn.rsplit("::", 1)[1]
        for c in changes
        if c.action == "replace" and "RandomPassword" in c.urn
    }
    assert replaced and all(name.endswith("-b") for name in replaced), replaced
    assert len(replaced) == 6  # redis, jwt, the database login role and the three NATS users
