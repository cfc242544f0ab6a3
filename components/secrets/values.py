"""The composed values of the catalogued Secrets, defined once (pure; no resources).

A service reads the database and Redis in several forms (an ADO.NET connection string, a URL).
Each form is written here once, as a template over named fields, and turned into either

- concrete values (`values(...)`), where the program knows every field: generated secrets
  (`cloud: none`) and the values written to Key Vault; or
- External Secrets Go templates (`go_templates(...)`), where the store holds some fields and the
  operator composes the value in the cluster (AWS Secrets Manager, and the RDS-managed password
  the program never sees).

So the forms cannot drift apart between clouds. In a template, `{field}` inserts a field as it is
and `{field!q}` inserts it URL-encoded for a query or userinfo part (Go's `urlquery`, Python's
`quote_plus` with nothing kept safe), which is what a password inside a URL needs.
"""

from __future__ import annotations

import functools
import string
from typing import Any, Mapping, Sequence
from urllib.parse import quote_plus

import pulumi

POSTGRES_PORT = 5432
REDIS_PORT = 6379

DATABASE_FORMS: Mapping[str, str] = {
    "connection-string": (
        "Host={host};Port={port};Database={dbname};Username={username};"
        "Password={password};SSL Mode={ssl_mode}"
    ),
    "url": "postgresql://{username!q}:{password!q}@{host}:{port}/{dbname}{ssl_query}",
}
"""`webapp-database` keys composed from host, port, dbname, username, password and the TLS mode."""

NATS_PORT = 4222


def nats_forms(usernames: Mapping[str, str]) -> dict[str, str]:
    """`webapp-nats` URL keys, one per user (user -> the username clients use, `config.rotation`),
    each from the user's password (field `<user>_password`), the host and the port."""
    return {
        f"{user}-url": f"nats://{username}:{{{user}_password!q}}@{{host}}:{{port}}"
        for user, username in usernames.items()
    }


REDIS_FORMS: Mapping[str, str] = {
    "connection-string": "{host}:{port},password={password},abortConnect=false",
    "url": "redis://:{password!q}@{host}:{port}/0",
}
"""`webapp-redis` keys composed from host, port and password."""


RABBITMQ_PORT = 5672
ELASTICSEARCH_PORT = 9200
RABBITMQ_FORMS: Mapping[str, str] = {
    # rabbitmq.conf syntax (the operator mounts it as conf.d/11-default_user.conf).
    "default_user.conf": "default_user = {username}\ndefault_pass = {password}",
    "url": "amqp://{username!q}:{password!q}@{host}:{port}/",
}
"""`webapp-rabbitmq` keys composed from host, username and password."""
ELASTICSEARCH_FORMS: Mapping[str, str] = {
    # ECK serves HTTPS with its own CA (Secret `elasticsearch-es-http-certs-public`).
    "url": "https://{username!q}:{password!q}@{host}:{port}"
}
"""`webapp-elasticsearch` keys composed from host, username and password."""
ELASTICSEARCH_ROLES = "superuser"
"""The application user's roles in ECK's file realm."""


def broker_values(
    forms: Mapping[str, str], host: str, port: int, username: str, password: pulumi.Input[str]
) -> dict[str, pulumi.Input[str]]:
    """Every key of `webapp-rabbitmq` or `webapp-elasticsearch`, where the program knows the
    password."""
    fields = {"host": host, "port": str(port), "username": username, "password": password}
    return {"username": username, "password": password, **values(forms, fields)}


def broker_templates(forms: Mapping[str, str], host: str, port: int) -> dict[str, str]:
    """The same keys as templates over the store's `username` and `password`."""
    return {
        "username": "{{ .username }}",
        "password": "{{ .password }}",
        **go_templates(forms, {"host": host, "port": str(port)}),
    }


def ssl_fields(managed: bool) -> dict[str, str]:
    """The TLS mode for the connection string (Npgsql's spelling) and the URL.

    A managed database is reached over the network and only with TLS (the servers enforce it):
    `Require`. The in-cluster PostgreSQL is reached inside the namespace and uses TLS when it
    offers it: `Prefer`. The URL says `?sslmode=require` only when TLS is required: libpq's default
    is already `prefer`, and node-postgres (pg-connection-string) treats any sslmode but `disable`,
    `prefer` included, as "TLS required", which the in-cluster PostgreSQL does not offer.
    """
    if managed:
        return {"ssl_mode": "Require", "ssl_query": "?sslmode=require"}
    return {"ssl_mode": "Prefer", "ssl_query": ""}


class _Formatter(string.Formatter):
    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion == "q":
            return quote_plus(str(value), safe="")
        return super().convert_field(value, conversion)


class _Remote(str):
    """A field the ExternalSecret reads from the store (rendered as a Go template action)."""


class _GoTemplate(_Formatter):
    """Fills in the fields known here; leaves the store's fields as Go template actions."""

    def __init__(self, known: Mapping[str, str]):
        super().__init__()
        self.known = known

    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        assert isinstance(key, str), "forms use named fields only"
        return self.known[key] if key in self.known else _Remote(key)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if isinstance(value, _Remote):
            return f"{{{{ .{value} | urlquery }}}}" if conversion == "q" else f"{{{{ .{value} }}}}"
        return super().convert_field(value, conversion)


def fields_of(form: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(form) if name}


def format_value(form: str, fields: Mapping[str, str]) -> str:
    """One form with every field known (plain strings)."""
    return _Formatter().format(form, **fields)


def values(
    forms: Mapping[str, str], fields: Mapping[str, pulumi.Input[str]]
) -> dict[str, pulumi.Output[str]]:
    """Every form with every field known; fields may be Pulumi inputs (a generated password)."""
    resolved = pulumi.Output.all(**dict(fields))
    result: dict[str, pulumi.Output[str]] = {}
    for key, form in forms.items():
        missing = fields_of(form) - set(fields)
        if missing:
            raise ValueError(f"{key}: no value for {sorted(missing)}")
        result[key] = resolved.apply(functools.partial(format_value, form))
    return result


def go_templates(forms: Mapping[str, str], known: Mapping[str, str]) -> dict[str, str]:
    """Every form as an External Secrets (engine v2) template: fields in `known` are filled in here,
    every other field is read from the ExternalSecret's `data` of the same name."""
    out: dict[str, str] = {}
    for key, form in forms.items():
        out[key] = _GoTemplate(known).format(form)
    return out


def database_values(
    *,
    host: pulumi.Input[str],
    dbname: str,
    username: str,
    password: pulumi.Input[str],
    managed: bool,
    port: pulumi.Input[str] = str(POSTGRES_PORT),
) -> dict[str, pulumi.Input[str]]:
    """Every key of `webapp-database`, where the program knows the credentials."""
    fields: dict[str, pulumi.Input[str]] = {
        "host": host,
        "port": port,
        "dbname": dbname,
        "username": username,
        "password": password,
    }
    return {**fields, **values(DATABASE_FORMS, {**fields, **ssl_fields(managed)})}


def database_templates(*, managed: bool) -> dict[str, str]:
    """Every key of `webapp-database` as a template over the store's host, port, dbname, username
    and password.
    """
    passthrough = {
        key: f"{{{{ .{key} }}}}" for key in ("host", "port", "dbname", "username", "password")
    }
    return {**passthrough, **go_templates(DATABASE_FORMS, ssl_fields(managed))}


REDIS_GENERATION_KEYS = ("password-a", "password-b")
"""`webapp-redis` keys the server reads: the password of each generation (its ACL user)."""


def redis_values(
    host: str, password: pulumi.Input[str], generations: Mapping[str, pulumi.Input[str]]
) -> dict[str, pulumi.Input[str]]:
    """Every key of `webapp-redis`, where the program knows the passwords: the one clients use
    and each generation's (`a`, `b`)."""
    return {
        "password": password,
        **{f"password-{generation}": value for generation, value in generations.items()},
        **values(REDIS_FORMS, {"host": host, "port": str(REDIS_PORT), "password": password}),
    }


def redis_templates(host: str) -> dict[str, str]:
    """Every key of `webapp-redis` as a template over the store's password and generations'."""
    return {
        "password": "{{ .password }}",
        **{key: f"{{{{ .{key.replace('-', '_')} }}}}" for key in REDIS_GENERATION_KEYS},
        **go_templates(REDIS_FORMS, {"host": host, "port": str(REDIS_PORT)}),
    }


def nats_values(
    host: str, passwords: Mapping[str, pulumi.Input[str]], usernames: Mapping[str, str]
) -> dict[str, pulumi.Input[str]]:
    """Every key of `webapp-nats`, where the program knows the passwords (`passwords`: per user
    the one clients use and each generation's; `usernames`: user -> the username
    clients use)."""
    fields: dict[str, pulumi.Input[str]] = {
        f"{user}_password": passwords[f"{user}-password"] for user in usernames
    }
    return {
        **passwords,
        **values(nats_forms(usernames), {**fields, "host": host, "port": str(NATS_PORT)}),
    }


def nats_templates(host: str, keys: Sequence[str], usernames: Mapping[str, str]) -> dict[str, str]:
    """Every key of `webapp-nats` as a template over the store's fields (each password key with
    `_` for `-`), the URLs composed from `<user>_password`."""
    return {
        **{key: f"{{{{ .{key.replace('-', '_')} }}}}" for key in keys},
        **go_templates(nats_forms(usernames), {"host": host, "port": str(NATS_PORT)}),
    }
