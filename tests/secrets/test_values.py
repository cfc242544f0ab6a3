"""Each composed secret value, in both of its shapes: filled in here (generated secrets, Key
Vault) and as the External Secrets template the operator fills in (AWS). The two must agree."""

from __future__ import annotations

import re
from typing import Any, Mapping
from urllib.parse import quote_plus, urlsplit

import pulumi
import pytest
from pulumi.runtime.sync_await import _sync_await

from components.secrets import catalogue as cat
from components.secrets import values

FIELDS = {
    "host": "db.internal",
    "port": "5432",
    "dbname": "webapp",
    "username": "app user",
    # Characters a generated or rotated password may hold and a URL may not.
    "password": "p@ss:w/rd?#&=+ %",
}


def resolved(inputs: Mapping[str, Any]) -> dict[str, str]:
    """The values as the stack would store them (plain inputs here, so every Output is known)."""
    return {
        key: _sync_await(pulumi.Output.from_input(value).future()) for key, value in inputs.items()
    }


def go_template(template: str, data: Mapping[str, str]) -> str:
    """Enough of Go's text/template for these forms: `{{ .x }}` and `{{ .x | urlquery }}`
    (urlquery is Go's url.QueryEscape: space -> +, everything but [A-Za-z0-9_.~-] escaped)."""

    def action(match: re.Match[str]) -> str:
        name, pipe = match.group(1), match.group(2)
        if pipe is None:
            return data[name]
        assert pipe == "urlquery", pipe
        return quote_plus(data[name], safe="")

    rendered = re.sub(r"\{\{ \.([\w-]+)(?: \| (\w+))? \}\}", action, template)
    assert "{{" not in rendered, rendered
    return rendered


def test_database_connection_string_is_npgsql_with_tls_mode() -> None:
    managed = resolved(values.database_values(**_db(), managed=True))
    in_cluster = resolved(values.database_values(**_db(), managed=False))
    expected = (
        "Host=db.internal;Port=5432;Database=webapp;Username=app user;Password=p@ss:w/rd?#&=+ %;"
    )
    assert managed["connection-string"] == expected + "SSL Mode=Require"
    assert in_cluster["connection-string"] == expected + "SSL Mode=Prefer"


def test_database_url_quotes_the_credentials_and_requires_tls_only_when_managed() -> None:
    managed = resolved(values.database_values(**_db(), managed=True))["url"]
    in_cluster = resolved(values.database_values(**_db(), managed=False))["url"]
    password = quote_plus(FIELDS["password"], safe="")
    assert managed == f"postgresql://app+user:{password}@db.internal:5432/webapp?sslmode=require"
    # node-postgres reads any sslmode but disable as "TLS required"; the in-cluster server has none.
    assert in_cluster == f"postgresql://app+user:{password}@db.internal:5432/webapp"
    parsed = urlsplit(managed)
    assert (parsed.hostname, parsed.port, parsed.path) == ("db.internal", 5432, "/webapp")


def test_redis_forms() -> None:
    redis = resolved(
        values.redis_values("redis.ns.svc.cluster.local", FIELDS["password"], GENERATIONS)
    )
    assert redis["password"] == FIELDS["password"]
    assert (redis["password-a"], redis["password-b"]) == ("old", FIELDS["password"])
    assert redis["connection-string"] == (
        f"redis.ns.svc.cluster.local:6379,password={FIELDS['password']},abortConnect=false"
    )
    assert redis["url"] == (
        f"redis://:{quote_plus(FIELDS['password'], safe='')}@redis.ns.svc.cluster.local:6379/0"
    )
    assert urlsplit(redis["url"]).hostname == "redis.ns.svc.cluster.local"


@pytest.mark.parametrize("managed", [True, False])
def test_the_external_secrets_templates_render_the_same_database_values(managed: bool) -> None:
    filled = resolved(values.database_values(**_db(), managed=managed))
    templates = values.database_templates(managed=managed)
    assert set(templates) == set(filled) == set(cat.DATABASE.keys)
    for key, template in templates.items():
        assert go_template(template, FIELDS) == filled[key], key


def test_the_external_secrets_templates_render_the_same_redis_values() -> None:
    host = "redis.ns.svc.cluster.local"
    filled = resolved(values.redis_values(host, FIELDS["password"], GENERATIONS))
    templates = values.redis_templates(host)
    assert set(templates) == set(filled) == set(cat.REDIS.keys)
    store = {"password": FIELDS["password"], "password_a": "old", "password_b": FIELDS["password"]}
    for key, template in templates.items():
        assert go_template(template, store) == filled[key], key


GENERATIONS = {"a": "old", "b": FIELDS["password"]}
"""Generation b in use, a still accepted."""


def test_a_form_missing_a_field_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"url: no value for \['dbname'\]"):
        values.values({"url": "postgresql://{host}/{dbname}"}, {"host": "h"})


def _db() -> dict[str, str]:
    return {key: FIELDS[key] for key in ("host", "port", "dbname", "username", "password")}
