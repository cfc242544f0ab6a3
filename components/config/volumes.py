"""The data lock's versions and sizes: the major version each data service runs on its data (a
server cannot open what another major wrote, or at least not an older one what a newer wrote),
and the size of every volume, so a shrink is refused before the API server, RDS or Azure refuse
it (growing only asks for `make lock`). Pure module; `components.config.lock` joins these to
`locked.REPLACING`.
"""

from __future__ import annotations

import re
from typing import Callable, Optional

from components.config import quantities as q
from components.config.locked import Locked, in_cluster, monitoring, on_aws, on_azure
from components.config.settings import BrokerSettings, DataServiceSettings, Settings


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


def _broker_size(broker: str) -> Callable[[Settings], Optional[str]]:
    def read(settings: Settings) -> Optional[str]:
        found: BrokerSettings = getattr(settings, broker)
        return found.storage_size if found.enabled else None

    return read


def _broker_major(broker: str) -> Callable[[Settings], Optional[str]]:
    """A broker's major version (its image or version), where it runs."""

    def read(settings: Settings) -> Optional[str]:
        found: BrokerSettings = getattr(settings, broker)
        return _major(found.version) if found.enabled else None

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


VERSIONS: tuple[Locked, ...] = (
    Locked(
        "database.image",
        in_cluster(lambda settings: _major(settings.database.image)),
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
        "rabbitmq.version",
        _broker_major("rabbitmq"),
        "start an older RabbitMQ on the node data a newer one wrote, which it refuses",
        "an older major cannot read the data: drain the queues, delete the RabbitmqCluster and "
        "its claims, apply, republish",
        _newer,
    ),
    Locked(
        "elasticsearch.version",
        _broker_major("elasticsearch"),
        "start an older Elasticsearch on indices a newer one wrote, which it refuses (ECK "
        "rejects the downgrade)",
        "snapshot the indices, delete the Elasticsearch and its claims, apply, restore the "
        "snapshot",
        _newer,
    ),
    Locked(
        "aws.database.engineVersion",
        on_aws(lambda aws: _major(aws.rds.engine_version)),
        "move the RDS instance to another PostgreSQL major version, which cannot be undone "
        "(RDS has no downgrade)",
        "snapshot the instance (`aws rds create-db-snapshot`), check that its extensions exist "
        "in the new major, keep aws.database.applyImmediately true for that up (a held upgrade "
        "keeps the old parameter group in use and its deletion fails), then record it; the up "
        "creates the new family's parameter group and upgrades the instance with it in one "
        "call (README \"Upgrading PostgreSQL's major version\")",
    ),
    Locked(
        "azure.database.version",
        on_azure(lambda azure: _major(azure.database.version) if azure.database else None),
        "move the Flexible Server to another PostgreSQL major version, which cannot be undone",
        "take a backup, run the in-place major version upgrade (`az postgres flexible-server "
        "upgrade`), then record it",
    ),
)
"""Where a data service's version is set: `safe` says which moves it survives."""

SIZES: tuple[Locked, ...] = (
    Locked(
        "database.storageSize",
        in_cluster(lambda settings: settings.database.storage_size),
        SHRINK,
        _shrink_volumes("postgres"),
        _grows,
    ),
    Locked(
        "database.backup.storageSize",
        in_cluster(lambda settings: settings.database.backup.storage_size),
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
        monitoring(lambda settings: settings.monitoring.storage_size),
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
        on_aws(lambda aws: str(aws.rds.allocated_storage)),
        "shrink the RDS instance's storage, which RDS refuses (storage can only grow)",
        "create a smaller instance and copy the data into it (pg_dump | pg_restore)",
        _grows,
    ),
    Locked(
        "azure.database.storageGb",
        on_azure(lambda azure: str(azure.database.storage_gb) if azure.database else None),
        "shrink the Flexible Server's storage, which Azure refuses (storage can only grow)",
        "create a smaller server and copy the data into it (pg_dump | pg_restore)",
        _grows,
    ),
)
"""Every volume's size: `safe` lets it grow."""
