"""Settings of the AWS side (`webapp:aws`): the existing EKS cluster's identifiers and RDS sizing.

Pure module. `parse_aws(reader, environment, required)` validates the section precisely (ARN, id
and region formats, the OIDC provider matching its issuer, backup retention 1-35 days, production
safety) and returns `AwsSettings`, or None when the section is absent and not required.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Mapping, Optional, Union

from components.config import quantities as q
from components.config.reader import Reader, Rule

PARTITION = r"aws(-cn|-us-gov)?"
REGION = Rule(
    lambda value: bool(re.fullmatch(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d", value)),
    "an AWS region such as eu-central-1",
)
_ISSUER = r"oidc\.eks\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/id/[A-F0-9]{32}"
OIDC_PROVIDER_ARN = Rule(
    lambda value: bool(
        re.fullmatch(rf"arn:{PARTITION}:iam::\d{{12}}:oidc-provider/{_ISSUER}", value)
    ),
    "an EKS OIDC provider ARN such as "
    "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-central-1.amazonaws.com/id/<32 hex>",
)
ISSUER_URL = Rule(
    lambda value: bool(re.fullmatch(rf"https://{_ISSUER}", value)),
    "the cluster's OIDC issuer URL such as https://oidc.eks.eu-central-1.amazonaws.com/id/<32 hex>",
)
CLUSTER_NAME = Rule(
    lambda value: bool(re.fullmatch(r"[0-9A-Za-z][A-Za-z0-9\-_]{0,99}", value)),
    "an EKS cluster name",
)
VPC_ID = Rule(
    lambda value: bool(re.fullmatch(r"vpc-([0-9a-f]{8}|[0-9a-f]{17})", value)),
    "a VPC id such as vpc-0123456789abcdef0",
)
SUBNET_ID = re.compile(r"subnet-([0-9a-f]{8}|[0-9a-f]{17})")
SECURITY_GROUP_ID = Rule(
    lambda value: bool(re.fullmatch(r"sg-([0-9a-f]{8}|[0-9a-f]{17})", value)),
    "a security group id such as sg-0123456789abcdef0",
)
KMS_KEY_ARN = Rule(
    lambda value: bool(
        re.fullmatch(rf"arn:{PARTITION}:kms:[a-z0-9-]+:\d{{12}}:key/[0-9a-f-]{{36}}", value)
    ),
    "a KMS key ARN such as arn:aws:kms:eu-central-1:123456789012:key/<uuid>",
)
INSTANCE_CLASS = Rule(
    lambda value: bool(re.fullmatch(r"db\.[a-z0-9]+\.[a-z0-9]+", value)),
    "an RDS instance class such as db.m7g.large",
)
ENGINE_VERSION = Rule(
    lambda value: bool(re.fullmatch(r"\d{2}(\.\d+)?", value)) and int(value.split(".")[0]) >= 16,
    "PostgreSQL 16 or newer, such as 16 or 17.6",
)


def _is_private_cidr(value: str) -> bool:
    # A bare address parses as a /32 network: refused, it is a host, not an address space.
    try:
        return "/" in value and ipaddress.ip_network(value, strict=True).is_private
    except ValueError:
        return False


VPC_CIDR = Rule(
    _is_private_cidr, "the VPC's private CIDR block such as 10.0.0.0/16", q.cidr_problem
)
MONITORING_INTERVALS = (0, 1, 5, 10, 15, 30, 60)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(
    r"(?P<d1>[a-z]{3}):(?P<h1>\d\d):(?P<m1>\d\d)-(?P<d2>[a-z]{3}):(?P<h2>\d\d):(?P<m2>\d\d)"
)


def _window_minutes(value: str) -> Optional[int]:
    """The length of a `ddd:hh:mm-ddd:hh:mm` window in minutes (wrapping over the week), or None
    when it is not one."""
    found = _WINDOW.fullmatch(value)
    if found is None or found["d1"] not in DAYS or found["d2"] not in DAYS:
        return None
    hours, minutes = (int(found["h1"]), int(found["h2"])), (int(found["m1"]), int(found["m2"]))
    if max(hours) > 23 or max(minutes) > 59:
        return None
    start = DAYS.index(found["d1"]) * 1440 + hours[0] * 60 + minutes[0]
    end = DAYS.index(found["d2"]) * 1440 + hours[1] * 60 + minutes[1]
    return (end - start) % (7 * 1440)


MAINTENANCE_WINDOW = Rule(
    # RDS refuses a window shorter than 30 minutes (PreferredMaintenanceWindow, ModifyDBInstance).
    lambda value: (_window_minutes(value) or 0) >= 30,
    "a weekly UTC window of at least 30 minutes such as sun:03:00-sun:04:00 (ddd:hh:mm-ddd:hh:mm)",
)


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
    apply_immediately: bool = True
    """`applyImmediately`: a class, storage or engine change is applied by the `pulumi up` that
    carries it. Off, RDS holds it until `maintenance_window`, and until then every refresh reads
    the old value back, so previews and the drift check show the change again (the provider reads
    the instance's current class, not its pending one: `resourceInstanceRead`,
    internal/service/rds/instance.go). Default true in every profile."""
    maintenance_window: str = "sun:03:00-sun:04:00"
    """`maintenanceWindow` (UTC, `ddd:hh:mm-ddd:hh:mm`, at least 30 minutes): when RDS applies
    minor upgrades and held changes. Explicit, so RDS never picks one at random per instance."""


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
    private_subnet_cidrs: tuple[str, ...] = ()
    """`privateSubnetCidrs`: the CIDR of each of `privateSubnetIds` (the RDS subnet group's
    subnets), so api and auth reach 5432 there only. Default (): the whole `vpcCidr` (a subnet
    id is not an address, and a NetworkPolicy matches addresses)."""
    cluster_security_group_id: str
    admitted_security_group_ids: tuple[str, ...] = ()
    """`admittedSecurityGroupIds`: further security groups let in on 5432 besides
    `clusterSecurityGroupId` (Karpenter nodes, custom launch templates, security groups for pods).
    Default (): the cluster's only."""
    kms_key_arn: Optional[str]
    """Use this key instead of creating one for the stack."""
    key_users: tuple[str, ...] = ()
    """`keyUsers`: the IAM roles (besides External Secrets' own) that may use the stack's key,
    and only through Secrets Manager and RDS: the deploy role, the read (preview, drift) roles,
    the operators' role that writes operator-owned values. Required when the program creates
    the key; an IAM policy elsewhere in the account that allows kms:Decrypt gets nothing."""
    secret_recovery_window_days: int
    """`secretRecoveryWindowDays`: 0 deletes a destroyed stack's secrets at once (its names are
    free for a re-created stack); 7-30 keeps them restorable that long (and their names taken)."""
    tags: tuple[tuple[str, str], ...]
    rds: RdsSettings

    @property
    def oidc_issuer_host(self) -> str:
        return self.oidc_issuer_url.removeprefix("https://")


RDS_PROFILES: Mapping[str, RdsSettings] = {
    "dev": RdsSettings(
        instance_class="db.t4g.micro",
        engine_version="16",
        allocated_storage=20,
        max_allocated_storage=50,
        backup_retention_days=1,
        multi_az=False,
        deletion_protection=False,
        final_snapshot=False,
        performance_insights=False,
        monitoring_interval=0,
        log_exports=False,
        slow_statement_ms=500,
    ),
    "staging": RdsSettings(
        instance_class="db.t4g.medium",
        engine_version="16",
        allocated_storage=20,
        max_allocated_storage=100,
        backup_retention_days=7,
        multi_az=False,
        deletion_protection=False,
        final_snapshot=True,
        performance_insights=False,
        monitoring_interval=0,
        log_exports=True,
        slow_statement_ms=500,
    ),
    "production": RdsSettings(
        instance_class="db.m7g.large",
        engine_version="16",
        allocated_storage=100,
        max_allocated_storage=1000,
        backup_retention_days=14,
        multi_az=True,
        deletion_protection=True,
        final_snapshot=True,
        performance_insights=True,
        monitoring_interval=60,
        log_exports=True,
        slow_statement_ms=500,
    ),
}
REQUIRED = (
    "region",
    "clusterName",
    "oidcProviderArn",
    "oidcIssuerUrl",
    "vpcId",
    "vpcCidr",
    "privateSubnetIds",
    "clusterSecurityGroupId",
)


def parse_aws(reader: Reader, environment: str, required: bool) -> Optional[AwsSettings]:
    """Parse `webapp:aws`; `required` when `webapp:cloud` is aws (then every cluster input must be
    set). Returns None when the section is absent or has a problem (it is recorded).
    """
    if not reader.items():
        if required:
            reader.report(
                f"{reader.path}: missing; webapp:cloud is aws, so set {', '.join(REQUIRED)}"
            )
        return None
    ids = _cluster_ids(reader)
    subnets = _subnets(reader)
    subnet_cidrs = _subnet_cidrs(reader, ids["vpc_cidr"], subnets)
    recovery = _recovery_window(reader, environment)
    admitted = _admitted_groups(reader)
    tags = _tags(reader.section("tags"))
    rds = _rds(reader.section("database"), environment)
    if required:
        _check_required(reader)
    _check_ids(reader, ids)
    key_users = _key_users(reader, ids, required)
    reader.finish()
    kms_key_arn = ids.pop("kms_key_arn")  # optional: without it the stack creates its key
    found = {key: value for key, value in ids.items() if value is not None}
    provider = found.get("oidc_provider_arn")
    if len(found) < len(ids) or provider is None or len(subnets) < 2 or rds is None:
        return None
    return AwsSettings(
        **found,
        kms_key_arn=kms_key_arn,
        key_users=key_users,
        account_id=provider.split(":")[4],
        partition=provider.split(":")[1],
        private_subnet_ids=subnets,
        private_subnet_cidrs=subnet_cidrs,
        admitted_security_group_ids=admitted,
        secret_recovery_window_days=recovery,
        tags=tags,
        rds=rds,
    )


RECOVERY_WINDOWS: Mapping[str, int] = {"dev": 0, "staging": 0, "production": 30}
"""`secretRecoveryWindowDays` by profile. Secrets Manager takes 0 (`ForceDeleteWithoutRecovery`)
or 7-30 days, and a secret scheduled for deletion keeps its name until then: a non-production
stack destroyed and re-created the same day would fail on `CreateSecret` (the provider sends
`RecoveryWindowInDays` or `ForceDeleteWithoutRecovery` from `recovery_window_in_days`,
`resourceSecretDelete`, internal/service/secretsmanager/secret.go). Production keeps 30 days."""


def _recovery_window(reader: Reader, environment: str) -> int:
    """`secretRecoveryWindowDays`: 0 or 7-30; production at least 7 (a deleted secret must stay
    restorable)."""
    days = reader.integer(
        "secretRecoveryWindowDays", RECOVERY_WINDOWS[environment], minimum=0, maximum=30
    )
    if 0 < days < 7:
        reader.problem(
            "secretRecoveryWindowDays",
            days,
            "0 (delete at once, the names are free again) or 7 to 30 (Secrets Manager's range)",
        )
    elif days == 0 and environment == "production":
        reader.problem(
            "secretRecoveryWindowDays", days, "7 to 30 in production (deleted secrets restorable)"
        )
    return days


def _admitted_groups(reader: Reader) -> tuple[str, ...]:
    """`admittedSecurityGroupIds`: distinct security group ids let in on 5432 as well."""
    key = reader.key("admittedSecurityGroupIds")
    groups: list[str] = []
    for index, group in enumerate(reader.sequence("admittedSecurityGroupIds")):
        if not (isinstance(group, str) and SECURITY_GROUP_ID.check(group)):
            reader.report(
                f"{key}[{index}]: {group!r} is not allowed; expected a security group id such as "
                "sg-0123456789abcdef0"
            )
        elif group in groups or group == reader.value("clusterSecurityGroupId"):
            reader.report(
                f"{key}[{index}]: {group!r} is listed twice (clusterSecurityGroupId is admitted "
                "already)"
            )
        else:
            groups.append(group)
    return tuple(groups)


def _cluster_ids(reader: Reader) -> dict[str, Optional[str]]:
    """The existing cluster's ids, by `AwsSettings` field; None where missing or invalid."""
    return {
        "region": reader.opt_text("region", rule=REGION),
        "cluster_name": reader.opt_text("clusterName", rule=CLUSTER_NAME),
        "oidc_provider_arn": reader.opt_text("oidcProviderArn", rule=OIDC_PROVIDER_ARN),
        "oidc_issuer_url": reader.opt_text("oidcIssuerUrl", rule=ISSUER_URL),
        "vpc_id": reader.opt_text("vpcId", rule=VPC_ID),
        "vpc_cidr": reader.opt_text("vpcCidr", rule=VPC_CIDR),
        "cluster_security_group_id": reader.opt_text(
            "clusterSecurityGroupId", rule=SECURITY_GROUP_ID
        ),
        "kms_key_arn": reader.opt_text("kmsKeyArn", rule=KMS_KEY_ARN),
    }


def _subnets(reader: Reader) -> tuple[str, ...]:
    """`privateSubnetIds`: at least two distinct subnet ids (an RDS subnet group needs two)."""
    key = reader.key("privateSubnetIds")
    listed = reader.sequence("privateSubnetIds")
    subnets: list[str] = []
    for index, subnet in enumerate(listed):
        if isinstance(subnet, str) and SUBNET_ID.fullmatch(subnet):
            subnets.append(subnet)
        else:
            reader.report(
                f"{key}[{index}]: {subnet!r} is not allowed; expected a subnet id such as "
                "subnet-0123456789abcdef0"
            )
    if reader.has("privateSubnetIds") and len(subnets) < 2 and len(subnets) == len(listed):
        reader.report(
            f"{key}: {subnets!r} is not allowed; expected at least 2 subnets in different "
            "availability zones (an RDS subnet group needs two)"
        )
    if len(set(subnets)) != len(subnets):
        reader.report(f"{key}: {subnets!r} lists a subnet twice")
    return tuple(subnets)


Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def _inside(small: Network, large: Network) -> bool:
    return small.network_address in large and small.broadcast_address in large


def _subnet_cidrs(
    reader: Reader, vpc_cidr: Optional[str], subnets: tuple[str, ...]
) -> tuple[str, ...]:
    """`privateSubnetCidrs`: one private CIDR inside `vpcCidr` per private subnet id, in order
    (checked against `vpcCidr` when that is valid)."""
    key = reader.key("privateSubnetCidrs")
    listed = reader.sequence("privateSubnetCidrs")
    vpc = ipaddress.ip_network(vpc_cidr) if vpc_cidr else None
    cidrs: list[str] = []
    for index, cidr in enumerate(listed):
        inside = isinstance(cidr, str) and _is_private_cidr(cidr)
        if inside and (vpc is None or _inside(ipaddress.ip_network(cidr), vpc)):
            cidrs.append(cidr)
        else:
            reader.report(
                f"{key}[{index}]: {cidr!r} is not allowed; expected the CIDR of a private subnet "
                f"inside vpcCidr {vpc_cidr}"
            )
    if listed and len(listed) != len(subnets):
        reader.report(
            f"{key}: {len(listed)} CIDR(s) is not allowed; expected one per privateSubnetIds "
            f"entry ({len(subnets)}), in the same order"
        )
    return tuple(cidrs)


def _tags(reader: Reader) -> tuple[tuple[str, str], ...]:
    """`tags`: extra tags on every AWS resource (keys may not start with aws:)."""
    tags = []
    for key, value in reader.items():
        valid_value = isinstance(value, str) and re.fullmatch(r"[\w .:/=+\-@]{0,256}", value)
        valid_key = re.fullmatch(r"[\w .:/=+\-@]{1,128}", key) and not key.startswith("aws:")
        if valid_value and valid_key:
            tags.append((key, value))
        else:
            reader.problem(
                key,
                value,
                "a tag of letters, digits, spaces and _.:/=+-@ (keys not starting with aws:)",
            )
    return tuple(sorted(tags))


def _check_required(reader: Reader) -> None:
    for key in REQUIRED:
        if not reader.has(key) and key != "privateSubnetIds":
            reader.report(
                f"{reader.key(key)}: missing; webapp:cloud is aws, so the cluster's {key} is needed"
            )
    if not reader.has("privateSubnetIds"):
        reader.report(
            f"{reader.key('privateSubnetIds')}: missing; webapp:cloud is aws, so list the "
            "cluster's private subnets"
        )


ROLE_ARN = re.compile(rf"arn:{PARTITION}:iam::(?P<account>\d{{12}}):role/[\w+=,.@/-]{{1,512}}")


def _key_users(reader: Reader, ids: Mapping[str, Optional[str]], required: bool) -> tuple[str, ...]:
    """`keyUsers`: role ARNs of the cluster's account; required when the program makes the key."""
    key = reader.key("keyUsers")
    provider = ids["oidc_provider_arn"]
    account = provider.split(":")[4] if provider else None
    users: list[str] = []
    for index, arn in enumerate(reader.sequence("keyUsers")):
        found = ROLE_ARN.fullmatch(arn) if isinstance(arn, str) else None
        if found is None:
            reader.report(
                f"{key}[{index}]: {arn!r} is not allowed; expected an IAM role ARN such as "
                "arn:aws:iam::123456789012:role/webapp-production-deploy"
            )
        elif account is not None and found["account"] != account:
            reader.report(
                f"{key}[{index}]: {arn!r} is not allowed; expected a role of the cluster's "
                f"account {account} (the key's)"
            )
        elif arn not in users:
            users.append(arn)
    if required and not users and ids["kms_key_arn"] is None:
        reader.report(
            f"{key}: missing; the stack's key is usable only by the roles listed here (through "
            "Secrets Manager and RDS): list the deploy role, the read roles of previews and "
            "drift, and the operators' role (README \"The stack key's policy\")"
        )
    return tuple(users)


def _check_ids(reader: Reader, ids: Mapping[str, Optional[str]]) -> None:
    """Rules across ids: the OIDC provider is the issuer's, and it and the key are in the region."""
    provider, issuer = ids["oidc_provider_arn"], ids["oidc_issuer_url"]
    region, kms = ids["region"], ids["kms_key_arn"]
    if (
        provider
        and issuer
        and not provider.endswith("oidc-provider/" + issuer.removeprefix("https://"))
    ):
        reader.report(
            f"{reader.key('oidcProviderArn')}: {provider!r} is not the provider of "
            f"{reader.key('oidcIssuerUrl')} {issuer!r}; expected the ARN ending in "
            "oidc-provider/<issuer host and path>"
        )
    if provider and region and f"oidc.eks.{region}." not in provider:
        reader.report(
            f"{reader.key('oidcProviderArn')}: {provider!r} belongs to another region than "
            f"{reader.key('region')} {region!r}"
        )
    if kms and region and f":kms:{region}:" not in kms:
        reader.report(
            f"{reader.key('kmsKeyArn')}: {kms!r} is not in {reader.key('region')} {region!r}; "
            "expected a key in the stack's region"
        )


def _rds(reader: Reader, environment: str) -> Optional[RdsSettings]:
    defaults = RDS_PROFILES[environment]
    rds = RdsSettings(
        instance_class=reader.text("instanceClass", defaults.instance_class, rule=INSTANCE_CLASS),
        engine_version=reader.text("engineVersion", defaults.engine_version, rule=ENGINE_VERSION),
        allocated_storage=reader.integer(
            "allocatedStorage", defaults.allocated_storage, minimum=20, maximum=65536
        ),
        max_allocated_storage=reader.integer(
            "maxAllocatedStorage", defaults.max_allocated_storage, minimum=20, maximum=65536
        ),
        backup_retention_days=reader.integer(
            "backupRetentionDays", defaults.backup_retention_days, minimum=1, maximum=35
        ),
        multi_az=reader.flag("multiAz", defaults.multi_az),
        deletion_protection=reader.flag("deletionProtection", defaults.deletion_protection),
        final_snapshot=reader.flag("finalSnapshot", defaults.final_snapshot),
        performance_insights=reader.flag("performanceInsights", defaults.performance_insights),
        monitoring_interval=reader.integer(
            "monitoringInterval", defaults.monitoring_interval, minimum=0, maximum=60
        ),
        log_exports=reader.flag("logExports", defaults.log_exports),
        slow_statement_ms=reader.integer(
            "slowStatementMs", defaults.slow_statement_ms, minimum=0, maximum=600000
        ),
        apply_immediately=reader.flag("applyImmediately", defaults.apply_immediately),
        maintenance_window=reader.text(
            "maintenanceWindow", defaults.maintenance_window, rule=MAINTENANCE_WINDOW
        ),
    )
    ok = True
    if rds.monitoring_interval not in MONITORING_INTERVALS:
        reader.problem(
            "monitoringInterval",
            rds.monitoring_interval,
            f"one of {', '.join(map(str, MONITORING_INTERVALS))}",
        )
        ok = False
    if rds.max_allocated_storage < rds.allocated_storage:
        reader.problem(
            "maxAllocatedStorage",
            rds.max_allocated_storage,
            f"at least allocatedStorage ({rds.allocated_storage})",
        )
        ok = False
    if environment == "production":
        # Production data is never at risk from a typo: these can only be relaxed outside
        # production.
        for key, value, want in (
            ("deletionProtection", rds.deletion_protection, True),
            ("finalSnapshot", rds.final_snapshot, True),
            ("multiAz", rds.multi_az, True),
        ):
            if value is not want:
                reader.problem(key, value, f"{str(want).lower()} in production")
                ok = False
        if rds.backup_retention_days < 7:
            reader.problem(
                "backupRetentionDays", rds.backup_retention_days, "at least 7 in production"
            )
            ok = False
    reader.finish()
    return rds if ok else None
