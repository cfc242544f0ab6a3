"""The data lock (`webapp:dataLock`): the settings whose change would replace or delete data, as
last deployed, so that such a change is refused before any resource is declared.

Pure module. The program cannot see what the stack last deployed while it parses its config, so
the stack file records it: `make lock STACK=<stack>` (`tools.lock`) writes the current values of
the `LOCKED` settings into `webapp:dataLock`, and `check_lock` compares them with the config on
every run. A difference is refused with the key, both values, what the change would replace or
delete, and the safe procedure; `make lock` records a change that loses data only when it is
named (`ACCEPT=<key>`), after that procedure. A difference that loses nothing (volumes turned
on) only asks for `make lock`, so the record stays exact and every change to it is in a reviewed
diff.

This guards every stack, dev included. Production also `protect`s the same resources, so even a
recorded change fails at preview until they are unprotected (README "Changing a running stack").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from components.config.aws import AwsSettings
from components.config.azure import AzureSettings
from components.config.settings import DataServiceSettings, Settings

LOCK_KEY = "dataLock"


@dataclass(frozen=True)
class Locked:
    key: str
    """The setting's dotted key under `webapp:`."""
    value: Callable[[Settings], Optional[str]]
    """Its effective value (defaults resolved); None where it has no data behind it."""
    loses: str
    """What a change does to existing data."""
    procedure: str
    """How to make the change without losing it."""
    safe: Callable[[str, str], bool] = lambda old, new: False
    """Changes (old, new) that lose nothing."""


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _class(service: DataServiceSettings) -> Optional[str]:
    return (service.storage_class or "default") if service.persistence else None


def _volumes_on(old: str, new: str) -> bool:
    return old == "false" and new == "true"


def _on_aws(read: Callable[[AwsSettings], Optional[str]]) -> Callable[[Settings], Optional[str]]:
    """A setting of `webapp:aws`, locked only on a stack that runs on AWS."""
    return lambda settings: read(settings.aws) if settings.cloud == "aws" and settings.aws else None


def _on_azure(
    read: Callable[[AzureSettings], Optional[str]],
) -> Callable[[Settings], Optional[str]]:
    """A setting of `webapp:azure`, locked only on a stack that runs on Azure."""
    return lambda settings: (
        read(settings.azure) if settings.cloud == "azure" and settings.azure else None
    )


STORAGE_CLASS = (
    "recreate its StatefulSet (an outage) while its existing claims keep the old class: a "
    "StatefulSet's claim template cannot change, and Kubernetes re-adopts claims by name"
)


def _move_volumes(service: str, backup: str) -> str:
    return (
        f"{backup}; delete the StatefulSet and its claims (`kubectl delete statefulset {service}` "
        f"and `kubectl delete pvc -l app.kubernetes.io/name={service}`); apply; restore"
    )


LOCKED: tuple[Locked, ...] = (
    Locked(
        "cloud",
        lambda settings: settings.cloud,
        "delete the managed database, the secret store and its keys, and create them empty on "
        "the other cloud",
        "a stack does not change cloud: create a stack for the new cloud, restore a backup into "
        "it, move the traffic, then destroy this one",
    ),
    Locked(
        "namespace",
        lambda settings: settings.namespace,
        "delete the namespace with every volume in it (and rename the store's resources named "
        "after it)",
        "deploy a new stack in the new namespace, restore a backup into it, then destroy this one",
    ),
    Locked(
        "database.mode",
        lambda settings: settings.database.mode,
        "delete the database holding the data and create an empty one of the other kind",
        "take a backup (the postgres-backup job's dump, or pg_dump of the managed server); apply; "
        "restore the dump into the new database before traffic returns",
    ),
    Locked(
        "database.name",
        lambda settings: settings.database.name,
        "replace the managed database (its name cannot change), or point the in-cluster "
        "services at a database that does not exist",
        "create the new database next to the old one and copy the data (pg_dump | pg_restore), "
        "then change the name",
    ),
    Locked(
        "database.storageClass",
        lambda settings: (
            (settings.database.storage_class or "default")
            if settings.database.mode == "in-cluster"
            else None
        ),
        f"{STORAGE_CLASS} (the backups claim is replaced too)",
        _move_volumes(
            "postgres", "take a backup (`kubectl create job --from=cronjob/postgres-backup`)"
        ),
    ),
    Locked(
        "redis.persistence",
        lambda settings: _flag(settings.redis.persistence),
        "recreate Redis without volumes: the append-only file and every key in it are gone",
        "let sessions and caches expire or export them (redis-cli --rdb); apply",
        _volumes_on,
    ),
    Locked(
        "redis.storageClass",
        lambda settings: _class(settings.redis),
        STORAGE_CLASS,
        _move_volumes("redis", "export the data (redis-cli --rdb)"),
    ),
    Locked(
        "nats.persistence",
        lambda settings: _flag(settings.nats.persistence),
        "recreate NATS without volumes: JetStream streams and their messages are gone",
        "drain the streams (stop publishers, let consumers catch up) or back them up "
        "(`nats stream backup`); apply",
        _volumes_on,
    ),
    Locked(
        "nats.storageClass",
        lambda settings: _class(settings.nats),
        STORAGE_CLASS,
        _move_volumes("nats", "back up the streams (`nats stream backup`)"),
    ),
    Locked(
        "monitoring.enabled",
        lambda settings: _flag(settings.monitoring.enabled),
        "delete the monitoring namespace with Prometheus' history and Grafana's state",
        "export the dashboards and history you need (promtool tsdb dump, Grafana's JSON "
        "export); apply",
        _volumes_on,
    ),
    Locked(
        "aws.region",
        _on_aws(lambda aws: aws.region),
        "delete the RDS instance, the secrets and the KMS key and create them empty in the "
        "other region",
        "create a stack for the new region, restore an RDS snapshot copied there, move the "
        "traffic, then destroy this one",
    ),
    Locked(
        "aws.kmsKeyArn",
        _on_aws(lambda aws: aws.kms_key_arn or "created"),
        "replace the RDS instance (its encryption key cannot change) and re-encrypt the secrets",
        "snapshot the instance, copy the snapshot with the new key, restore it as the new "
        "instance, then apply",
    ),
    Locked(
        "azure.subscriptionId",
        _on_azure(lambda azure: azure.subscription_id),
        "delete the Flexible Server and the Key Vault and create them empty elsewhere",
        "create a stack for the new subscription, restore a backup into it, then destroy this one",
    ),
    Locked(
        "azure.resourceGroup",
        _on_azure(lambda azure: azure.resource_group),
        "delete the Flexible Server and the Key Vault and create them empty in the other group",
        "move the resources with `az resource move` and `pulumi import`, or create a new stack "
        "and restore a backup into it",
    ),
    Locked(
        "azure.location",
        _on_azure(lambda azure: azure.location),
        "delete the Flexible Server and the Key Vault and create them empty in the other region",
        "create a stack for the new region, restore a geo-redundant backup there, then destroy "
        "this one",
    ),
    Locked(
        "azure.keyVault.name",
        _on_azure(lambda azure: azure.key_vault_name),
        "delete the Key Vault with the credentials operators wrote into it (soft-deleted, "
        "recoverable for its retention days) and create it empty",
        "copy every secret into the new vault first (az keyvault secret backup/restore), then "
        "apply",
    ),
    Locked(
        "azure.database.adminLogin",
        _on_azure(lambda azure: azure.database.admin_login if azure.database else None),
        "replace the Flexible Server (its administrator login cannot change)",
        "keep the login: add another role with `CREATE ROLE` instead",
    ),
)
"""Every setting whose change replaces or deletes data (`tests/app/test_update_safety.py`
finds each such change in the table and checks it is one of these)."""


def lock_values(settings: Settings) -> dict[str, str]:
    """What `webapp:dataLock` must hold for these settings."""
    values = {entry.key: entry.value(settings) for entry in LOCKED}
    return {key: value for key, value in values.items() if value is not None}


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return _flag(value)
    return str(value)


def lock_problems(
    settings: Settings, recorded: Mapping[str, Any], *, accepted: tuple[str, ...] = ()
) -> tuple[list[str], list[str]]:
    """(changes that would lose data, out-of-date entries) between the lock and the config.

    `accepted` keys are changes whose procedure was followed (`make lock ACCEPT=<key>`)."""
    stack, current = settings.stack, lock_values(settings)
    old = {str(key): _shown(value) for key, value in recorded.items()}
    known = {entry.key for entry in LOCKED}
    losing: list[str] = []
    stale = [
        f"webapp:{LOCK_KEY}.{key}: unknown; the lock records {', '.join(sorted(known))}"
        for key in sorted(old.keys() - known)
    ]
    relock = f"make lock STACK={stack}"
    protected = (
        " This stack protects its data, so the preview then names the resources to `pulumi state "
        "unprotect` first."
        if settings.protect
        else ""
    )
    for entry in LOCKED:
        before, after = old.get(entry.key), current.get(entry.key)
        if before == after:
            continue
        if before is None or after is None or entry.safe(before, after):
            now = "not recorded" if before is None else repr(before)
            stale.append(
                f"webapp:{LOCK_KEY}.{entry.key}: {now}, the config makes it {after!r} (a change "
                f"that loses no data); record it with `{relock}`"
            )
        elif entry.key not in accepted:
            losing.append(
                f"webapp:{entry.key}: {before!r} -> {after!r} would {entry.loses}. Safe "
                f"procedure: {entry.procedure}. Then record it: `{relock} ACCEPT={entry.key}` "
                f"(webapp:{LOCK_KEY} holds {before!r}).{protected}"
            )
    return losing, stale


def check_lock(
    settings: Settings, recorded: Optional[Mapping[str, Any]], problems: list[str]
) -> None:
    """Refuse a config that differs from the stack's data lock, or a stack without one."""
    if recorded is None:
        problems.append(
            f"webapp:{LOCK_KEY}: missing; it records the settings whose change would replace or "
            f"delete data ({', '.join(entry.key for entry in LOCKED)}). Write it with "
            f"`make lock STACK={settings.stack}` and commit the stack file"
        )
        return
    losing, stale = lock_problems(settings, recorded)
    problems.extend(losing + stale)
