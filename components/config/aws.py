"""Settings of the AWS side (`webapp:aws`): the existing EKS cluster's identifiers and RDS sizing.

Pure module. `parse_aws(reader, environment, required)` validates the section precisely (ARN, id
and region formats, the OIDC provider matching its issuer, backup retention 1-35 days, production
safety) and returns `AwsSettings`, or None when the section is absent and not required.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Mapping, Optional

from components.config.reader import Reader, Rule

PARTITION = r"aws(-cn|-us-gov)?"
REGION = Rule(lambda v: bool(re.fullmatch(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d", v)), "an AWS region such as eu-central-1")
_ISSUER = r"oidc\.eks\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/id/[A-F0-9]{32}"
OIDC_PROVIDER_ARN = Rule(lambda v: bool(re.fullmatch(rf"arn:{PARTITION}:iam::\d{{12}}:oidc-provider/{_ISSUER}", v)),
                         "an EKS OIDC provider ARN such as "
                         "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-central-1.amazonaws.com/id/<32 hex>")
ISSUER_URL = Rule(lambda v: bool(re.fullmatch(rf"https://{_ISSUER}", v)),
                  "the cluster's OIDC issuer URL such as https://oidc.eks.eu-central-1.amazonaws.com/id/<32 hex>")
CLUSTER_NAME = Rule(lambda v: bool(re.fullmatch(r"[0-9A-Za-z][A-Za-z0-9\-_]{0,99}", v)), "an EKS cluster name")
VPC_ID = Rule(lambda v: bool(re.fullmatch(r"vpc-([0-9a-f]{8}|[0-9a-f]{17})", v)), "a VPC id such as vpc-0123456789abcdef0")
SUBNET_ID = re.compile(r"subnet-([0-9a-f]{8}|[0-9a-f]{17})")
SECURITY_GROUP_ID = Rule(lambda v: bool(re.fullmatch(r"sg-([0-9a-f]{8}|[0-9a-f]{17})", v)),
                         "a security group id such as sg-0123456789abcdef0")
KMS_KEY_ARN = Rule(lambda v: bool(re.fullmatch(rf"arn:{PARTITION}:kms:[a-z0-9-]+:\d{{12}}:key/[0-9a-f-]{{36}}", v)),
                   "a KMS key ARN such as arn:aws:kms:eu-central-1:123456789012:key/<uuid>")
INSTANCE_CLASS = Rule(lambda v: bool(re.fullmatch(r"db\.[a-z0-9]+\.[a-z0-9]+", v)), "an RDS instance class such as db.m7g.large")
ENGINE_VERSION = Rule(lambda v: bool(re.fullmatch(r"\d{2}(\.\d+)?", v)) and int(v.split(".")[0]) >= 16,
                      "PostgreSQL 16 or newer, such as 16 or 17.6")


def _is_private_cidr(value: str) -> bool:
    try:
        return ipaddress.ip_network(value, strict=True).is_private
    except ValueError:
        return False


VPC_CIDR = Rule(_is_private_cidr, "the VPC's private CIDR block such as 10.0.0.0/16")
MONITORING_INTERVALS = (0, 1, 5, 10, 15, 30, 60)


@dataclass(frozen=True, kw_only=True)
class RdsSettings:
    instance_class: str
    engine_version: str
    allocated_storage: int
    max_allocated_storage: int
    backup_retention_days: int
    multi_az: bool
    deletion_protection: bool
    final_snapshot: bool
    performance_insights: bool
    monitoring_interval: int
    log_exports: bool
    slow_statement_ms: int


@dataclass(frozen=True, kw_only=True)
class AwsSettings:
    region: str
    account_id: str
    """From the OIDC provider ARN (the cluster's account), so no lookup is needed."""
    partition: str
    cluster_name: str
    oidc_provider_arn: str
    oidc_issuer_url: str
    vpc_id: str
    vpc_cidr: str
    private_subnet_ids: tuple[str, ...]
    cluster_security_group_id: str
    kms_key_arn: Optional[str]
    """Use this key instead of creating one for the stack."""
    secret_recovery_window_days: int
    tags: tuple[tuple[str, str], ...]
    rds: RdsSettings

    @property
    def oidc_issuer_host(self) -> str:
        return self.oidc_issuer_url.removeprefix("https://")


RDS_PROFILES: Mapping[str, RdsSettings] = {
    "dev": RdsSettings(instance_class="db.t4g.micro", engine_version="16", allocated_storage=20, max_allocated_storage=50,
                       backup_retention_days=1, multi_az=False, deletion_protection=False, final_snapshot=False,
                       performance_insights=False, monitoring_interval=0, log_exports=False, slow_statement_ms=500),
    "staging": RdsSettings(instance_class="db.t4g.medium", engine_version="16", allocated_storage=20, max_allocated_storage=100,
                           backup_retention_days=7, multi_az=False, deletion_protection=False, final_snapshot=True,
                           performance_insights=False, monitoring_interval=0, log_exports=True, slow_statement_ms=500),
    "production": RdsSettings(instance_class="db.m7g.large", engine_version="16", allocated_storage=100,
                              max_allocated_storage=1000, backup_retention_days=14, multi_az=True, deletion_protection=True,
                              final_snapshot=True, performance_insights=True, monitoring_interval=60, log_exports=True,
                              slow_statement_ms=500),
}
REQUIRED = ("region", "clusterName", "oidcProviderArn", "oidcIssuerUrl", "vpcId", "vpcCidr", "privateSubnetIds",
            "clusterSecurityGroupId")


def parse_aws(r: Reader, environment: str, required: bool) -> Optional[AwsSettings]:
    """Parse `webapp:aws`; `required` when `webapp:cloud` is aws (then every cluster input must be set)."""
    if not r.items():
        if required:
            r.report(f"{r.path}: missing; webapp:cloud is aws, so set {', '.join(REQUIRED)}")
        return None
    region = r.opt_text("region", rule=REGION)
    cluster = r.opt_text("clusterName", rule=CLUSTER_NAME)
    provider = r.opt_text("oidcProviderArn", rule=OIDC_PROVIDER_ARN)
    issuer = r.opt_text("oidcIssuerUrl", rule=ISSUER_URL)
    vpc = r.opt_text("vpcId", rule=VPC_ID)
    cidr = r.opt_text("vpcCidr", rule=VPC_CIDR)
    sg = r.opt_text("clusterSecurityGroupId", rule=SECURITY_GROUP_ID)
    kms = r.opt_text("kmsKeyArn", rule=KMS_KEY_ARN)
    subnets: list[str] = []
    for i, subnet in enumerate(r.sequence("privateSubnetIds")):
        if isinstance(subnet, str) and SUBNET_ID.fullmatch(subnet):
            subnets.append(subnet)
        else:
            r.report(f"{r.key('privateSubnetIds')}[{i}]: {subnet!r} is not allowed; expected a subnet id such as "
                     "subnet-0123456789abcdef0")
    if r.has("privateSubnetIds") and len(subnets) < 2 and len(subnets) == len(r.sequence("privateSubnetIds")):
        r.report(f"{r.key('privateSubnetIds')}: {subnets!r} is not allowed; expected at least 2 subnets in different "
                 "availability zones (an RDS subnet group needs two)")
    if len(set(subnets)) != len(subnets):
        r.report(f"{r.key('privateSubnetIds')}: {subnets!r} lists a subnet twice")
    recovery = r.integer("secretRecoveryWindowDays", 30 if environment == "production" else 7, minimum=7, maximum=30)
    tags_reader = r.section("tags")
    tags = []
    for key, value in tags_reader.items():
        valid_value = isinstance(value, str) and re.fullmatch(r"[\w .:/=+\-@]{0,256}", value)
        if not valid_value or not re.fullmatch(r"[\w .:/=+\-@]{1,128}", key) or key.startswith("aws:"):
            tags_reader.problem(key, value, "a tag of letters, digits, spaces and _.:/=+-@ (keys not starting with aws:)")
        else:
            tags.append((key, value))
    rds = _rds(r.section("database"), environment)
    for key in REQUIRED:
        if required and not r.has(key) and key != "privateSubnetIds":
            r.report(f"{r.key(key)}: missing; webapp:cloud is aws, so the cluster's {key} is needed")
    if required and not r.has("privateSubnetIds"):
        r.report(f"{r.key('privateSubnetIds')}: missing; webapp:cloud is aws, so list the cluster's private subnets")
    if provider and issuer and not provider.endswith("oidc-provider/" + issuer.removeprefix("https://")):
        r.report(f"{r.key('oidcProviderArn')}: {provider!r} is not the provider of {r.key('oidcIssuerUrl')} {issuer!r}; "
                 "expected the ARN ending in oidc-provider/<issuer host and path>")
    if provider and region and f"oidc.eks.{region}." not in provider:
        r.report(f"{r.key('oidcProviderArn')}: {provider!r} belongs to another region than {r.key('region')} {region!r}")
    if kms and region and f":kms:{region}:" not in kms:
        r.report(f"{r.key('kmsKeyArn')}: {kms!r} is not in {r.key('region')} {region!r}; expected a key in the stack's region")
    r.finish()
    if None in (region, cluster, provider, issuer, vpc, cidr, sg) or len(subnets) < 2 or rds is None:
        return None
    assert provider is not None
    partition, account = provider.split(":")[1], provider.split(":")[4]
    return AwsSettings(region=region, account_id=account, partition=partition, cluster_name=cluster,  # type: ignore[arg-type]
                       oidc_provider_arn=provider, oidc_issuer_url=issuer, vpc_id=vpc, vpc_cidr=cidr,  # type: ignore[arg-type]
                       private_subnet_ids=tuple(subnets), cluster_security_group_id=sg,  # type: ignore[arg-type]
                       kms_key_arn=kms, secret_recovery_window_days=recovery, tags=tuple(sorted(tags)), rds=rds)


def _rds(r: Reader, environment: str) -> Optional[RdsSettings]:
    d = RDS_PROFILES[environment]
    rds = RdsSettings(
        instance_class=r.text("instanceClass", d.instance_class, rule=INSTANCE_CLASS),
        engine_version=r.text("engineVersion", d.engine_version, rule=ENGINE_VERSION),
        allocated_storage=r.integer("allocatedStorage", d.allocated_storage, minimum=20, maximum=65536),
        max_allocated_storage=r.integer("maxAllocatedStorage", d.max_allocated_storage, minimum=20, maximum=65536),
        backup_retention_days=r.integer("backupRetentionDays", d.backup_retention_days, minimum=1, maximum=35),
        multi_az=r.flag("multiAz", d.multi_az),
        deletion_protection=r.flag("deletionProtection", d.deletion_protection),
        final_snapshot=r.flag("finalSnapshot", d.final_snapshot),
        performance_insights=r.flag("performanceInsights", d.performance_insights),
        monitoring_interval=r.integer("monitoringInterval", d.monitoring_interval, minimum=0, maximum=60),
        log_exports=r.flag("logExports", d.log_exports),
        slow_statement_ms=r.integer("slowStatementMs", d.slow_statement_ms, minimum=0, maximum=600000),
    )
    ok = True
    if rds.monitoring_interval not in MONITORING_INTERVALS:
        r.problem("monitoringInterval", rds.monitoring_interval, f"one of {', '.join(map(str, MONITORING_INTERVALS))}")
        ok = False
    if rds.max_allocated_storage < rds.allocated_storage:
        r.problem("maxAllocatedStorage", rds.max_allocated_storage, f"at least allocatedStorage ({rds.allocated_storage})")
        ok = False
    if environment == "production":
        # Production data is never at risk from a typo: these can only be relaxed outside production.
        for key, value, want in (("deletionProtection", rds.deletion_protection, True), ("finalSnapshot", rds.final_snapshot, True),
                                 ("multiAz", rds.multi_az, True)):
            if value is not want:
                r.problem(key, value, f"{str(want).lower()} in production")
                ok = False
        if rds.backup_retention_days < 7:
            r.problem("backupRetentionDays", rds.backup_retention_days, "at least 7 in production")
            ok = False
    r.finish()
    return rds if ok else None
