"""RdsPostgres: a private, encrypted, backed-up RDS PostgreSQL instance for `cloud: aws`.

Creates (parented to the component):
- `aws.ec2.SecurityGroup`: no egress, ingress only 5432 from the cluster's security group
- `aws.rds.SubnetGroup` on the private subnets
- `aws.rds.ParameterGroup` (postgres<major>): `rds.force_ssl=1`, slow statements logged
- Enhanced Monitoring role (when the interval is not 0)
- `random.RandomId` making the final snapshot identifier unique
- `aws.rds.Instance`: PostgreSQL 16+, storage encrypted with the stack key and autoscaling,
  IAM authentication, auto minor upgrades, never public; master password managed by RDS in
  Secrets Manager (`manage_master_user_password`), so it never enters Pulumi state; Multi-AZ,
  deletion protection, final snapshot, Performance Insights, Enhanced Monitoring and CloudWatch
  log exports as the environment's settings say (production: all on, enforced by the settings).
  `protect`ed in production.

Nothing in Kubernetes depends on this instance: workloads read the `webapp-database` Secret by name,
and only its ExternalSecret (not a workload) refers to the instance's managed secret.
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


@dataclass(frozen=True, kw_only=True)
class RdsPostgresArgs:
    instance: str
    """The stack name; the instance is `webapp-<instance>`."""
    settings: RdsSettings
    """Class, engine, storage, backups and the production safeguards (validated by the settings)."""
    partition: str
    vpc_id: str
    private_subnet_ids: tuple[str, ...]
    cluster_security_group_id: str
    """The only security group allowed to reach the database."""
    cluster_name: str
    database_name: str
    username: str
    kms_key_arn: pulumi.Input[str]
    protect: bool = False


class RdsPostgres(pulumi.ComponentResource):
    address: pulumi.Output[str]
    port: pulumi.Output[int]
    master_secret_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: RdsPostgresArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:aws:RdsPostgres", name, None, opts)
        args, rds = args, args.settings
        child = kx.child_options(self, opts)
        identifier = f"webapp-{args.instance}"
        major = rds.engine_version.split(".")[0]

        security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            aws.ec2.SecurityGroupArgs(
                name=f"{identifier}-postgres",
                vpc_id=args.vpc_id,
                description=f"PostgreSQL for {identifier}: 5432 from the cluster only",
                ingress=[
                    aws.ec2.SecurityGroupIngressArgs(
                        protocol="tcp",
                        from_port=PORT,
                        to_port=PORT,
                        security_groups=[args.cluster_security_group_id],
                        description="PostgreSQL from the EKS cluster",
                    )
                ],
                egress=[],  # a database initiates no connections
            ),
            opts=child,
        )
        subnet_group = aws.rds.SubnetGroup(
            f"{name}-subnets",
            aws.rds.SubnetGroupArgs(
                name=identifier,
                subnet_ids=list(args.private_subnet_ids),
                description=f"private subnets of {args.cluster_name}",
            ),
            opts=child,
        )
        parameters = aws.rds.ParameterGroup(
            f"{name}-parameters",
            aws.rds.ParameterGroupArgs(
                name=f"{identifier}-postgres{major}",
                family=f"postgres{major}",
                description=f"{identifier}: TLS only, slow statements logged",
                parameters=[
                    aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
                    aws.rds.ParameterGroupParameterArgs(
                        name="log_min_duration_statement", value=str(rds.slow_statement_ms)
                    ),
                    aws.rds.ParameterGroupParameterArgs(name="log_connections", value="1"),
                ],
            ),
            opts=child,
        )
        monitoring_role: Optional[aws.iam.Role] = None
        if rds.monitoring_interval:
            monitoring_role = aws.iam.Role(
                f"{name}-monitoring",
                aws.iam.RoleArgs(
                    name=f"{identifier}-rds-monitoring",
                    assume_role_policy=iam.policy_json(
                        [iam.assume_role("Service", ["monitoring.rds.amazonaws.com"])], self
                    ),
                ),
                opts=child,
            )
            aws.iam.RolePolicyAttachment(
                f"{name}-monitoring-policy",
                aws.iam.RolePolicyAttachmentArgs(
                    role=monitoring_role.name,
                    policy_arn=ENHANCED_MONITORING_POLICY.format(partition=args.partition),
                ),
                opts=child,
            )
        # A fixed final snapshot name would collide on the second destroy; a random suffix chosen at
        # creation keeps it unique and stable for the life of the instance.
        suffix = random.RandomId(f"{name}-final-snapshot-suffix", byte_length=4, opts=child)

        self.instance = aws.rds.Instance(
            f"{name}-instance",
            aws.rds.InstanceArgs(
                identifier=identifier,
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
                final_snapshot_identifier=pulumi.Output.concat(identifier, "-final-", suffix.hex)
                if rds.final_snapshot
                else None,
                auto_minor_version_upgrade=True,
                allow_major_version_upgrade=False,
                apply_immediately=False,
                performance_insights_enabled=rds.performance_insights,
                performance_insights_kms_key_id=args.kms_key_arn
                if rds.performance_insights
                else None,
                performance_insights_retention_period=7 if rds.performance_insights else None,
                monitoring_interval=rds.monitoring_interval,
                monitoring_role_arn=monitoring_role.arn if monitoring_role else None,
                enabled_cloudwatch_logs_exports=["postgresql", "upgrade"]
                if rds.log_exports
                else None,
            ),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect)),
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


def _master_secret_arn(secrets: Sequence[aws.rds.outputs.InstanceMasterUserSecret]) -> str:
    if not secrets or not secrets[0].secret_arn:
        raise ValueError(
            "RDS returned no managed master user secret; manage_master_user_password must be on"
        )
    return secrets[0].secret_arn
