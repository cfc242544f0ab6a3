"""AwsStore: the stack's secret store on AWS (`webapp:cloud: aws`), behind the `SecretStore`
interface.

Declares, with the names every AWS stack has always had:
- StackKey `<name>-kms`: the customer-managed KMS key (or the configured one)
- RdsPostgres `<name>-rds` when `database.mode` is `managed`
- AwsSecretStore `<name>-secrets`: Secrets Manager, the IRSA role of External Secrets, the
  ClusterSecretStore and one ExternalSecret per catalogued Secret

External Secrets reads Secrets Manager for the pods, so a pod needs no cloud identity of its own:
`grant_read` has nothing to declare and `access` is empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi

from components.aws.kms import StackKey, StackKeyArgs
from components.aws.rds import RdsPostgres, RdsPostgresArgs
from components.aws.secrets import AwsSecretStore, AwsSecretStoreArgs, ManagedDatabase
from components.config.aws import AwsSettings
from components.secrets import catalogue as cat
from components.secrets.store import GrafanaWiring, SecretStore


@dataclass(frozen=True, kw_only=True)
class AwsStoreArgs:
    namespace: str
    """The application namespace (its ExternalSecrets, and the only one besides monitoring that may
    use the ClusterSecretStore)."""
    instance: str
    """The stack name: names the key alias, the secrets' paths, the role and the RDS instance."""
    aws: AwsSettings
    """The validated `webapp:aws` section; the store hands each component only the fields it
    reads.
    """
    database_name: str
    """The application database's name."""
    database_username: str
    """The in-cluster database's user (RDS keeps its own master user)."""
    managed_database: bool
    """True: RDS holds the data and its master password; False: the in-cluster PostgreSQL at
    `in_cluster_database_host` with a generated password."""
    in_cluster_database_host: str
    """The in-cluster PostgreSQL's DNS name, used when the database is not managed."""
    redis_host: str
    """The in-cluster Redis Service's DNS name (the connection strings point at it)."""
    monitoring_namespace: Optional[str] = None
    """Where Grafana's admin Secret goes; None when this program does not install Grafana."""
    webhook_url: Optional[str] = None
    """The broadcaster's webhook URL; None delivers to a discard address. Default None."""
    protect: bool = False
    """Pulumi `protect` on the key, the secrets and the database (production). Default off."""
    crd_dependencies: Sequence[pulumi.Resource] = ()
    """What installs the External Secrets CRDs, when this program does."""


class AwsStore(SecretStore):
    def __init__(self, name: str, args: AwsStoreArgs, opts: pulumi.ResourceOptions):
        settings = args.aws
        key = StackKey(
            f"{name}-kms",
            StackKeyArgs(
                instance=args.instance, existing_key_arn=settings.kms_key_arn, protect=args.protect
            ),
            opts=opts,
        )
        managed = None
        if args.managed_database:
            # Not a dependency of any workload: pods read webapp-database by name, so the 15-minute
            # instance is created in parallel with everything in the cluster.
            rds = RdsPostgres(
                f"{name}-rds",
                RdsPostgresArgs(
                    instance=args.instance,
                    settings=settings.rds,
                    partition=settings.partition,
                    vpc_id=settings.vpc_id,
                    private_subnet_ids=settings.private_subnet_ids,
                    cluster_security_group_id=settings.cluster_security_group_id,
                    cluster_name=settings.cluster_name,
                    database_name=args.database_name,
                    username=args.database_username,
                    kms_key_arn=key.arn,
                    protect=args.protect,
                ),
                opts=opts,
            )
            managed = ManagedDatabase(
                host=rds.address, port=rds.port, master_secret_arn=rds.master_secret_arn
            )
        self.secrets = AwsSecretStore(
            f"{name}-secrets",
            AwsSecretStoreArgs(
                namespace=args.namespace,
                instance=args.instance,
                region=settings.region,
                partition=settings.partition,
                account_id=settings.account_id,
                oidc_provider_arn=settings.oidc_provider_arn,
                oidc_issuer_host=settings.oidc_issuer_host,
                recovery_window_days=settings.secret_recovery_window_days,
                kms_key_arn=key.arn,
                database_name=args.database_name,
                database_username=args.database_username,
                redis_host=args.redis_host,
                in_cluster_database_host=None if managed else args.in_cluster_database_host,
                managed_database=managed,
                monitoring_namespace=args.monitoring_namespace,
                webhook_url=args.webhook_url,
                protect=args.protect,
                crd_dependencies=args.crd_dependencies,
            ),
            opts=opts,
        )
        grafana = args.monitoring_namespace is not None
        self._grafana = GrafanaWiring(
            ready=(self.secrets.external_secrets[cat.GRAFANA.name],) if grafana else ()
        )

    @property
    def grafana(self) -> GrafanaWiring:
        return self._grafana
