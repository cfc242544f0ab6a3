"""RdsPostgres: a private, encrypted, backed-up RDS PostgreSQL instance for `cloud: aws`.

Creates (parented to the component):
- `aws.ec2.SecurityGroup`: no egress, ingress only 5432 from the cluster's security group and the
  configured `admittedSecurityGroupIds`
- `aws.rds.SubnetGroup` on the private subnets
- `aws.rds.ParameterGroup` (postgres<major>): `rds.force_ssl=1`, slow statements logged
- Enhanced Monitoring role (when the interval is not 0)
- `random.RandomId` making the final snapshot identifier unique
- `aws.rds.Instance`: PostgreSQL 16+, storage encrypted with the stack key and autoscaling,
  IAM authentication, auto minor upgrades, never public; master password managed by RDS in
  Secrets Manager (`manage_master_user_password`), so it never enters Pulumi state; Multi-AZ,
  deletion protection, final snapshot, Performance Insights, Enhanced Monitoring and CloudWatch
  log exports as the environment's settings say (production: all on, enforced by the settings);
  changes applied by the up that carries them unless `applyImmediately` is off, in an explicit
  maintenance window. `protect`ed in production.

A major version change is refused by the data lock (`aws.database.engineVersion`) until it is
recorded; the up that carries it then creates the new family's parameter group, modifies the
instance with the new version and group in one call, and deletes the old group (README "Upgrading
PostgreSQL's major version").

No workload depends on this instance directly: they read Secrets by name, and only the
`webapp-database` ExternalSecret refers to its managed secret. The database roles Job
(`data.database_roles`) waits for it, and api and auth for that Job's Secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.aws import iam
from components.config.aws import RdsSettings
from components.kube import objects as kx

PORT = 5432
ENHANCED_MONITORING_POLICY = (
    "arn:{partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
)


def rds_identifier(instance: str) -> str:
    """The instance's identifier (CloudWatch's `DBInstanceIdentifier`)."""
    return f"webapp-{instance}"


@dataclass(frozen=True, kw_only=True)
class RdsPostgresArgs:
    instance: str
    """The stack name; the instance is `webapp-<instance>`."""
    settings: RdsSettings
    """Class, engine, storage, backups and the production safeguards (validated by the settings)."""
    partition: str
    """The AWS partition (aws, aws-cn, aws-us-gov), for the managed policy ARN."""
    account_id: str
    """The stack's account: only RDS acting for it may assume the monitoring role."""
    vpc_id: str
    """The cluster's VPC: the database security group lives in it."""
    private_subnet_ids: tuple[str, ...]
    """At least two private subnets in different zones (the subnet group)."""
    cluster_security_group_id: str
    """The cluster's security group, allowed to reach the database."""
    admitted_security_group_ids: tuple[str, ...] = ()
    """Further security groups allowed on 5432 (Karpenter nodes, security groups for pods).
    Default: none."""
    cluster_name: str
    """The EKS cluster's name (descriptions only)."""
    database_name: str
    """The application database's name."""
    username: str
    """The master user; RDS manages its password in Secrets Manager."""
    kms_key_arn: pulumi.Input[str]
    """Encrypts storage, Performance Insights and the managed master secret."""
    protect: bool = False
    """Pulumi `protect` on the instance (production). Default off."""


class RdsPostgres(pulumi.ComponentResource):
    address: pulumi.Output[str]
    port: pulumi.Output[int]
    master_secret_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: RdsPostgresArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:aws:RdsPostgres", name, None, opts)
        self._name, self._args = name, args
        self._child = kx.child_options(self, opts)
        self._identifier = rds_identifier(args.instance)
        security_group, subnet_group = self._create_network()
        parameters = self._create_parameters()
        monitoring_role = (
            self._create_monitoring_role() if args.settings.monitoring_interval else None
        )
        # A fixed final snapshot name would collide on the second destroy; a random suffix chosen at
        # creation keeps it unique and stable for the life of the instance.
        suffix = random.RandomId(f"{name}-final-snapshot-suffix", byte_length=4, opts=self._child)
        self.instance = aws.rds.Instance(
            f"{name}-instance",
            self._instance_args(security_group, subnet_group, parameters, monitoring_role, suffix),
            opts=pulumi.ResourceOptions.merge(
                self._child, pulumi.ResourceOptions(protect=args.protect)
            ),
        )
        self.address = self.instance.address
        self.port = self.instance.port
        self.master_secret_arn = self.instance.master_user_secrets.apply(_master_secret_arn)
        self.register_outputs(
            {
                "address": self.address,
                "port": self.port,
                "master_secret_arn": self.master_secret_arn,
            }
        )

    def _create_network(self) -> tuple[aws.ec2.SecurityGroup, aws.rds.SubnetGroup]:
        """5432 from the cluster's (and the admitted) security groups only, in the cluster's
        private subnets. A group added or removed is an in-place rule change (the security group
        keeps its id, so the instance is not touched)."""
        args, identifier = self._args, self._identifier
        security_group = aws.ec2.SecurityGroup(
            f"{self._name}-sg",
            aws.ec2.SecurityGroupArgs(
                name=f"{identifier}-postgres",
                vpc_id=args.vpc_id,
                description=f"PostgreSQL for {identifier}: 5432 from the cluster only",
                ingress=[
                    aws.ec2.SecurityGroupIngressArgs(
                        protocol="tcp",
                        from_port=PORT,
                        to_port=PORT,
                        security_groups=[
                            args.cluster_security_group_id,
                            *args.admitted_security_group_ids,
                        ],
                        description="PostgreSQL from the EKS cluster",
                    )
                ],
                egress=[],  # a database initiates no connections
            ),
            opts=self._child,
        )
        subnet_group = aws.rds.SubnetGroup(
            f"{self._name}-subnets",
            aws.rds.SubnetGroupArgs(
                name=identifier,
                subnet_ids=list(args.private_subnet_ids),
                description=f"private subnets of {args.cluster_name}",
            ),
            opts=self._child,
        )
        return security_group, subnet_group

    def _create_parameters(self) -> aws.rds.ParameterGroup:
        """TLS only; slow statements and connections logged."""
        settings, identifier = self._args.settings, self._identifier
        major = settings.engine_version.split(".")[0]
        return aws.rds.ParameterGroup(
            f"{self._name}-parameters",
            aws.rds.ParameterGroupArgs(
                name=f"{identifier}-postgres{major}",
                family=f"postgres{major}",
                description=f"{identifier}: TLS only, slow statements logged",
                parameters=[
                    aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
                    aws.rds.ParameterGroupParameterArgs(
                        name="log_min_duration_statement", value=str(settings.slow_statement_ms)
                    ),
                    aws.rds.ParameterGroupParameterArgs(name="log_connections", value="1"),
                    # Every schema change is in the log (who altered what, when).
                    aws.rds.ParameterGroupParameterArgs(name="log_statement", value="ddl"),
                ],
            ),
            opts=self._child,
        )

    def _create_monitoring_role(self) -> aws.iam.Role:
        """The role Enhanced Monitoring publishes OS metrics with (trusted by RDS only)."""
        role = aws.iam.Role(
            f"{self._name}-monitoring",
            aws.iam.RoleArgs(
                name=f"{self._identifier}-rds-monitoring",
                # aws:SourceAccount: RDS assumes the role only for this account's instances
                # (the confused-deputy guard of "Setting up and enabling Enhanced Monitoring",
                # docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Monitoring.OS.Enabling.html).
                assume_role_policy=iam.policy_json(
                    [
                        iam.assume_role(
                            "Service",
                            ["monitoring.rds.amazonaws.com"],
                            string_equals={"aws:SourceAccount": self._args.account_id},
                        )
                    ],
                    self,
                ),
            ),
            opts=self._child,
        )
        aws.iam.RolePolicyAttachment(
            f"{self._name}-monitoring-policy",
            aws.iam.RolePolicyAttachmentArgs(
                role=role.name,
                policy_arn=ENHANCED_MONITORING_POLICY.format(partition=self._args.partition),
            ),
            opts=self._child,
        )
        return role

    def _instance_args(
        self,
        security_group: aws.ec2.SecurityGroup,
        subnet_group: aws.rds.SubnetGroup,
        parameters: aws.rds.ParameterGroup,
        monitoring_role: Optional[aws.iam.Role],
        suffix: random.RandomId,
    ) -> aws.rds.InstanceArgs:
        """Private, encrypted with the stack key, managed master password, and the production
        safeguards the settings validated (Multi-AZ, deletion protection, final snapshot)."""
        args, rds = self._args, self._args.settings
        insights = rds.performance_insights
        return aws.rds.InstanceArgs(
            identifier=self._identifier,
            engine="postgres",
            engine_version=rds.engine_version,
            instance_class=rds.instance_class,
            db_name=args.database_name,
            username=args.username,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=args.kms_key_arn,
            iam_database_authentication_enabled=True,
            allocated_storage=rds.allocated_storage,
            max_allocated_storage=rds.max_allocated_storage,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=args.kms_key_arn,
            db_subnet_group_name=subnet_group.name,
            vpc_security_group_ids=[security_group.id],
            parameter_group_name=parameters.name,
            publicly_accessible=False,
            port=PORT,
            multi_az=rds.multi_az,
            backup_retention_period=rds.backup_retention_days,
            copy_tags_to_snapshot=True,
            delete_automated_backups=False,
            deletion_protection=rds.deletion_protection,
            skip_final_snapshot=not rds.final_snapshot,
            final_snapshot_identifier=pulumi.Output.concat(self._identifier, "-final-", suffix.hex)
            if rds.final_snapshot
            else None,
            auto_minor_version_upgrade=True,
            # The data lock refuses a new major version until it is recorded (README "Upgrading
            # PostgreSQL's major version"); once it is, the provider sends the version, this flag
            # and the new parameter group in one ModifyDBInstance (`resourceInstanceUpdate`,
            # internal/service/rds/instance.go), as RDS requires for a custom group. Changing only
            # this flag calls nothing (the same function skips it).
            allow_major_version_upgrade=True,
            # Held changes would be read back as the old value by every refresh until the window
            # (previews and drift re-plan them): applied now unless the stack chose the window.
            apply_immediately=rds.apply_immediately,
            maintenance_window=rds.maintenance_window,
            performance_insights_enabled=insights,
            performance_insights_kms_key_id=args.kms_key_arn if insights else None,
            performance_insights_retention_period=7 if insights else None,
            monitoring_interval=rds.monitoring_interval,
            monitoring_role_arn=monitoring_role.arn if monitoring_role else None,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"] if rds.log_exports else None,
        )


def _master_secret_arn(secrets: Sequence[aws.rds.outputs.InstanceMasterUserSecret]) -> str:
    if not secrets or not secrets[0].secret_arn:
        raise ValueError(
            "RDS returned no managed master user secret; manage_master_user_password must be on"
        )
    return secrets[0].secret_arn
