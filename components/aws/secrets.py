"""AwsSecretStore: the catalogued Secrets delivered from AWS Secrets Manager by External Secrets +
IRSA.

Creates (parented to the component):
- one Secrets Manager secret per category, `webapp/<stack>/<category>/<name>` (database/connection,
  database/credentials for an in-cluster database, redis/auth, auth/jwt-secret,
  oauth/{google,github,microsoft}, email/smtp, alerting/receivers, grafana/admin,
  broadcaster/webhook, nats/auth),
  encrypted with the stack key, with a recovery window (0 outside production by default: a
  destroyed stack can be re-created at once); `protect`ed in production
- one SecretVersion per secret whose value the program writes (JSON): generated with
  pulumi-random or taken from config; never protected, so a new value (rotation) replaces it.
  The operator-owned OAuth and SMTP secrets get none when
  `webapp:credentials.<group>` is `store` (operators put and rotate their values), and their
  versions are retained on delete, so switching a group to `store` never removes a value
- ServiceAccount `external-secrets-aws` (no token automount) annotated with its IRSA role
- IrsaRole trusting exactly that ServiceAccount, allowed `secretsmanager:GetSecretValue` and
  `DescribeSecret` on these secrets' ARNs (plus the RDS-managed master secret, in a policy of its
  own so the other secrets sync without waiting for the database) and `kms:Decrypt` on the key
- ClusterSecretStore for Secrets Manager in the stack's region, usable only from the app (and
  monitoring) namespace, authenticated with that ServiceAccount's token
- one ExternalSecret per catalogued Secret (same names and keys as `cloud: none`)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.aws import iam
from components.aws.irsa import ROLE_ANNOTATION, IrsaRole, IrsaRoleArgs, role_arn
from components.config.catalogue import NATS_USERS
from components.config.credentials import CredentialSettings
from components.config.rotation import SecretRotation, nats_username
from components.kube import objects as kx
from components.secrets import catalogue as cat
from components.secrets.external import (
    API_VERSION,
    Remote,
    catalogue_external_secret,
    declare_external_secret,
)
from components.secrets.generated import (
    NATS_PASSWORD_KEYS,
    OAUTH_PROVIDERS,
    generated_values,
    generations,
    nats_passwords,
    passwords,
)
from components.secrets.values import (
    ELASTICSEARCH_FORMS,
    ELASTICSEARCH_PORT,
    ELASTICSEARCH_ROLES,
    RABBITMQ_FORMS,
    RABBITMQ_PORT,
    REDIS_GENERATION_KEYS,
    broker_templates,
    database_templates,
    nats_templates,
    redis_templates,
)

SERVICE_ACCOUNT = "external-secrets-aws"
OAUTH_PARTS = ("client-id", "client-secret")
OPERATOR_OWNED = ("oauth/", "email/", "alerting/")
"""Secrets Manager paths (prefixes) of the operator-owned Secrets (`catalogue.Owner`)."""

Document = Mapping[str, pulumi.Input[Any]]
"""The JSON object one Secrets Manager secret holds."""
READ_ACTIONS = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")


@dataclass(frozen=True, kw_only=True)
class ManagedDatabase:
    """Where the RDS instance is and the secret RDS keeps its master credentials in."""

    host: pulumi.Input[str]
    port: pulumi.Input[int]
    master_secret_arn: pulumi.Input[str]


@dataclass(frozen=True, kw_only=True)
class AwsSecretStoreArgs:
    namespace: str
    """The application namespace (created by NamespaceBaseline)."""
    instance: str
    """The stack name: `app.kubernetes.io/instance`, and part of the names of cloud resources."""
    region: str
    """The region of Secrets Manager (and of the ClusterSecretStore's provider)."""
    partition: str
    """The AWS partition, for the role ARN."""
    account_id: str
    """The cluster's account, for the role ARN the ServiceAccount carries."""
    oidc_provider_arn: str
    """The EKS cluster's IAM OIDC provider, trusted by the IRSA role."""
    oidc_issuer_host: str
    """The cluster's OIDC issuer without https:// (the trust's condition keys)."""
    recovery_window_days: int
    """How long a deleted secret can be restored; 0 deletes it at once (its name is free)."""
    kms_key_arn: pulumi.Input[str]
    """The stack key: encrypts every secret; the store's role may decrypt with it, and only it."""
    database_name: str
    """The application database's name."""
    database_username: str
    """The in-cluster database's user (RDS keeps its own master user)."""
    redis_host: str
    """The in-cluster Redis Service's DNS name (the connection strings point at it)."""
    nats_host: str
    """The in-cluster NATS Service's DNS name (the NATS users' URLs point at it)."""
    credentials: CredentialSettings
    """Where the OAuth and SMTP values come from (`store`: no version is declared for them)."""
    secret_rotation: SecretRotation = SecretRotation()
    """`webapp:secretRotation`: the generations of the rotated values and the one clients use.
    Default: generation a alone."""
    in_cluster_database_host: Optional[str] = None
    """Set for `database.mode: in-cluster`: credentials are then generated here."""
    managed_database: Optional[ManagedDatabase] = None
    """Set for `database.mode: managed`: the RDS address and its managed master secret. Default
    None.
    """
    monitoring_namespace: Optional[str] = None
    """Where Grafana's admin Secret goes; None when this program does not install Grafana.
    Default None.
    """
    webhook_url: Optional[str] = None
    """The broadcaster's webhook URL; None delivers to a discard address. Default None."""
    rabbitmq_host: Optional[str] = None
    """RabbitMQ's Service when the stack runs it (`rabbitmq/auth` is written then)."""
    elasticsearch_host: Optional[str] = None
    """Elasticsearch's HTTP Service when the stack runs it (`elasticsearch/auth`)."""
    protect: bool = False
    """Pulumi `protect` on the secrets (production). Default off."""
    crd_dependencies: Sequence[pulumi.Resource] = ()
    """What installs the CRDs this component's custom resources need, when this program installs
    it (waited for). Default: nothing.
    """


def external_secrets_role_name(instance: str) -> str:
    """External Secrets' IRSA role: known before it exists (the stack key's policy names it)."""
    return f"webapp-{instance}-external-secrets"


class AwsSecretStore(pulumi.ComponentResource):
    secret_arns: pulumi.Output[list[str]]
    role_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: AwsSecretStoreArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:aws:AwsSecretStore", name, None, opts)
        self._name, self._args, self._opts = name, args, opts
        prefix = f"webapp/{args.instance}"
        child = kx.child_options(self, opts)

        documents = self._documents(child)
        self.versions: dict[str, aws.secretsmanager.SecretVersion] = {}
        self.secrets = {
            path: self._secret(f"{prefix}/{path}", path, doc)
            for path, doc in sorted(documents.items())
        }
        self.secret_arns = pulumi.Output.all(*[secret.arn for secret in self.secrets.values()])

        service_account = kx.service_account(
            f"{name}-service-account",
            SERVICE_ACCOUNT,
            args.namespace,
            kx.labels(SERVICE_ACCOUNT, args.instance, "secrets", "v1"),
            child,
            {ROLE_ANNOTATION: role_arn(args.partition, args.account_id, self.role_name)},
        )
        policies = self._read_policies()
        self.role = IrsaRole(
            f"{name}-irsa",
            IrsaRoleArgs(
                role_name=self.role_name,
                oidc_provider_arn=args.oidc_provider_arn,
                oidc_issuer_host=args.oidc_issuer_host,
                service_account_namespace=service_account.metadata.namespace,
                service_account_name=service_account.metadata.name,
                policies=policies,
            ),
            opts=child,
        )
        self.role_arn = self.role.arn
        self.store = self._create_store(service_account)
        self._create_external_secrets(prefix)
        self.register_outputs({"secret_arns": self.secret_arns, "role_arn": self.role_arn})

    def _documents(self, child: pulumi.ResourceOptions) -> dict[str, Optional[Document]]:
        """Secrets Manager path (under `webapp/<stack>/`) -> JSON document of the secret, or None
        where operators write the value (`webapp:credentials.<group>: store`)."""
        args = self._args

        password = passwords(self._name, child, args.secret_rotation)

        generated = generated_values(
            password,
            args.secret_rotation,
            webhook_url=args.webhook_url,
            grafana=args.monitoring_namespace is not None,
            credentials=args.credentials,
            rabbitmq_host=args.rabbitmq_host,
            elasticsearch_host=args.elasticsearch_host,
        )
        oauth = generated.get(cat.OAUTH.name)
        documents: dict[str, Optional[Document]] = {
            # Each JSON document holds every generation with the value clients use, so an
            # ExternalSecret reads one consistent version of them.
            "redis/auth": {
                "password": password("redis-password"),
                **{
                    f"password-{generation}": value
                    for generation, value in generations(
                        password, args.secret_rotation, "redis-password"
                    ).items()
                },
            },
            "nats/auth": nats_passwords(password, args.secret_rotation),
            "auth/jwt-secret": generated[cat.JWT.name],
            "email/smtp": generated.get(cat.SMTP.name),
            "alerting/receivers": generated.get(cat.ALERTING.name),
            "broadcaster/webhook": generated[cat.BROADCASTER.name],
            **{
                f"oauth/{provider}": (
                    {part: oauth[f"{provider}-{part}"] for part in OAUTH_PARTS} if oauth else None
                )
                for provider in OAUTH_PROVIDERS
            },
        }
        if args.monitoring_namespace:
            documents["grafana/admin"] = generated[cat.GRAFANA.name]
        for spec, path in (
            (cat.RABBITMQ, "rabbitmq/auth"),
            (cat.ELASTICSEARCH, "elasticsearch/auth"),
        ):
            if spec.name in generated:
                # The store keeps the credentials; the composed keys are templates over them.
                documents[path] = {
                    key: generated[spec.name][key] for key in ("username", "password")
                }
        if args.managed_database is not None:
            # RDS holds the credentials in its own managed secret; only the address is ours.
            database = args.managed_database
            documents["database/connection"] = {
                "host": database.host,
                "port": pulumi.Output.from_input(database.port).apply(str),
                "dbname": args.database_name,
            }
        else:
            documents["database/connection"] = {
                "host": args.in_cluster_database_host or "postgres",
                "port": "5432",
                "dbname": args.database_name,
            }
            documents["database/credentials"] = {
                "username": args.database_username,
                "password": password("database-password"),
            }
        return documents

    def _read_policies(self) -> dict[str, pulumi.Input[str]]:
        """Read (and decrypt) exactly this stack's secrets; the RDS-managed master secret in a
        policy of its own, so the store's other grants never wait for the database."""
        args = self._args

        def read(sid: str, secret_arns: Sequence[str], key_arn: str) -> pulumi.Output[str]:
            return iam.policy_json(
                [
                    iam.allow(sid, READ_ACTIONS, sorted(secret_arns)),
                    # Only as Secrets Manager's GetSecretValue (the key policy allows no other
                    # use either): the role cannot decrypt a ciphertext it got elsewhere.
                    iam.allow(
                        "DecryptWithStackKey",
                        ["kms:Decrypt"],
                        [key_arn],
                        string_equals={
                            "kms:ViaService": f"secretsmanager.{args.region}.amazonaws.com"
                        },
                    ),
                ],
                self,
            )

        policies: dict[str, pulumi.Input[str]] = {
            "read-app-secrets": pulumi.Output.all(self.secret_arns, args.kms_key_arn).apply(
                lambda arns: read("ReadStackSecrets", arns[0], arns[1])
            )
        }
        if args.managed_database is not None:
            policies["read-database-master-secret"] = pulumi.Output.all(
                args.managed_database.master_secret_arn, args.kms_key_arn
            ).apply(lambda arns: read("ReadRdsManagedSecret", [arns[0]], arns[1]))
        return policies

    @property
    def role_name(self) -> str:
        return external_secrets_role_name(self._args.instance)

    @property
    def store_name(self) -> str:
        return f"{self._args.namespace}-aws"

    def _secret(
        self, secret_name: str, path: str, document: Optional[Document]
    ) -> aws.secretsmanager.Secret:
        args = self._args
        resource = path.replace("/", "-")
        protect = pulumi.ResourceOptions(protect=args.protect)
        secret = aws.secretsmanager.Secret(
            f"{self._name}-{resource}",
            aws.secretsmanager.SecretArgs(
                name=secret_name,
                kms_key_id=args.kms_key_arn,
                recovery_window_in_days=args.recovery_window_days,
                description=f"webapp {args.instance}: {path}",
            ),
            opts=pulumi.ResourceOptions.merge(kx.child_options(self, self._opts), protect),
        )
        if document is None:
            # Operator-owned and kept in the store: operators put the value (and every rotation)
            # with `put-secret-value`; nothing here ever writes one, so no up or refresh can revert
            # it.
            return secret
        # Never `protect`ed: every new value (a rotation label, `--replace` of a generated
        # password, a new webhook URL) replaces the version, since `secret_string` is ForceNew
        # (`resourceSecretVersion`, internal/service/secretsmanager/secret_version.go), and a
        # protected one would stop that preview. Nothing is lost by it: the replacement first puts
        # the new value (AWSCURRENT moves to it, the old one becomes AWSPREVIOUS), and deleting
        # the old version only removes its non-current labels (`resourceSecretVersionDelete`);
        # the value lives in the secret, which is protected and has its recovery window.
        # An operator-owned version is retained when it leaves the program (the group switched to
        # `store`): deleting it would strip AWSCURRENT from the only value the pods can read.
        retain = pulumi.ResourceOptions(retain_on_delete=path.startswith(OPERATOR_OWNED))
        self.versions[secret_name] = aws.secretsmanager.SecretVersion(
            f"{self._name}-{resource}-value",
            aws.secretsmanager.SecretVersionArgs(
                secret_id=secret.id,
                secret_string=pulumi.Output.secret(pulumi.Output.json_dumps(dict(document))),
            ),
            opts=pulumi.ResourceOptions.merge(kx.child_options(self, self._opts), retain),
        )
        return secret

    def _create_store(
        self, service_account: k8s.core.v1.ServiceAccount
    ) -> k8s.apiextensions.CustomResource:
        """The ClusterSecretStore, after the role and its app-secrets policy only: the RDS-secret
        policy waits for the database (10-20 minutes), and only `webapp-database` needs it."""
        args = self._args
        namespaces = [args.namespace] + (
            [args.monitoring_namespace] if args.monitoring_namespace else []
        )
        return k8s.apiextensions.CustomResource(
            f"{self._name}-store",
            api_version=API_VERSION,
            kind="ClusterSecretStore",
            # Awaited until Ready: External Secrets has authenticated with the IRSA role.
            metadata=kx.metadata(
                self.store_name,
                None,
                kx.labels(self.store_name, args.instance, "secrets", "v1"),
                kx.AWAIT_READY,
            ),
            spec={
                # Only this stack's namespaces may use the store: another tenant's ExternalSecret
                # cannot.
                "conditions": [{"namespaces": namespaces}],
                "provider": {
                    "aws": {
                        "service": "SecretsManager",
                        "region": args.region,
                        "auth": {
                            "jwt": {
                                "serviceAccountRef": {
                                    "name": service_account.metadata.name,
                                    "namespace": service_account.metadata.namespace,
                                }
                            }
                        },
                    }
                },
            },
            opts=kx.child_options(
                self,
                self._opts,
                [*args.crd_dependencies, self.role.role, self.role.policies["read-app-secrets"]],
            ),
        )

    def _remote_values(self, prefix: str) -> dict[str, dict[str, Remote]]:
        """Per catalogued Secret: each key's Secrets Manager secret and JSON property."""
        args = self._args

        def remote(path: str, *keys: str) -> dict[str, Remote]:
            return {key: Remote(key=f"{prefix}/{path}", property=key) for key in keys}

        credentials = (
            {
                key: Remote(key=args.managed_database.master_secret_arn, property=key)
                for key in ("username", "password")
            }
            if args.managed_database is not None
            else remote("database/credentials", "username", "password")
        )
        oauth = {
            f"{provider}-{part}": Remote(key=f"{prefix}/oauth/{provider}", property=part)
            for provider in OAUTH_PROVIDERS
            for part in OAUTH_PARTS
        }
        return {
            cat.DATABASE.name: {
                **remote("database/connection", "host", "port", "dbname"),
                **credentials,
            },
            cat.REDIS.name: {
                key.replace("-", "_"): Remote(key=f"{prefix}/redis/auth", property=key)
                for key in ("password", *REDIS_GENERATION_KEYS)
            },
            cat.NATS.name: {
                key.replace("-", "_"): Remote(key=f"{prefix}/nats/auth", property=key)
                for key in NATS_PASSWORD_KEYS
            },
            cat.JWT.name: remote("auth/jwt-secret", *cat.JWT.keys),
            cat.OAUTH.name: oauth,
            cat.SMTP.name: remote("email/smtp", "username", "password"),
            cat.ALERTING.name: remote("alerting/receivers", *cat.ALERTING.keys),
            cat.BROADCASTER.name: remote("broadcaster/webhook", "webhook-url"),
            cat.GRAFANA.name: remote("grafana/admin", "admin-user", "admin-password"),
            cat.RABBITMQ.name: remote("rabbitmq/auth", "username", "password"),
            cat.ELASTICSEARCH.name: remote("elasticsearch/auth", "username", "password"),
        }

    def _create_external_secrets(self, prefix: str) -> None:
        """One ExternalSecret per catalogued Secret; database and Redis compose their connection
        forms from the fetched fields (`secrets.values`)."""
        args = self._args
        remotes = self._remote_values(prefix)
        templates = {
            cat.DATABASE.name: database_templates(managed=args.managed_database is not None),
            cat.REDIS.name: redis_templates(args.redis_host),
            cat.NATS.name: nats_templates(
                args.nats_host,
                NATS_PASSWORD_KEYS,
                {user: nats_username(user, args.secret_rotation.use) for user in NATS_USERS},
            ),
        }
        if args.rabbitmq_host:
            templates[cat.RABBITMQ.name] = broker_templates(
                RABBITMQ_FORMS, args.rabbitmq_host, RABBITMQ_PORT
            )
        if args.elasticsearch_host:
            templates[cat.ELASTICSEARCH.name] = {
                **broker_templates(
                    ELASTICSEARCH_FORMS, args.elasticsearch_host, ELASTICSEARCH_PORT
                ),
                "roles": ELASTICSEARCH_ROLES,
            }
        specs = cat.app_secrets(
            rabbitmq=args.rabbitmq_host is not None,
            elasticsearch=args.elasticsearch_host is not None,
        )
        placed = [(spec, args.namespace) for spec in specs]
        if args.monitoring_namespace:
            placed.append((cat.GRAFANA, args.monitoring_namespace))
        self.external_secrets = {}
        # Each waits for the store (awaited Ready), so its first sync succeeds instead of backing
        # off; the database's also for the policy that lets it read the RDS-managed secret.
        database_policy = self.role.policies.get("read-database-master-secret")
        for spec, namespace in placed:
            # And for the values it reads, so its first sync finds them (an operator-owned value
            # kept in the store has no version here: operators write it).
            read = {remote.key for remote in remotes[spec.name].values()}
            depends: list[pulumi.Resource] = [
                *args.crd_dependencies,
                self.store,
                *(version for name, version in self.versions.items() if name in read),
            ]
            if spec is cat.DATABASE and database_policy is not None:
                depends.append(database_policy)
            body = catalogue_external_secret(
                spec,
                self.store_name,
                "ClusterSecretStore",
                remotes[spec.name],
                templates.get(spec.name),
            )
            self.external_secrets[spec.name] = declare_external_secret(
                f"{self._name}-{spec.category}",
                spec,
                namespace,
                args.instance,
                body,
                kx.child_options(self, self._opts, depends),
            )
