"""Derive the settings the data lock must hold, from the program itself (issue 22).

Every leaf of the parsed `Settings` (recursively through the nested dataclasses and the services)
is changed to another value of its type, the program is run with those settings (under the
offline mocks, the config parser replaced by the changed settings), and `tools.changes.plan`
compares the run with the unchanged one. A leaf is a *data setting* when its change

- replaces or deletes a resource that holds data (`tools.changes.loses_data`): the lock must
  refuse the change (`lock_problems` reports it as losing data, naming the setting); or
- changes the version a data service runs on its existing data (`VERSION_PATHS` of a resource
  that holds data): the setting must be in `LOCKED`, whose entry says which versions are safe.

Runs are spent by group testing: every leaf of a section is changed at once; only a section
whose run loses data (or fails) is split into its parts. A few dozen runs per variant.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass
from types import UnionType
from typing import Any, Iterator, Literal, Mapping, Optional, Union
from unittest import mock

from components.config import parsing
from components.config.lock import lock_problems, lock_values
from components.config.settings import Settings
from tools.changes import loses_data, plan
from tools.lock import settings_without_lock
from tools.offline import StackRun, load_stack_config, run_stack

VERSION_PATHS: dict[str, str] = {
    # The container image of a StatefulSet with claims: the server that opens its volume.
    "kubernetes:apps/v1:StatefulSet": r"spec\.template\.spec\.(initC|c)ontainers\[\d+\]\.image",
    "aws:rds/instance:Instance": r"engineVersion",
    "azure-native:dbforpostgresql:Server": r"version",
    # The brokers' operators run the server on the cluster's volumes (components/data/brokers.py):
    # the custom resource names its version. They are `retain_on_delete`, so not `loses_data`.
    "kubernetes:rabbitmq.com/v1beta1:RabbitmqCluster": r"spec\.image",
    "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch": r"spec\.version",
}
"""Per data-holding type: the inputs that say which version of the server reads the data."""
OPERATED = {
    "kubernetes:rabbitmq.com/v1beta1:RabbitmqCluster",
    "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch",
}
"""Data held through an operator's custom resource: its version counts, its deletion is retained."""

NOT_CONFIG = {"stack"}
"""Settings fields that are no config key (the stack's name is the stack)."""

SAMPLES: dict[str, Any] = {
    # Optional fields that are None as shipped: a value of their kind to turn them on with.
    "kubernetes.kubeconfig": "/tmp/kubeconfig",
    "kubernetes.api_server_cidr": "10.99.0.0/16",
    "aws.kms_key_arn": (
        "arn:aws:kms:eu-central-1:123456789012:key/0b5e7a43-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
    ),
    "azure.database_subnet_cidr": "10.41.9.0/24",
    "monitoring.prometheus_url": "http://prometheus.observability.svc:9090",
    "routing.acme_email": "ops@example.org",
    "routing.shared_gateway": "webapp-host",
    "broadcaster_webhook_url": "https://hooks.example.org/x",
    "storage_class": "premium-rwo",
}
"""By settings path, or by field name for any section (`storage_class`)."""

COMPANIONS: dict[str, dict[str, Any]] = {
    # Monitoring off needs another Prometheus for the analysis and KEDA queries (the settings
    # refuse it otherwise), so the change comes with one.
    "monitoring.enabled": {"monitoring.prometheus_url": SAMPLES["monitoring.prometheus_url"]},
    "addons.monitoring_stack": {"monitoring.prometheus_url": SAMPLES["monitoring.prometheus_url"]},
    # Clients use generation b only once it exists (`config.rotation`).
    "secret_rotation.use": {"secret_rotation.label_b": "2027-Q1"},
}
"""Leaves whose change the settings accept only with another one, and that other one."""


@dataclass(frozen=True)
class Event:
    """A leaf whose change touches data."""

    variant: str
    field: str
    """Dotted path in `Settings` (`services.api.image`, `aws.rds.engine_version`)."""
    kind: Literal["loses", "version", "retained"]
    detail: str
    before: Settings
    after: Settings


# --- changing one value ------------------------------------------------------------------------


def _bump_number(text: str) -> str:
    return re.sub(r"\d+", lambda m: str(int(m.group()) + 1), text, count=1)


def _other_text(text: str) -> str:
    """Another string of the same shape: a quantity or version grows by one, an image's tag
    moves one major version, anything else changes its last letter or digit."""
    if re.fullmatch(r"\d+(\.\d+)?(m|Ki|Mi|Gi|Ti)?", text):
        return _bump_number(text)
    if re.fullmatch(r"[a-z0-9./-]+:[A-Za-z0-9_.-]+", text):
        name, tag = text.rsplit(":", 1)
        return f"{name}:{_bump_number(tag)}" if re.search(r"\d", tag) else f"{name}:{tag}x"
    for index in range(len(text) - 1, -1, -1):
        char = text[index]
        if char.isdigit():
            return text[:index] + str((int(char) + 1) % 10) + text[index + 1 :]
        if char.isalpha():
            nxt = "a" if char.lower() == "z" else chr(ord(char.lower()) + 1)
            return text[:index] + (nxt.upper() if char.isupper() else nxt) + text[index + 1 :]
    return text + "x"


def _choices(hint: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return typing.get_args(hint)
    if origin in (Union, UnionType):
        return tuple(c for arg in typing.get_args(hint) for c in _choices(arg))
    return ()


def other_value(path: str, value: Any, hint: Any) -> Any:
    """Another valid value of the field's type, or `value` itself when there is none to make."""
    choices = [c for c in _choices(hint) if c != value and c is not None]
    if choices:
        return choices[0]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return _other_text(value) if value else "perturbed"
    if value is None:
        return SAMPLES.get(path, SAMPLES.get(path.rsplit(".", 1)[-1], value))
    if isinstance(value, tuple) and value:
        if len(value) > 1:
            return value[:-1]
        (only,) = value
        if isinstance(only, str):
            return (_other_text(only),)
        if isinstance(only, tuple) and len(only) == 2:
            return ((only[0], _other_text(str(only[1]))),)
    return value


# --- the tree of settings ----------------------------------------------------------------------


def children(node: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """(path, value, type hint) of each part of a dataclass or of the services mapping."""
    if dataclasses.is_dataclass(node):
        hints = typing.get_type_hints(type(node))
        for item in dataclasses.fields(node):
            sub = f"{path}.{item.name}" if path else item.name
            if sub not in NOT_CONFIG:
                yield sub, getattr(node, item.name), hints[item.name]
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield f"{path}.{key}", value, type(value)


def is_branch(value: Any) -> bool:
    return dataclasses.is_dataclass(value) or (isinstance(value, Mapping) and bool(value))


def leaves(node: Any, path: str, hint: Any = None) -> Iterator[tuple[str, Any, Any]]:
    if is_branch(node):
        for sub, value, sub_hint in children(node, path):
            yield from leaves(value, sub, sub_hint)
    else:
        yield path, node, hint


def replaced(root: Any, path: str, value: Any) -> Any:
    """`root` with the value at dotted `path` replaced (frozen dataclasses rebuilt)."""
    head, _, rest = path.partition(".")
    current = root[head] if isinstance(root, Mapping) else getattr(root, head)
    new = replaced(current, rest, value) if rest else value
    if isinstance(root, Mapping):
        return {**root, head: new}
    return dataclasses.replace(root, **{head: new})


def changed(settings: Settings, node_path: str, node: Any, hint: Any) -> Settings:
    """`settings` with every leaf under `node_path` changed."""
    result = settings
    for path, value, leaf_hint in leaves(node, node_path, hint):
        other = other_value(path, value, leaf_hint)
        if other != value:
            result = replaced(result, path, other)
            for companion, companion_value in COMPANIONS.get(path, {}).items():
                result = replaced(result, companion, companion_value)
    return result


# --- running -----------------------------------------------------------------------------------


def run_with(stack: str, overrides: Mapping[str, Any], settings: Settings) -> StackRun:
    """The program's run with `settings` in place of what the config parses to."""
    with mock.patch.object(parsing, "parse_settings", lambda *args, **kwargs: settings):
        return run_stack(stack, overrides)


def touches_data(before: StackRun, after: StackRun) -> list[tuple[str, str]]:
    """(kind, what) for each change of `after` against `before` that touches data."""
    records = before.by_urn()
    found = []
    for change in plan(before, after):
        record = records.get(change.urn)
        if record is None or not (loses_data(record) or record.type in OPERATED):
            continue
        name = change.urn.rsplit("::", 1)[1]
        if change.action in ("replace", "delete"):
            # A retained resource loses nothing, but its going would hide the group's other
            # changes to it: the group is split all the same.
            kind = "loses" if loses_data(record) else "retained"
            found.append((kind, f"{change.action} {name}"))
        elif change.action == "update":
            rule = VERSION_PATHS.get(record.type)
            paths = [p for p in change.paths if rule and re.fullmatch(rule, p)]
            if paths:
                found.append(("version", f"{name} {', '.join(paths)}"))
    return found


@dataclass
class Derivation:
    events: list[Event]
    errors: list[str]
    runs: int
    skipped: list[str]
    """Leaves not run: the lock refuses their change whatever it would do."""
    trace: list[str]
    """What each run changed, in order (for the timing notes)."""


def refused(before: Settings, after: Settings) -> bool:
    """Whether the data lock, recorded for `before`, refuses `after` as a change losing data."""
    losing, _ = lock_problems(after, lock_values(before))
    return bool(losing)


def _has_locked(path: str) -> bool:
    """Whether a locked key lies under `path` (only the order of the runs depends on it)."""
    key = config_key(path)
    return any(e.key == key or e.key.startswith(key + ".") for e in locked_entries())


def locked_entries() -> tuple[Any, ...]:
    from components.config import lock

    return lock.LOCKED


def derive(  # noqa: C901 - one walk, its steps nested to share the runs
    variant: str, stack: str, overrides: Mapping[str, Any], only: Optional[str] = None
) -> Derivation:
    """The leaves of `Settings` (or of the `only` section) whose change touches data.

    Group testing: at each section, the parts without a locked key under them are changed
    together in one run (a clean run clears them all; a run touching data, or failing, splits
    them); the others are visited one by one. A leaf whose change the lock refuses is not run:
    whatever it would do, it cannot be applied unnoticed."""
    base = settings_without_lock(load_stack_config(stack, overrides), stack)
    before = run_with(stack, overrides, base)
    result = Derivation([], [], 1, [], [])

    def attempt(what: str, after_settings: Settings) -> list[tuple[str, str]] | Exception:
        result.runs += 1
        result.trace.append(what)
        try:
            return touches_data(before, run_with(stack, overrides, after_settings))
        except Exception as error:  # noqa: BLE001 - split, or reported for a leaf
            return error

    def testable(path: str, node: Any, hint: Any) -> Settings:
        """`base` with every leaf under `path` changed but those the lock refuses."""
        result_settings = base
        for leaf, value, leaf_hint in leaves(node, path, hint):
            after_settings = changed(base, leaf, value, leaf_hint)
            if after_settings == base:
                continue
            if refused(base, after_settings):
                if leaf not in result.skipped:
                    result.skipped.append(leaf)
                continue
            result_settings = _merge(result_settings, after_settings, leaf)
        return result_settings

    def visit(path: str, node: Any, hint: Any) -> None:
        group = testable(path, node, hint)
        if group == base:
            return
        found = attempt(path or "settings", group)
        if found == []:
            return
        if not is_branch(node):
            if isinstance(found, Exception):
                result.errors.append(f"{variant}: {path}: the changed run failed: {found!r}")
            for kind, detail in found if isinstance(found, list) else []:
                result.events.append(Event(variant, path, kind, detail, base, group))  # type: ignore[arg-type]
            return
        parts = list(children(node, path))
        prior = [part for part in parts if _has_locked(part[0])]
        rest = [part for part in parts if part not in prior]
        if rest:
            merged = base
            for sub, value, sub_hint in rest:
                merged = _merge(merged, testable(sub, value, sub_hint), sub)
            if merged != base and attempt(f"{path or 'settings'}: {len(rest)} parts", merged) != []:
                prior += rest
        for sub, value, sub_hint in prior:
            visit(sub, value, sub_hint)

    if only is None:
        visit("", base, Settings)
    else:
        node = base
        for part in only.split("."):
            node = node[part] if isinstance(node, Mapping) else getattr(node, part)
        visit(only, node, None)
    return result


def _merge(into: Settings, source: Settings, path: str) -> Settings:
    """`into` with the value at `path` taken from `source`."""
    node: Any = source
    for part in path.split("."):
        node = node[part] if isinstance(node, Mapping) else getattr(node, part)
    merged = replaced(into, path, node)
    for companions in COMPANIONS.get(path, {}):
        merged = _merge(merged, source, companions)
    return merged


# --- settings fields and config keys -----------------------------------------------------------

KEY_ALIASES: dict[str, str] = {
    "aws.rds": "aws.database",
    "azure.key_vault_name": "azure.keyVault.name",
    "azure.soft_delete_retention_days": "azure.keyVault.softDeleteRetentionDays",
    "azure.purge_protection": "azure.keyVault.purgeProtection",
    "azure.key_vault_private": "azure.keyVault.privateEndpoint",
    "azure.delivery": "azure.secretDelivery",
    "azure.database.storage_gb": "azure.database.storageGb",
    "secret_rotation.label_a": "secretRotation.a",
    "secret_rotation.label_b": "secretRotation.b",
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def config_key(path: str) -> str:
    """The `webapp:` key a settings field is read from."""
    for field_path, key in sorted(KEY_ALIASES.items(), key=lambda item: -len(item[0])):
        if path == field_path or path.startswith(field_path + "."):
            path = key + path[len(field_path) :]
            break
    path = re.sub(r"\.autoscaling\.", ".", path)
    path = re.sub(
        r"resources\.(cpu|memory)_(request|limit)",
        lambda m: f"resources.{m.group(2)}s.{m.group(1)}",
        path,
    )
    return ".".join(_camel(part) for part in path.split("."))


def problems(events: list[Event]) -> list[str]:
    """What the lock misses: a data-losing change it does not refuse, naming the setting, or a
    data service's version setting it does not hold."""
    keys = {entry.key for entry in locked_entries()}
    found = []
    for event in events:
        key = config_key(event.field)
        if event.kind == "retained":
            continue
        if event.kind == "version":
            if key not in keys:
                found.append(
                    f"{event.variant}: webapp:{key} ({event.field}) changes the version a data "
                    f"service runs on its data ({event.detail}) and is not in LOCKED"
                )
            continue
        losing, _ = lock_problems(event.after, lock_values(event.before))
        if not any(problem.startswith(f"webapp:{key}:") for problem in losing):
            found.append(
                f"{event.variant}: webapp:{key} ({event.field}) would {event.detail} and the "
                f"lock does not refuse it (refused: {[p.split(':', 2)[1] for p in losing]})"
            )
    return found
