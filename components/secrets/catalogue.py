"""The Kubernetes Secrets the workloads read: names, keys and rotation sensitivity.

This is the contract between the workloads and whichever secret store delivers the values:
in `cloud: none` the `GeneratedSecrets` component writes them from pulumi-random; the AWS and Azure
stores (issues 3 and 4) deliver the *same* names and keys, so no service code path differs by cloud.
Categories follow seed 000 (database, redis, auth/jwt, oauth, email/smtp, grafana admin) plus the
broadcaster webhook of seed 001.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from components.config import credentials
from components.config.catalogue import NATS_SECRET, NATS_USERS

Owner = Literal["program", "operator"]
"""Who sets (and rotates) a Secret's values:

- `program`: this program generates them (pulumi-random) or takes them from config; it writes them
  on every `pulumi up`, so they rotate through Pulumi (replace the random resource, or change the
  config), never by hand in the store.
- `operator`: third-party credentials (`webapp:credentials`): with `store`, operators write and
  rotate them in the cloud store and the program never writes a value; otherwise the program writes
  what config gives (or, outside production, placeholders).

One exception inside `webapp-database`: with RDS (`cloud: aws`, `database.mode: managed`) the
username and password are RDS's own managed master secret, rotated by RDS; the program writes only
the address.
"""


@dataclass(frozen=True, kw_only=True)
class SecretSpec:
    """One Kubernetes Secret. `refresh` is how often a cloud store re-reads it (seed 000: 15 min to
    24 h).
    """

    name: str
    category: str
    keys: tuple[str, ...]
    refresh: str
    description: str
    owner: Owner
    """Who sets and rotates the values (see `Owner`)."""
    public_keys: tuple[str, ...] = ()
    """Keys that are coordinates, not credentials (a database host): `make render` shows their
    values. The Secret itself stays a Pulumi secret whole (the Kubernetes SDK wraps stringData)."""
    credential_group: str = ""
    """For `operator` Secrets: the `webapp:credentials.<group>` that says where the values come
    from."""


DATABASE = SecretSpec(
    name="webapp-database",
    category="database",
    refresh="15m",
    # Seed 002 shape (host, port, dbname, username, password) plus the two URL forms the services
    # read.
    keys=("host", "port", "dbname", "username", "password", "connection-string", "url"),
    description="Application database credentials and connection strings",
    owner="program",
    public_keys=("host", "port", "dbname"),
)
REDIS = SecretSpec(
    name="webapp-redis",
    category="redis",
    refresh="1h",
    # `password` and its URLs: the generation clients use; `password-a`/`-b`: each generation's,
    # both accepted by the server's ACL user (`config.rotation`).
    keys=("password", "connection-string", "url", "password-a", "password-b"),
    description="Redis password and connection strings",
    owner="program",
)
JWT = SecretSpec(
    name="webapp-jwt",
    category="auth",
    refresh="24h",
    # `secret-key` signs (the generation in use); a token signed with either generation's key
    # verifies (`config.rotation`).
    keys=("secret-key", "verification-key-a", "verification-key-b"),
    description="JWT signing key shared by api and auth, and the verification keys",
    owner="program",
)
OAUTH = SecretSpec(
    name="webapp-oauth",
    category="oauth",
    refresh="24h",
    keys=credentials.KEYS["oauth"],
    description="OAuth client credentials for Google, GitHub and Microsoft",
    owner="operator",
    credential_group="oauth",
)
SMTP = SecretSpec(
    name="webapp-smtp",
    category="email",
    refresh="24h",
    keys=credentials.KEYS["smtp"],
    description="SMTP credentials for e-mail notifications",
    owner="operator",
    credential_group="smtp",
)
ALERTING = SecretSpec(
    name="webapp-alerting",
    category="alerting",
    refresh="1h",
    keys=credentials.KEYS["alerting"],
    description="Alert receivers' endpoints per severity (Slack or webhook URL, PagerDuty key)",
    owner="operator",
    credential_group="alerting",
)
NATS = SecretSpec(
    name=NATS_SECRET,
    category="nats",
    refresh="1h",
    # One user per service that calls NATS (the password clients use, and its URL carrying it;
    # each generation's password, the server's two users: `config.rotation`). Nothing for the
    # cluster's routes: they authenticate by certificate (`data.nats_tls`).
    keys=(
        *(f"{user}-password" for user in NATS_USERS),
        *(f"{user}-password-{generation}" for user in NATS_USERS for generation in "ab"),
        *(f"{user}-url" for user in NATS_USERS),
    ),
    description="NATS user passwords and URLs",
    owner="program",
)
BROADCASTER = SecretSpec(
    name="webapp-broadcaster",
    category="broadcaster",
    refresh="1h",
    keys=("webhook-url",),
    description="Webhook URL the broadcaster posts NATS events to",
    owner="program",
)
GRAFANA = SecretSpec(
    name="webapp-grafana-admin",
    category="grafana",
    refresh="24h",
    keys=("admin-user", "admin-password"),
    description="Grafana admin credentials (lives in the monitoring namespace)",
    owner="program",
)

RABBITMQ = SecretSpec(
    name="webapp-rabbitmq",
    category="rabbitmq",
    refresh="1h",
    # The operator reads `default_user.conf` (its `secretBackend.externalSecret` contract); the
    # clients read the URL.
    keys=("username", "password", "default_user.conf", "url"),
    description="RabbitMQ default user, its rabbitmq.conf fragment and the AMQP URL",
    owner="program",
)
ELASTICSEARCH = SecretSpec(
    name="webapp-elasticsearch",
    category="elasticsearch",
    refresh="1h",
    # ECK's user-provided file realm reads username, password and roles.
    keys=("username", "password", "roles", "url"),
    description="Elasticsearch application user (ECK file realm) and its URL",
    owner="program",
)
DATABASE_APP = SecretSpec(
    name="webapp-database-app",
    category="database-app",
    refresh="15m",
    # The keys of `webapp-database`, for the application's login role of the generation clients
    # use (`data.database_roles`): api and auth read this one, never the admin's.
    keys=DATABASE.keys,
    description="Application database login (the generation in use) and connection strings",
    owner="program",
    public_keys=DATABASE.public_keys,
)
"""Written by the program on every cloud (`data.database_roles`), after the Job that sets the
roles, never delivered by the store: see that module."""
DATABASE_ROLES = SecretSpec(
    name="webapp-database-roles",
    category="database-roles",
    refresh="15m",
    # Each generation's SCRAM-SHA-256 verifier (never a password), read by the roles Job only.
    keys=("verifier-a", "verifier-b"),
    description="SCRAM verifiers of the application's database login roles (the roles Job's)",
    owner="program",
)
OPTIONAL_SECRETS: tuple[SecretSpec, ...] = (RABBITMQ, ELASTICSEARCH)
"""Delivered only where the stack runs the service (`app_secrets`)."""

APP_SECRETS: tuple[SecretSpec, ...] = (
    DATABASE,
    REDIS,
    NATS,
    JWT,
    OAUTH,
    SMTP,
    BROADCASTER,
    ALERTING,
)
PROGRAM_SECRETS: tuple[SecretSpec, ...] = (DATABASE_APP, DATABASE_ROLES)
"""Catalogued Secrets no store delivers: the program writes them itself."""
ALL_SECRETS: tuple[SecretSpec, ...] = APP_SECRETS + OPTIONAL_SECRETS + (GRAFANA,) + PROGRAM_SECRETS


def app_secrets(rabbitmq: bool = False, elasticsearch: bool = False) -> tuple[SecretSpec, ...]:
    """The Secrets delivered to the app namespace: the catalogue's, and those of the optional
    services the stack runs."""
    extra = [spec for spec, on in ((RABBITMQ, rabbitmq), (ELASTICSEARCH, elasticsearch)) if on]
    return APP_SECRETS + tuple(extra)


@dataclass(frozen=True, kw_only=True)
class SecretRef:
    """An environment variable read from a catalogued Secret key (checked at construction)."""

    secret: SecretSpec
    key: str

    def __post_init__(self) -> None:
        if self.key not in self.secret.keys:
            raise ValueError(
                f"secret {self.secret.name} has no key {self.key!r}; keys: {self.secret.keys}"
            )


BY_NAME: dict[str, SecretSpec] = {spec.name: spec for spec in ALL_SECRETS}


def ref(secret: str, key: str) -> SecretRef:
    """The reference to key `key` of the catalogued Secret named `secret` (checked)."""
    if secret not in BY_NAME:
        raise ValueError(f"no catalogued Secret {secret!r}; known: {sorted(BY_NAME)}")
    return SecretRef(secret=BY_NAME[secret], key=key)
