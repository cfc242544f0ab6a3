"""The service catalogue: every application service and its fixed contract (pure data).

This is the contract of seed 000/001 that config may not change: workload names, ports, health
paths, public routes, who calls whom, the environment each service reads and which of it comes
from the catalogued Secrets. Everything else derives from it: the `webapp:services.<name>` config
keys and their defaults, the list of workloads that read the secret store (and so need an Azure
federated credential), the routes of the Gateway and of the frontend's nginx, and the
NetworkPolicies on both sides of every connection (from `calls`).

Adding a service is one `AppService(...)` entry in `CATALOGUE`.

Environment values are templates over the stack: `{origin}` (https://<domain>), `{port}`,
`{metrics_port}`, `{log_level}`, `{log_level_lower}`, `{smtp_host}`, `{aspnetcore_environment}`
(Development/Staging/Production) and `{node_env}`. Secret environment names a catalogued Secret and
key (`secrets/catalogue.py`); the workload reads it by reference. A service that calls `nats` is a
NATS user with exactly the `nats` permissions listed here, and reads its own URL (with its
credentials) from `webapp-nats`.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Literal, Mapping, Optional

Runtime = Literal["nginx", "dotnet", "node"]

# Public stand-in images that answer the application's ports and health paths on a plain cluster
# (traefik/whoami answers 200 on every path; the port comes from WHOAMI_PORT_NUMBER). Replace them
# by setting `webapp:services.<name>.image`.
STANDIN_IMAGE = "traefik/whoami:v1.11.0"
FRONTEND_IMAGE = "nginxinc/nginx-unprivileged:1.29-alpine"

# What every service of a runtime reads, before its own `env`.
RUNTIME_ENV: Mapping[Runtime, Mapping[str, str]] = {
    "nginx": {},
    "dotnet": {
        "ASPNETCORE_ENVIRONMENT": "{aspnetcore_environment}",
        "ASPNETCORE_URLS": "http://+:{port}",
        "Logging__LogLevel__Default": "{log_level}",
    },
    "node": {
        "PORT": "{port}",
        "NODE_ENV": "{node_env}",
        "LOG_LEVEL": "{log_level_lower}",
        "CORS_ORIGIN": "{origin}",
    },
}
ENV_FIELDS = (
    "origin",
    "port",
    "metrics_port",
    "log_level",
    "log_level_lower",
    "smtp_host",
    "aspnetcore_environment",
    "node_env",
)
ENV_FIELD_WORDS: Mapping[str, str] = {
    "origin": "https://<webapp:domain>",
    "log_level": "<webapp:logLevel>",
    "log_level_lower": "<webapp:logLevel in lower case>",
    "smtp_host": "<webapp:smtpHost>",
    "aspnetcore_environment": "<Development, Staging or Production from webapp:environment>",
    "node_env": "<development or production from webapp:environment>",
}
"""What each stack-wide template field is, in words: a refusal shows a template through these
(and the service's own ports as numbers), never as a raw `{placeholder}`."""


@dataclass(frozen=True, kw_only=True)
class Probes:
    """HTTP paths for the three probes (all on the main port)."""

    startup: str
    liveness: str
    readiness: str


NATS_SECRET = "webapp-nats"
NATS_URL_VARIABLE: Mapping[Runtime, str] = {
    "nginx": "NATS_URL",
    "dotnet": "Nats__Url",
    "node": "NATS_URL",
}
"""The variable a runtime reads the NATS URL from."""


@dataclass(frozen=True, kw_only=True)
class NatsPermissions:
    """What a service's NATS user may do (nats-server `permissions`); anything else is refused.

    A subscribe entry may name a queue group after the subject (`todos.events broadcaster-workers`):
    the user may then subscribe only in that group.
    """

    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class SecretEnv:
    """An environment variable read from a catalogued Secret's key, by reference."""

    secret: str
    """The Secret's name (`webapp-database`, ...)."""
    key: str


@dataclass(frozen=True, kw_only=True)
class AppService:
    """Fixed facts of one application service (what config may not change)."""

    name: str
    component: str
    """`app.kubernetes.io/component`."""
    runtime: Runtime
    port: int
    probes: Probes
    metrics_port: Optional[int] = None
    route: Optional[str] = None
    """Public path prefix; None for internal services."""
    websocket: bool = False
    calls: tuple[str, ...] = ()
    """In-namespace services it connects to (app services or postgres/redis/nats)."""
    internet_ports: tuple[int, ...] = ()
    """Ports it may reach outside the cluster (SMTP, OAuth providers, webhooks)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Plain environment besides the runtime's (templates, see the module docstring)."""
    secret_env: Mapping[str, SecretEnv] = field(default_factory=dict)
    nats: Optional[NatsPermissions] = None
    """Its NATS user's permissions; set exactly when it calls `nats`."""
    default_image: str = STANDIN_IMAGE
    production_max_replicas: Optional[int] = None
    """The production profile's autoscaling ceiling, where it differs from the profile's."""

    @property
    def all_secret_env(self) -> dict[str, SecretEnv]:
        """`secret_env` plus, for a NATS user, its URL with its credentials."""
        found = dict(self.secret_env)
        if self.nats is not None:
            found[NATS_URL_VARIABLE[self.runtime]] = SecretEnv(
                secret=NATS_SECRET, key=f"{self.name}-url"
            )
        return found

    @property
    def reads_secrets(self) -> bool:
        return bool(self.all_secret_env)

    def __post_init__(self) -> None:
        if ("nats" in self.calls) != (self.nats is not None):
            raise ValueError(f"{self.name}: set `nats` permissions exactly when it calls nats")
        for variable, template in {**RUNTIME_ENV[self.runtime], **self.env}.items():
            unknown = {used for _, used, _, _ in string.Formatter().parse(template) if used} - set(
                ENV_FIELDS
            )
            if unknown:
                raise ValueError(
                    f"{self.name}: env {variable} uses unknown fields {sorted(unknown)}; known: "
                    f"{ENV_FIELDS}"
                )


def _database(*keys: tuple[str, str]) -> dict[str, SecretEnv]:
    # The application's login role (`data.database_roles`), never the admin (`webapp-database`).
    return {variable: SecretEnv(secret="webapp-database-app", key=key) for variable, key in keys}


def _oauth() -> dict[str, SecretEnv]:
    return {
        f"{provider.upper()}_{part.upper().replace('-', '_')}": SecretEnv(
            secret="webapp-oauth", key=f"{provider}-{part}"
        )
        for provider in ("google", "github", "microsoft")
        for part in ("client-id", "client-secret")
    }


HEALTHZ = Probes(startup="/healthz", liveness="/healthz", readiness="/healthz")
HEALTH = Probes(startup="/health", liveness="/health", readiness="/health")

CATALOGUE: tuple[AppService, ...] = (
    AppService(
        name="frontend",
        component="web",
        runtime="nginx",
        port=8080,
        route="/",
        probes=HEALTHZ,
        calls=("api", "websocket", "auth"),
        default_image=FRONTEND_IMAGE,
    ),
    AppService(
        name="api",
        component="backend",
        runtime="dotnet",
        port=8080,
        metrics_port=9091,
        route="/api",
        probes=Probes(
            startup="/health/startup", liveness="/health/live", readiness="/health/ready"
        ),
        calls=("postgres", "redis", "nats"),
        # Publishes the todo events (seed 001); replies come to its inbox.
        nats=NatsPermissions(publish=("todos.events",), subscribe=("_INBOX.>",)),
        internet_ports=(587,),
        production_max_replicas=15,
        env={
            "Metrics__Port": "{metrics_port}",
            "Email__SmtpHost": "{smtp_host}",
            "Cors__AllowedOrigins": "{origin}",
        },
        secret_env={
            **_database(
                ("ConnectionStrings__DefaultConnection", "connection-string"),
                ("Database__Host", "host"),
                ("Database__Port", "port"),
                ("Database__Name", "dbname"),
                ("Database__Username", "username"),
                ("Database__Password", "password"),
            ),
            "Redis__ConnectionString": SecretEnv(secret="webapp-redis", key="connection-string"),
            "JwtSettings__SecretKey": SecretEnv(secret="webapp-jwt", key="secret-key"),
            # Tokens signed with either generation's key verify (README: Rotation).
            "JwtSettings__VerificationKeys__0": SecretEnv(
                secret="webapp-jwt", key="verification-key-a"
            ),
            "JwtSettings__VerificationKeys__1": SecretEnv(
                secret="webapp-jwt", key="verification-key-b"
            ),
            "Email__SmtpUsername": SecretEnv(secret="webapp-smtp", key="username"),
            "Email__SmtpPassword": SecretEnv(secret="webapp-smtp", key="password"),
        },
    ),
    AppService(
        name="websocket",
        component="realtime",
        runtime="node",
        port=3002,
        route="/ws",
        websocket=True,
        probes=HEALTH,
        calls=("redis", "nats"),
        # Pushes the todo events to browsers: reads them, publishes nothing.
        nats=NatsPermissions(subscribe=("todos.events", "_INBOX.>")),
        # Socket.io behind a proxy: websocket transport first, polling as fallback, sticky-free.
        env={
            "SOCKET_PATH": "/ws/socket.io",
            "SOCKET_TRANSPORTS": "websocket,polling",
            "TRUST_PROXY": "true",
        },
        secret_env={"REDIS_URL": SecretEnv(secret="webapp-redis", key="url")},
    ),
    AppService(
        name="auth",
        component="auth",
        runtime="node",
        port=3003,
        route="/auth",
        probes=HEALTH,
        calls=("postgres", "redis"),
        internet_ports=(443,),
        env={"PUBLIC_URL": "{origin}", "OAUTH_CALLBACK_BASE": "{origin}/auth"},
        secret_env={
            "JWT_SECRET": SecretEnv(secret="webapp-jwt", key="secret-key"),
            "JWT_VERIFICATION_KEY_A": SecretEnv(secret="webapp-jwt", key="verification-key-a"),
            "JWT_VERIFICATION_KEY_B": SecretEnv(secret="webapp-jwt", key="verification-key-b"),
            **_database(("DATABASE_URL", "url")),
            "REDIS_URL": SecretEnv(secret="webapp-redis", key="url"),
            **_oauth(),
        },
    ),
    AppService(
        name="broadcaster",
        component="messaging",
        runtime="node",
        port=8002,
        metrics_port=7777,
        probes=Probes(startup="/healthz", liveness="/healthz", readiness="/health"),
        calls=("nats", "broadcaster"),
        # Consumes the todo events in its queue group only, so replicas share them (seed 001).
        nats=NatsPermissions(subscribe=("todos.events broadcaster-workers",)),
        internet_ports=(443,),
        env={
            "METRICS_PORT": "{metrics_port}",
            "NATS_SUBJECT": "todos.events",
            "NATS_QUEUE_GROUP": "broadcaster-workers",
        },
        secret_env={"WEBHOOK_URL": SecretEnv(secret="webapp-broadcaster", key="webhook-url")},
    ),
)

APP_SERVICES: tuple[str, ...] = tuple(service.name for service in CATALOGUE)
NATS_USERS: Mapping[str, NatsPermissions] = {
    service.name: service.nats for service in CATALOGUE if service.nats is not None
}
"""Every NATS user (a service that calls nats) and its permissions."""
"""The `webapp:services.<name>` keys."""
SECRET_READING_SERVICES: tuple[str, ...] = tuple(
    service.name for service in CATALOGUE if service.reads_secrets
)
"""Application services whose pods read catalogued Secrets."""
SCHEDULER_CALLS = ("api",)
"""What the scheduled job calls."""


def service(name: str) -> AppService:
    return next(service for service in CATALOGUE if service.name == name)


@dataclass(frozen=True, kw_only=True)
class LoadTrigger:
    """What a service scales out on under KEDA besides CPU and memory: a Prometheus query whose
    value, divided by the per-replica threshold, is the replica count it needs."""

    query: str
    """PromQL with `{namespace}` (and `{requests}`, the request counter of the service's pods
    named `pods`, as its metrics contract or its sidecars publish it): one series, the load."""
    threshold: int
    """Default per-replica value (`services.<name>.loadThreshold`)."""
    unit: str
    pods: str = ""
    """Set when the query counts requests: the regex of the service's pod names."""


LOAD_TRIGGERS: Mapping[str, LoadTrigger] = {
    # Requests per second the api serves (its image's request counter, `webapp:metrics.requests
    # .api`, else its sidecars'), from every pod of its ReplicaSets
    # (`api-<pod-template-hash>-<suffix>`): during a canary the new pods' share counts too, and
    # the pod label is one every scraper sets (the in-cluster PodMonitor and an external
    # Prometheus' annotation job alike), unlike `service`.
    "api": LoadTrigger(
        query="sum(rate({requests}[2m]))",
        threshold=50,
        unit="requests per second per replica",
        pods="api-[a-z0-9]+-[a-z0-9]+",
    ),
    # The broadcaster consumes the todo events in a core NATS queue group (not a JetStream
    # consumer, so there is no consumer lag to read): it scales on the messages per second the
    # clients publish. The exporter's `-connz` sums its server's client connections
    # (`gnatsd_connz_in_msgs{server_id}`, prometheus-nats-exporter v0.17.3
    # `collector/connz.go`: the `/connz` endpoint lists client connections only), where
    # `gnatsd_varz_in_msgs` also counts what the other servers route to it and the system
    # account's messages, which would overstate the load.
    "broadcaster": LoadTrigger(
        query='sum(rate(gnatsd_connz_in_msgs{{namespace="{namespace}"}}[2m]))',
        threshold=100,
        unit="NATS messages per second per replica",
    ),
}
"""The services with a KEDA load trigger (seed 002: KEDA for the request- and queue-driven)."""
