"""GeneratedSecrets: the catalogued Secrets for `cloud: none`, with values from pulumi-random.

Creates (parented to the component):
- one `random.RandomPassword` per generated value (stored encrypted in Pulumi state)
- one Kubernetes Secret per entry of `secret_catalog.APP_SECRETS` in the app namespace
- the Grafana admin Secret in the monitoring namespace when the monitoring stack is installed

Every value is a Pulumi secret; the Secrets carry exactly the keys the catalogue lists (a test
checks that every key a pod reads exists). The cloud stores deliver the same names instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Protocol, Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.config.catalogue import NATS_USERS
from components.config.credentials import CredentialSettings
from components.config.rotation import Generation, SecretRotation, nats_username
from components.kube import objects as kx
from components.secrets import catalogue as cat
from components.secrets.store import GrafanaWiring, SecretStore, StoreArgs
from components.secrets.values import (
    ELASTICSEARCH_FORMS,
    ELASTICSEARCH_PORT,
    ELASTICSEARCH_ROLES,
    RABBITMQ_FORMS,
    RABBITMQ_PORT,
    broker_values,
    database_values,
    nats_values,
    redis_values,
)


@dataclass(frozen=True, kw_only=True)
class GeneratedSecretsArgs:
    namespace: str
    """The application namespace (created by NamespaceBaseline)."""
    instance: str
    """The stack name: `app.kubernetes.io/instance`, and part of the names of cloud resources."""
    database_host: str
    """The in-cluster PostgreSQL's DNS name."""
    database_name: str
    """The application database's name."""
    database_username: str
    """The in-cluster database's user."""
    redis_host: str
    """The in-cluster Redis Service's DNS name (the connection strings point at it)."""
    nats_host: str
    """The in-cluster NATS Service's DNS name (the NATS users' URLs point at it)."""
    credentials: CredentialSettings
    """The external credentials' sources (never `store` here: `cloud: none` has none)."""
    secret_rotation: SecretRotation = SecretRotation()
    """`webapp:secretRotation`: the generations of the rotated values and the one clients use.
    Default: generation a alone."""
    monitoring_namespace: Optional[str] = None
    """Where the Grafana admin Secret goes; None when this program does not install Grafana."""
    webhook_url: Optional[str] = None
    """Broadcaster webhook (a secret config value); defaults to a discard endpoint."""
    rabbitmq_host: Optional[str] = None
    """RabbitMQ's Service when the stack runs it (its Secret is written then)."""
    elasticsearch_host: Optional[str] = None
    """Elasticsearch's HTTP Service when the stack runs it."""


# The broadcaster posts here when no webhook is configured: its own health endpoint, which
# accepts and discards the event, so nothing leaves the cluster by default.
DISCARD_WEBHOOK = "http://broadcaster:8002/health"


ROTATED = (
    "redis-password",
    "jwt-secret-key",
    "database-app-password",
    *(f"nats-{user}-password" for user in NATS_USERS),
)
"""The generated values that rotate in two generations (`config.rotation`), because their servers
accept two at once: Redis' ACL user (two passwords), NATS (a user per generation per client), the
JWT verification key set. There is no NATS route password: the routes authenticate by
certificates cert-manager renews (`data.nats_tls`), since nats-server's cluster `authorization`
takes a single user (server/opts.go, parseCluster, at v2.11.8) and could not rotate. The
database's application roles (`database-app-password`, `data.database_roles`): a login role per
generation. Not the database admin's password, not Grafana's admin password (Grafana applies
it on its first start only), not the placeholders."""


def rotation_keepers(key: str, label: str) -> Optional[dict[str, str]]:
    """`keepers` for the generated value `key`: a new label of its generation replaces it."""
    return {"rotation": label} if label and key in ROTATED else None


def generated_password(
    resource_name: str,
    length: int,
    opts: pulumi.ResourceOptions,
    keepers: Optional[Mapping[str, str]] = None,
) -> pulumi.Output[str]:
    """A random value for a secret: letters and digits only, since many end up inside URLs and
    connection strings, with at least two of each class. A change of `keepers` renews it."""
    return random.RandomPassword(
        resource_name,
        length=length,
        special=False,
        min_lower=2,
        min_upper=2,
        min_numeric=2,
        keepers=dict(keepers) if keepers else None,
        opts=opts,
    ).result


OAUTH_PROVIDERS = ("google", "github", "microsoft")


class Password(Protocol):
    """`password(key, length, generation)`: a generated value whose resource is named after `key`;
    for a rotated key (`ROTATED`), the value of `generation` (default: the one clients use)."""

    def __call__(
        self, key: str, length: int = 32, generation: Optional[Generation] = None
    ) -> pulumi.Output[str]: ...


def passwords(prefix: str, opts: pulumi.ResourceOptions, rotation: SecretRotation) -> Password:
    """A store's generator of values: `password(key)` declares `<prefix>-<key>` once. A rotated
    key has a resource per accepted generation: a's is `<prefix>-<key>` (the name it had before
    there were generations, so its value stays), b's `<prefix>-<key>-b`; each is renewed by a new
    label of its generation."""
    declared: dict[tuple[str, Generation], pulumi.Output[str]] = {}

    def password(
        key: str, length: int = 32, generation: Optional[Generation] = None
    ) -> pulumi.Output[str]:
        rotated = key in ROTATED
        chosen: Generation = (generation or rotation.use) if rotated else "a"
        if chosen not in rotation.accepted:
            raise ValueError(f"{key}: generation {chosen} does not exist ({rotation})")
        if (key, chosen) not in declared:
            name = f"{prefix}-{key}" if chosen == "a" else f"{prefix}-{key}-b"
            keepers = rotation_keepers(key, rotation.label(chosen))
            declared[key, chosen] = generated_password(name, length, opts, keepers)
        return declared[key, chosen]

    return password


def generations(
    password: Password, rotation: SecretRotation, key: str, length: int = 32
) -> dict[str, pulumi.Output[str]]:
    """`key`'s value in each generation, keyed `a` and `b`; where there is only a, b's slot holds
    a's value too (the servers' configuration keeps one shape whatever the phase)."""
    first = password(key, length, "a")
    return {"a": first, "b": password(key, length, "b") if "b" in rotation.accepted else first}


LEADING_DIGIT_AS_LETTER = "ghijklmnop"
"""The letter that replaces a NATS value's leading digit 0-9 (`nats_literal`)."""


def nats_literal(value: str) -> str:
    """`value` (letters and digits, as `generated_password` makes them) in a form nats-server reads
    back literally: beginning with a letter.

    nats-server resolves `$NATS_<USER>_PASSWORD` by parsing `<key>=<value>` as config syntax
    (nats-server v2.11.8 `conf/parse.go` `lookupVariable`, lines 455-465), so a value beginning
    with a digit is lexed as a number, a size or a date (`conf/lex.go` `lexValue`): `1234...`
    becomes an integer, `3e9X...` and `9MB0...` fail to parse and the server refuses its config.
    A value beginning with a letter is an unquoted string up to the first space or `,;]}`
    (`lexString`), read verbatim unless it is exactly a boolean word (`isBool`: true, false, on,
    off, yes, no), which no value of 4 characters or more is. Only a leading digit is changed (to
    a letter, `LEADING_DIGIT_AS_LETTER`), so a value that already worked is kept as it is.
    """
    if not value or not all(char.isascii() and char.isalnum() for char in value):
        raise ValueError("a NATS value is letters and digits only")
    if len(value) < 4:
        raise ValueError("a NATS value has 4 characters or more (shorter ones may read as true/on)")
    first = value[0]
    return (LEADING_DIGIT_AS_LETTER[int(first)] + value[1:]) if first.isdigit() else value


NATS_PASSWORD_KEYS = tuple(
    f"{user}-password{suffix}" for user in NATS_USERS for suffix in ("", "-a", "-b")
)
"""The generated keys of `webapp-nats`: per NATS user the password clients use and the password of
each generation (the server's two users). None for the routes: they authenticate by certificate
(`data.nats_tls`)."""


def nats_passwords(password: Password, rotation: SecretRotation) -> dict[str, pulumi.Output[str]]:
    """Every key of `NATS_PASSWORD_KEYS`, generated as `nats-<user>-password` (a generation each),
    each in the form nats-server reads literally (`nats_literal`; the clients get the same value
    from the same Secret)."""
    found: dict[str, pulumi.Output[str]] = {}
    for user in NATS_USERS:
        key = f"nats-{user}-password"
        by_generation = generations(password, rotation, key)
        found[f"{user}-password"] = password(key)
        found[f"{user}-password-a"] = by_generation["a"]
        found[f"{user}-password-b"] = by_generation["b"]
    return {key: value.apply(nats_literal) for key, value in found.items()}


def redis_secret_values(
    host: str, password: Password, rotation: SecretRotation
) -> dict[str, pulumi.Input[str]]:
    """`webapp-redis`: the password clients use (and its URLs), and each generation's (the ACL)."""
    by_generation = generations(password, rotation, "redis-password")
    return redis_values(host, password("redis-password"), by_generation)


def jwt_secret_values(password: Password, rotation: SecretRotation) -> dict[str, pulumi.Input[str]]:
    """`webapp-jwt`: the key tokens are signed with (the generation in use) and the verification
    key of each generation, so a token signed by either is accepted while pods roll."""
    by_generation = generations(password, rotation, "jwt-secret-key", 64)
    return {
        "secret-key": password("jwt-secret-key", 64),
        "verification-key-a": by_generation["a"],
        "verification-key-b": by_generation["b"],
    }


def _placeholders(password: Password) -> dict[str, dict[str, pulumi.Input[str]]]:
    """The stand-ins for the external credentials (`webapp:credentials.<group>: generated`)."""
    return {
        cat.OAUTH.name: {
            f"{provider}-{part}": password(f"{provider}-{part}", 24 if part == "client-id" else 40)
            for provider in OAUTH_PROVIDERS
            for part in ("client-id", "client-secret")
        },
        cat.SMTP.name: {"username": "webapp", "password": password("smtp-password", 32)},
        # No receiver reads these: a stack whose alerts go anywhere must give real endpoints
        # (`settings.check_alerting`).
        cat.ALERTING.name: {
            severity: password(f"alerting-{severity}", 16) for severity in cat.ALERTING.keys
        },
    }


def external_credentials(
    password: Password, credentials: CredentialSettings
) -> dict[str, dict[str, pulumi.Input[str]]]:
    """The operator-owned Secrets' values where the program writes them: placeholders or the
    config's values. A group whose source is `store` is absent: the operator writes it."""
    placeholders: Optional[dict[str, dict[str, pulumi.Input[str]]]] = None
    found: dict[str, dict[str, pulumi.Input[str]]] = {}
    for spec in (cat.OAUTH, cat.SMTP, cat.ALERTING):
        credential = credentials.by_group()[spec.credential_group]
        if credential.source == "config":
            found[spec.name] = dict(credential.values)
        elif credential.source == "generated":
            placeholders = placeholders or _placeholders(password)
            found[spec.name] = placeholders[spec.name]
    return found


def nats_secret_values(
    host: str, password: Password, rotation: SecretRotation
) -> dict[str, pulumi.Input[str]]:
    """`webapp-nats` with generated passwords per NATS user and generation."""
    usernames = {user: nats_username(user, rotation.use) for user in NATS_USERS}
    return nats_values(host, nats_passwords(password, rotation), usernames)


BROKER_USER = "webapp"
"""The application user of RabbitMQ and Elasticsearch."""


def broker_secret_values(
    password: Password, rabbitmq_host: Optional[str], elasticsearch_host: Optional[str]
) -> dict[str, dict[str, pulumi.Input[str]]]:
    """`webapp-rabbitmq` and `webapp-elasticsearch` for the optional services the stack runs.
    Not rotated by `webapp:secretRotation`: RabbitMQ reads its default user on first boot only."""
    found: dict[str, dict[str, pulumi.Input[str]]] = {}
    if rabbitmq_host:
        found[cat.RABBITMQ.name] = broker_values(
            RABBITMQ_FORMS, rabbitmq_host, RABBITMQ_PORT, BROKER_USER, password("rabbitmq-password")
        )
    if elasticsearch_host:
        found[cat.ELASTICSEARCH.name] = {
            **broker_values(
                ELASTICSEARCH_FORMS,
                elasticsearch_host,
                ELASTICSEARCH_PORT,
                BROKER_USER,
                password("elasticsearch-password"),
            ),
            "roles": ELASTICSEARCH_ROLES,
        }
    return found


def generated_values(
    password: Password,
    rotation: SecretRotation,
    *,
    webhook_url: Optional[str],
    grafana: bool,
    credentials: CredentialSettings,
    rabbitmq_host: Optional[str] = None,
    elasticsearch_host: Optional[str] = None,
) -> dict[str, dict[str, pulumi.Input[str]]]:
    """The values every store holds that are neither the database's nor Redis': generated, or taken
    from config. An external credential kept in the store (`store`) has no entry.

    Keyed by catalogued Secret name, then key. The resource names (`jwt-secret-key`,
    `google-client-id`, ...) are the same in every store, so the state reads the same on every
    cloud.
    """
    found: dict[str, dict[str, pulumi.Input[str]]] = {
        cat.JWT.name: jwt_secret_values(password, rotation),
        **external_credentials(password, credentials),
        cat.BROADCASTER.name: {"webhook-url": webhook_url or DISCARD_WEBHOOK},
        **broker_secret_values(password, rabbitmq_host, elasticsearch_host),
    }
    if grafana:
        found[cat.GRAFANA.name] = {
            "admin-user": "admin",
            "admin-password": password("grafana-admin-password", 32),
        }
    return found


class GeneratedSecrets(pulumi.ComponentResource):
    secret_names: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: GeneratedSecretsArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:secrets:GeneratedSecrets", name, None, opts)
        self._name = name
        child = kx.child_options(self, opts)

        password = passwords(name, child, args.secret_rotation)
        values = generated_values(
            password,
            args.secret_rotation,
            webhook_url=args.webhook_url,
            grafana=args.monitoring_namespace is not None,
            credentials=args.credentials,
            rabbitmq_host=args.rabbitmq_host,
            elasticsearch_host=args.elasticsearch_host,
        )
        values[cat.DATABASE.name] = database_values(
            host=args.database_host,
            dbname=args.database_name,
            username=args.database_username,
            password=password("database-password"),
            managed=False,
        )
        values[cat.REDIS.name] = redis_secret_values(
            args.redis_host, password, args.secret_rotation
        )
        values[cat.NATS.name] = nats_secret_values(args.nats_host, password, args.secret_rotation)
        self.secrets = {
            spec.name: self._secret(spec, args.namespace, args.instance, values[spec.name], child)
            for spec in self._specs(args)
        }
        if args.monitoring_namespace:
            self.secrets[cat.GRAFANA.name] = self._secret(
                cat.GRAFANA,
                args.monitoring_namespace,
                args.instance,
                values[cat.GRAFANA.name],
                child,
            )
        self.secret_names = pulumi.Output.from_input([spec.name for spec in self._specs(args)])
        self.register_outputs({"secret_names": self.secret_names})

    @staticmethod
    def _specs(args: GeneratedSecretsArgs) -> tuple[cat.SecretSpec, ...]:
        return cat.app_secrets(
            rabbitmq=args.rabbitmq_host is not None,
            elasticsearch=args.elasticsearch_host is not None,
        )

    def _secret(
        self,
        spec: cat.SecretSpec,
        namespace: str,
        instance: str,
        data: Mapping[str, pulumi.Input[str]],
        child: pulumi.ResourceOptions,
    ) -> k8s.core.v1.Secret:
        missing = set(spec.keys) ^ set(data)
        assert not missing, f"{spec.name}: keys differ from the catalogue: {sorted(missing)}"
        return k8s.core.v1.Secret(
            f"{self._name}-{spec.category}",
            metadata=kx.metadata(
                spec.name,
                namespace,
                kx.labels(spec.name, instance, "secret", "v1"),
                {"webapp.io/description": spec.description},
            ),
            type="Opaque",
            # Output.secret: even the non-generated parts (host, user) stay out of plain-text diffs.
            string_data={key: pulumi.Output.secret(value) for key, value in data.items()},
            opts=child,
        )


class GeneratedStore(SecretStore):
    """`cloud: none`: the catalogued Secrets are Kubernetes Secrets written by this program; pods
    read them by name, so there is nothing to grant."""

    def __init__(self, name: str, args: StoreArgs, opts: pulumi.ResourceOptions):
        self.secrets = GeneratedSecrets(
            name,
            GeneratedSecretsArgs(
                namespace=args.namespace,
                instance=args.instance,
                database_host=args.in_cluster_database_host,
                database_name=args.database_name,
                database_username=args.database_username,
                redis_host=args.redis_host,
                nats_host=args.nats_host,
                credentials=args.credentials,
                secret_rotation=args.secret_rotation,
                monitoring_namespace=args.monitoring_namespace,
                webhook_url=args.webhook_url,
                rabbitmq_host=args.rabbitmq_host,
                elasticsearch_host=args.elasticsearch_host,
            ),
            opts,
        )
        grafana = args.monitoring_namespace is not None
        self._grafana = GrafanaWiring(
            ready=(self.secrets.secrets[cat.GRAFANA.name],) if grafana else ()
        )

    @property
    def grafana(self) -> GrafanaWiring:
        return self._grafana

    def wait_for(
        self, secrets: Sequence[str], *, namespace: str, name: str
    ) -> list[pulumi.Resource]:
        """The Secrets themselves (written at once)."""
        del namespace, name
        return [self.secrets.secrets[secret] for secret in secrets]
