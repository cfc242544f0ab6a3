"""The settings of the data lock (`LOCKED`): each with how its value is read, what a change
loses and the safe procedure; `components.config.lock` compares them with the recorded lock.

Pure module. What belongs here is derived, not listed by hand: `tests/app/test_lock_complete.py`
changes every settings field, runs the program and fails for a change that replaces or deletes a
resource holding data, or changes the version a data service runs on its data, unless an entry
here refuses it. Sizes are recorded too, so a volume that would shrink is refused before the API
server refuses it (growing only asks for `make lock`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

from components.config import quantities as q
from components.config.aws import AwsSettings
from components.config.azure import AzureSettings
from components.config.settings import BrokerSettings, DataServiceSettings, Settings


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


def _major(image_or_version: str) -> str:
    """The major version of an image's tag or of a version (`postgres:16.10-alpine` -> `16`);
    the whole reference when it names none (a digest, a tag without digits)."""
    last = image_or_version.split("@", 1)[0].rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else last
    digits = re.match(r"v?(\d+)", tag)
    return digits.group(1) if digits else image_or_version


def _newer(old: str, new: str) -> bool:
    """A newer major version reads what an older one wrote; never the other way round."""
    return old.isdigit() and new.isdigit() and int(new) > int(old)


def _size(value: str) -> int:
    return int(value) if value.isdigit() else q.memory_bytes(value)


def _grows(old: str, new: str) -> bool:
    """A volume may grow (claims, RDS and Flexible Server storage expand in place), never shrink."""
    try:
        return _size(new) >= _size(old)
    except ValueError:
        return False


def _in_cluster(read: Callable[[Settings], str]) -> Callable[[Settings], Optional[str]]:
    return lambda settings: read(settings) if settings.database.mode == "in-cluster" else None


def _persistent(service: str) -> Callable[[Settings], Optional[str]]:
    """A data service's image major, where it has volumes (without, nothing is read back)."""

    def read(settings: Settings) -> Optional[str]:
        data: DataServiceSettings = getattr(settings, service)
        return _major(data.image) if data.persistence else None

    return read


def _persistent_size(service: str) -> Callable[[Settings], Optional[str]]:
    def read(settings: Settings) -> Optional[str]:
        data: DataServiceSettings = getattr(settings, service)
        return data.storage_size if data.persistence else None

    return read


def _monitoring(read: Callable[[Settings], str]) -> Callable[[Settings], Optional[str]]:
    """A monitoring setting with data behind it: monitoring on and installed by this program."""
    return lambda settings: (
        read(settings)
        if settings.monitoring.enabled and settings.addons.monitoring_stack == "install"
        else None
    )


def _broker_size(broker: str) -> Callable[[Settings], Optional[str]]:
    def read(settings: Settings) -> Optional[str]:
        found: BrokerSettings = getattr(settings, broker)
        return found.storage_size if found.enabled else None

    return read


SHRINK = (
    "shrink a volume holding data, which the API server refuses (a claim's request can only "
    "grow), leaving the stack failing at every update"
)


def _shrink_volumes(service: str) -> str:
    return (
        f"a volume cannot shrink: back up {service}; delete the StatefulSet and its claims "
        f"(`kubectl delete statefulset {service}`, `kubectl delete pvc -l "
        f"app.kubernetes.io/name={service}`); apply; restore"
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
        lambda settings: flag(settings.monitoring.enabled),
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
        "database.image",
        _in_cluster(lambda settings: _major(settings.database.image)),
        "start a PostgreSQL of another major version on the existing data directory, which it "
        "refuses to open (the pod crash-loops)",
        "dump the database (`kubectl create job --from=cronjob/postgres-backup`), apply with "
        "`ACCEPT=database.image` after deleting the StatefulSet and its claims, then restore the "
        "dump into the new version (or run pg_upgrade yourself)",
    ),
    Locked(
        "redis.image",
        _persistent("redis"),
        "start an older Redis on files a newer one wrote, which it cannot load",
        "an older major cannot read the data: export it (redis-cli --rdb) or let it expire, "
        "delete the claim, apply, restore what you need",
        _newer,
    ),
    Locked(
        "nats.image",
        _persistent("nats"),
        "start an older NATS server on JetStream files a newer one wrote",
        "back up the streams (`nats stream backup`), delete the claims, apply, restore them",
        _newer,
    ),
    Locked(
        "aws.database.engineVersion",
        _on_aws(lambda aws: _major(aws.rds.engine_version)),
        "move the RDS instance to another PostgreSQL major version, which this program does "
        "not allow in place (allowMajorVersionUpgrade is off) and which cannot be undone",
        "snapshot the instance, upgrade its major version with an RDS blue/green deployment "
        "(or `aws rds modify-db-instance --allow-major-version-upgrade`), then record it",
    ),
    Locked(
        "azure.database.version",
        _on_azure(lambda azure: _major(azure.database.version) if azure.database else None),
        "move the Flexible Server to another PostgreSQL major version, which cannot be undone",
        "take a backup, run the in-place major version upgrade (`az postgres flexible-server "
        "upgrade`), then record it",
    ),
    Locked(
        "monitoring.namespace",
        _monitoring(lambda settings: settings.monitoring.namespace),
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
    Locked(
        "database.storageSize",
        _in_cluster(lambda settings: settings.database.storage_size),
        SHRINK,
        _shrink_volumes("postgres"),
        _grows,
    ),
    Locked(
        "database.backup.storageSize",
        _in_cluster(lambda settings: settings.database.backup.storage_size),
        SHRINK,
        "copy the dumps you keep elsewhere, delete the postgres-backups claim, apply",
        _grows,
    ),
    Locked(
        "redis.storageSize", _persistent_size("redis"), SHRINK, _shrink_volumes("redis"), _grows
    ),
    Locked("nats.storageSize", _persistent_size("nats"), SHRINK, _shrink_volumes("nats"), _grows),
    Locked(
        "monitoring.storageSize",
        _monitoring(lambda settings: settings.monitoring.storage_size),
        SHRINK,
        _shrink_volumes("prometheus"),
        _grows,
    ),
    Locked(
        "rabbitmq.storageSize",
        _broker_size("rabbitmq"),
        f"{SHRINK} (the RabbitMQ operator refuses it too)",
        "drain the queues, delete the RabbitmqCluster and its claims, apply, republish",
        _grows,
    ),
    Locked(
        "elasticsearch.storageSize",
        _broker_size("elasticsearch"),
        f"{SHRINK} (ECK refuses it too)",
        "snapshot the indices, delete the Elasticsearch and its claims, apply, restore",
        _grows,
    ),
    Locked(
        "aws.database.allocatedStorage",
        _on_aws(lambda aws: str(aws.rds.allocated_storage)),
        "shrink the RDS instance's storage, which RDS refuses (storage can only grow)",
        "create a smaller instance and copy the data into it (pg_dump | pg_restore)",
        _grows,
    ),
    Locked(
        "azure.database.storageGb",
        _on_azure(lambda azure: str(azure.database.storage_gb) if azure.database else None),
        "shrink the Flexible Server's storage, which Azure refuses (storage can only grow)",
        "create a smaller server and copy the data into it (pg_dump | pg_restore)",
        _grows,
    ),
)
"""Every setting whose change replaces or deletes data (`tests/app/test_update_safety.py`
finds each such change in the table and checks it is one of these)."""
