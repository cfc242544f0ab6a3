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

from components.aws.irsa import role_arn
from components.aws.kms import StackKey, StackKeyArgs
from components.aws.rds import RdsPostgres, RdsPostgresArgs
from components.aws.secrets import (
    AwsSecretStore,
    AwsSecretStoreArgs,
    ManagedDatabase,
    external_secrets_role_name,
)
from components.config.aws import AwsSettings
from components.secrets import catalogue as cat
from components.secrets.store import GrafanaWiring, ManagedEndpoint, SecretStore, StoreArgs


@dataclass(frozen=True, kw_only=True)
class AwsStoreArgs:
    store: StoreArgs
    """The cloud-neutral inputs every store takes."""
    aws: AwsSettings
    """The validated `webapp:aws` section; the store hands each component only what it reads."""


def _stack_key(name: str, args: AwsStoreArgs, opts: pulumi.ResourceOptions) -> StackKey:
    """The stack's key, usable by External Secrets' role and `webapp:aws.keyUsers` only."""
    settings = args.aws
    return StackKey(
        f"{name}-kms",
        StackKeyArgs(
            instance=args.store.instance,
            existing_key_arn=settings.kms_key_arn,
            protect=args.store.protect,
            account_id=settings.account_id,
            partition=settings.partition,
            region=settings.region,
            users=(
                role_arn(
                    settings.partition,
                    settings.account_id,
                    external_secrets_role_name(args.store.instance),
                ),
                *settings.key_users,
            ),
        ),
        opts=opts,
    )


class AwsStore(SecretStore):
    def __init__(self, name: str, args: AwsStoreArgs, opts: pulumi.ResourceOptions):
        settings = args.aws
        self._database_networks: tuple[str, ...] = ()
        if args.store.managed_database:
            # RDS places the instance in one of the subnet group's subnets (privateSubnetIds).
            self._database_networks = settings.private_subnet_cidrs or (settings.vpc_cidr,)
        key = _stack_key(name, args, opts)
        managed = None
        self._managed_database: Optional[ManagedEndpoint] = None
        if args.store.managed_database:
            # Created in parallel with everything in the cluster: only the database roles Job
            # waits for it (`managed_database`), and api and auth for that Job.
            rds = RdsPostgres(
                f"{name}-rds",
                RdsPostgresArgs(
                    instance=args.store.instance,
                    settings=settings.rds,
                    partition=settings.partition,
                    account_id=settings.account_id,
                    vpc_id=settings.vpc_id,
                    private_subnet_ids=settings.private_subnet_ids,
                    cluster_security_group_id=settings.cluster_security_group_id,
                    admitted_security_group_ids=settings.admitted_security_group_ids,
                    cluster_name=settings.cluster_name,
                    database_name=args.store.database_name,
                    username=args.store.database_username,
                    kms_key_arn=key.arn,
                    protect=args.store.protect,
                ),
                opts=opts,
            )
            self._managed_database = ManagedEndpoint(host=rds.address, ready=(rds,))
            managed = ManagedDatabase(
                host=rds.address, port=rds.port, master_secret_arn=rds.master_secret_arn
            )
        self.secrets = AwsSecretStore(
            f"{name}-secrets",
            AwsSecretStoreArgs(
                namespace=args.store.namespace,
                instance=args.store.instance,
                region=settings.region,
                partition=settings.partition,
                account_id=settings.account_id,
                oidc_provider_arn=settings.oidc_provider_arn,
                oidc_issuer_host=settings.oidc_issuer_host,
                recovery_window_days=settings.secret_recovery_window_days,
                kms_key_arn=key.arn,
                database_name=args.store.database_name,
                database_username=args.store.database_username,
                redis_host=args.store.redis_host,
                nats_host=args.store.nats_host,
                credentials=args.store.credentials,
                secret_rotation=args.store.secret_rotation,
                in_cluster_database_host=None if managed else args.store.in_cluster_database_host,
                managed_database=managed,
                monitoring_namespace=args.store.monitoring_namespace,
                webhook_url=args.store.webhook_url,
                rabbitmq_host=args.store.rabbitmq_host,
                elasticsearch_host=args.store.elasticsearch_host,
                protect=args.store.protect,
                crd_dependencies=args.store.crd_dependencies,
            ),
            opts=opts,
        )
        grafana = args.store.monitoring_namespace is not None
        self._grafana = GrafanaWiring(
            ready=(self.secrets.external_secrets[cat.GRAFANA.name],) if grafana else ()
        )

    @property
    def database_networks(self) -> tuple[str, ...]:
        """The RDS subnet group's subnets (or the whole VPC without `privateSubnetCidrs`)."""
        return self._database_networks

    @property
    def managed_database(self) -> Optional[ManagedEndpoint]:
        """The RDS instance (`database.mode: managed`)."""
        return self._managed_database

    @property
    def grafana(self) -> GrafanaWiring:
        return self._grafana

    def wait_for(
        self, secrets: Sequence[str], *, namespace: str, name: str
    ) -> list[pulumi.Resource]:
        """The ExternalSecrets that produce them, each awaited until its Secret exists. Only
        `webapp-database` waits for RDS (it reads the instance's managed master secret)."""
        del namespace, name
        return [self.secrets.external_secrets[secret] for secret in secrets]
