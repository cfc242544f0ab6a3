"""The data lock's entries (`Locked`) and the settings whose change replaces or deletes a
resource holding data (`REPLACING`): each with how its value is read, what a change loses and the
safe procedure. `components.config.volumes` adds the data services' versions and the volume
sizes; `components.config.lock` joins them into `LOCKED` and compares them with the record.

Pure module. What belongs here is derived, not listed by hand: `tests/app/test_lock_complete.py`
changes every settings field, runs the program and fails for a change that replaces or deletes a
resource holding data, or changes the version a data service runs on its data, unless an entry
refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from components.config.aws import AwsSettings
from components.config.azure import AzureSettings
from components.config.settings import DataServiceSettings, Settings


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


def flag(value: bool) -> str:
    return "true" if value else "false"


def _class(service: DataServiceSettings) -> Optional[str]:
    return (service.storage_class or "default") if service.persistence else None


def _volumes_on(old: str, new: str) -> bool:
    return old == "false" and new == "true"


def on_aws(read: Callable[[AwsSettings], Optional[str]]) -> Callable[[Settings], Optional[str]]:
    """A setting of `webapp:aws`, locked only on a stack that runs on AWS."""
    return lambda settings: read(settings.aws) if settings.cloud == "aws" and settings.aws else None


def on_azure(read: Callable[[AzureSettings], Optional[str]]) -> Callable[[Settings], Optional[str]]:
    """A setting of `webapp:azure`, locked only on a stack that runs on Azure."""
    return lambda settings: (
        read(settings.azure) if settings.cloud == "azure" and settings.azure else None
    )


def in_cluster(read: Callable[[Settings], str]) -> Callable[[Settings], Optional[str]]:
    return lambda settings: read(settings) if settings.database.mode == "in-cluster" else None


def monitoring(read: Callable[[Settings], str]) -> Callable[[Settings], Optional[str]]:
    """A monitoring setting with data behind it: monitoring on and installed by this program."""
    return lambda settings: (
        read(settings)
        if settings.monitoring.enabled and settings.addons.monitoring_stack == "install"
        else None
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


REPLACING: tuple[Locked, ...] = (
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
        "namespaceProvided",
        lambda settings: flag(settings.namespace_provided),
        "delete the program's Namespace with every volume in it (false -> true: the program stops "
        "declaring it), or try to create a namespace that already exists (true -> false)",
        "a stack keeps who owns its namespace: create a new stack with the other setting, restore "
        "a backup into it, then destroy this one",
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
        lambda settings: flag(settings.redis.persistence),
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
        lambda settings: flag(settings.nats.persistence),
        "recreate NATS without its volumes (JetStream is off: they hold no messages today)",
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
        lambda settings: flag(settings.monitoring.enabled),
        "delete the monitoring namespace with Prometheus' history and Grafana's state",
        "export the dashboards and history you need (promtool tsdb dump, Grafana's JSON "
        "export); apply",
        _volumes_on,
    ),
    Locked(
        "aws.region",
        on_aws(lambda aws: aws.region),
        "delete the RDS instance, the secrets and the KMS key and create them empty in the "
        "other region",
        "create a stack for the new region, restore an RDS snapshot copied there, move the "
        "traffic, then destroy this one",
    ),
    Locked(
        "aws.kmsKeyArn",
        on_aws(lambda aws: aws.kms_key_arn or "created"),
        "replace the RDS instance (its encryption key cannot change) and re-encrypt the secrets",
        "snapshot the instance, copy the snapshot with the new key, restore it as the new "
        "instance, then apply",
    ),
    Locked(
        "azure.subscriptionId",
        on_azure(lambda azure: azure.subscription_id),
        "delete the Flexible Server and the Key Vault and create them empty elsewhere",
        "create a stack for the new subscription, restore a backup into it, then destroy this one",
    ),
    Locked(
        "azure.resourceGroup",
        on_azure(lambda azure: azure.resource_group),
        "delete the Flexible Server and the Key Vault and create them empty in the other group",
        "move the resources with `az resource move` and `pulumi import`, or create a new stack "
        "and restore a backup into it",
    ),
    Locked(
        "azure.location",
        on_azure(lambda azure: azure.location),
        "delete the Flexible Server and the Key Vault and create them empty in the other region",
        "create a stack for the new region, restore a geo-redundant backup there, then destroy "
        "this one",
    ),
    Locked(
        "azure.keyVault.name",
        on_azure(lambda azure: azure.key_vault_name),
        "delete the Key Vault with the credentials operators wrote into it (soft-deleted, "
        "recoverable for its retention days) and create it empty",
        "copy every secret into the new vault first (az keyvault secret backup/restore), then "
        "apply",
    ),
    Locked(
        "azure.database.adminLogin",
        on_azure(lambda azure: azure.database.admin_login if azure.database else None),
        "replace the Flexible Server (its administrator login cannot change)",
        "keep the login: add another role with `CREATE ROLE` instead",
    ),
    Locked(
        "database.username",
        lambda settings: settings.database.username,
        "replace the RDS instance (its master username cannot change), or point the in-cluster "
        "services at a role PostgreSQL never created (it creates its user only on an empty "
        "volume)",
        "keep the username: create the new role next to it (`CREATE ROLE ... LOGIN`, `GRANT`) "
        "and move the services to it outside this setting",
    ),
    Locked(
        "monitoring.namespace",
        monitoring(lambda settings: settings.monitoring.namespace),
        "delete the monitoring namespace with Prometheus' history and Grafana's state, and "
        "create it empty under the new name",
        "export the dashboards and history you need (promtool tsdb dump, Grafana's JSON "
        "export); apply",
    ),
    Locked(
        "addons.monitoringStack",
        lambda settings: settings.addons.monitoring_stack if settings.monitoring.enabled else None,
        "delete the monitoring stack this program installed, with its namespace, Prometheus' "
        "history and Grafana's state",
        "export the dashboards and history you need, install the replacement stack, then apply",
        lambda old, new: old == "present" and new == "install",
    ),
)
"""The settings whose change replaces or deletes a resource holding data."""
