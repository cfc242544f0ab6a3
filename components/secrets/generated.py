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
from typing import Mapping, Optional
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.kube import objects as kx
from components.secrets import catalogue as cat


@dataclass(frozen=True, kw_only=True)
class GeneratedSecretsArgs:
    namespace: str
    instance: str
    database_host: str
    database_name: str
    database_username: str
    redis_host: str
    monitoring_namespace: Optional[str] = None
    """Where the Grafana admin Secret goes; None when this program does not install Grafana."""
    webhook_url: Optional[str] = None
    """Broadcaster webhook (a secret config value); defaults to a discard endpoint."""


# The broadcaster posts here when no webhook is configured: its own health endpoint, which
# accepts and discards the event, so nothing leaves the cluster by default.
DISCARD_WEBHOOK = "http://broadcaster:8002/health"


def generated_password(resource_name: str, length: int, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """A random value for a secret: letters and digits only, since many end up inside URLs and
    connection strings, with at least two of each class."""
    return random.RandomPassword(resource_name, length=length, special=False, min_lower=2, min_upper=2, min_numeric=2,
                                 opts=opts).result


def redis_values(host: str, password: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
    """The keys of `webapp-redis`: the password and the two connection forms the services read."""
    return {
        "password": password,
        "connection-string": pulumi.Output.format("{0}:6379,password={1},abortConnect=false", host, password),
        "url": pulumi.Output.format("redis://:{0}@{1}:6379/0", password, host),
    }


class GeneratedSecrets(pulumi.ComponentResource):
    secret_names: pulumi.Output[list[str]]

    def __init__(self, name: str, args: GeneratedSecretsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("webapp:secrets:GeneratedSecrets", name, None, opts)
        self._name = name
        child = kx.child_options(self, opts)

        def password(key: str, length: int = 32) -> pulumi.Output[str]:
            return generated_password(f"{name}-{key}", length, child)

        db_password = password("database-password")
        redis_password = password("redis-password")
        port = "5432"
        database: dict[str, pulumi.Input[str]] = {
            "host": args.database_host, "port": port, "dbname": args.database_name,
            "username": args.database_username, "password": db_password,
            "connection-string": pulumi.Output.format(
                "Host={0};Port={1};Database={2};Username={3};Password={4};SSL Mode=Prefer",
                args.database_host, port, args.database_name, args.database_username, db_password),
            "url": pulumi.Output.format("postgresql://{0}:{1}@{2}:{3}/{4}", quote(args.database_username),
                                        db_password, args.database_host, port, args.database_name),
        }
        redis = redis_values(args.redis_host, redis_password)
        oauth = {f"{provider}-client-id": password(f"{provider}-client-id", 24) for provider in ("google", "github", "microsoft")}
        oauth.update({f"{provider}-client-secret": password(f"{provider}-client-secret", 40)
                      for provider in ("google", "github", "microsoft")})
        values: dict[cat.SecretSpec, Mapping[str, pulumi.Input[str]]] = {
            cat.DATABASE: database,
            cat.REDIS: redis,
            cat.JWT: {"secret-key": password("jwt-secret-key", 64)},
            cat.OAUTH: oauth,
            cat.SMTP: {"username": "webapp", "password": password("smtp-password")},
            cat.BROADCASTER: {"webhook-url": args.webhook_url or DISCARD_WEBHOOK},
        }
        self.secrets = {spec.name: self._secret(spec, args.namespace, args.instance, values[spec], child)
                        for spec in cat.APP_SECRETS}
        if args.monitoring_namespace:
            self.secrets[cat.GRAFANA.name] = self._secret(
                cat.GRAFANA, args.monitoring_namespace, args.instance,
                {"admin-user": "admin", "admin-password": password("grafana-admin-password")}, child)
        self.secret_names = pulumi.Output.from_input([s.name for s in cat.APP_SECRETS])
        self.register_outputs({"secret_names": self.secret_names})

    def _secret(self, spec: cat.SecretSpec, namespace: str, instance: str,
                data: Mapping[str, pulumi.Input[str]], child: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
        missing = set(spec.keys) ^ set(data)
        assert not missing, f"{spec.name}: keys differ from the catalogue: {sorted(missing)}"
        return k8s.core.v1.Secret(
            f"{self._name}-{spec.category}",
            metadata=kx.metadata(spec.name, namespace, kx.labels(spec.name, instance, "secret", "v1"),
                                 {"webapp.io/description": spec.description}),
            type="Opaque",
            # Output.secret: even the non-generated parts (host, user) stay out of plain-text diffs.
            string_data={k: pulumi.Output.secret(v) for k, v in data.items()},
            opts=child,
        )
