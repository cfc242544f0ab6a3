"""Cloud rules: the managed database, the secret stores, who may read secrets, and the federated
identities pods sign in with (AWS IRSA and Azure workload identity).
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping, Optional

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from ._util import as_list, config_value, dig, document, statements, subject_problem

RDS = {"aws:rds/instance:Instance", "aws:rds/cluster:Cluster"}
FLEXIBLE = "azure-native:dbforpostgresql:Server"


def _database_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type in RDS and args.props.get("storageEncrypted") is not True:
        report(f"{args.name}: storageEncrypted is not true (RDS cannot encrypt it later)", None)


database_encrypted = ResourceValidationPolicy(
    name="database-encrypted",
    description="RDS storage is encrypted (Flexible Server always is).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_database_encrypted,
)


def _database_private(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type in RDS and args.props.get("publiclyAccessible") is True:
        report(f"{args.name}: publiclyAccessible is true", None)
    if args.resource_type == FLEXIBLE:
        network = args.props.get("network") or {}
        if network.get("publicNetworkAccess") != "Disabled":
            report(
                f"{args.name}: network.publicNetworkAccess is "
                f"{network.get('publicNetworkAccess') or 'unset (Enabled)'}; use Disabled",
                None,
            )


database_private = ResourceValidationPolicy(
    name="database-private",
    description="The managed database has no public endpoint.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_database_private,
)


def _database_backups(args: ResourceValidationArgs, report: ReportViolation) -> None:
    days = int(config_value(args.get_config(), "minRetentionDays", 7))
    if args.resource_type in RDS:
        kept = args.props.get("backupRetentionPeriod")
        field = "backupRetentionPeriod"
    elif args.resource_type == FLEXIBLE:
        kept = dig(args.props, "backup", "backupRetentionDays")
        field = "backup.backupRetentionDays"
    else:
        return
    if kept is None or int(kept) < days:
        report(
            f"{args.name}: {field} is {kept}; this stack keeps backups at least {days} days", None
        )


database_backups = ResourceValidationPolicy(
    name="database-backups",
    description="Automated backups of the managed database are kept for the stack's minimum.",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={
            "minRetentionDays": {"type": "integer", "minimum": 1, "maximum": 35, "default": 7}
        }
    ),
    validate=_database_backups,
)


def _database_deletion(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in RDS or not config_value(args.get_config(), "required", True):
        return
    if args.props.get("deletionProtection") is not True:
        report(f"{args.name}: deletionProtection is not true", None)
    if args.props.get("skipFinalSnapshot") is True:
        report(f"{args.name}: skipFinalSnapshot is true: a delete would keep no snapshot", None)
    elif args.resource_type == "aws:rds/instance:Instance" and not args.props.get(
        "finalSnapshotIdentifier"
    ):
        report(
            f"{args.name}: no finalSnapshotIdentifier: a delete would fail or keep nothing", None
        )


database_deletion = ResourceValidationPolicy(
    name="database-deletion-protection",
    description="Where required (production), RDS refuses deletion and takes a final snapshot.",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={"required": {"type": "boolean", "default": True}}),
    validate=_database_deletion,
)


def _secrets_kms(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != "aws:secretsmanager/secret:Secret":
        return
    key = args.props.get("kmsKeyId")
    if not key:
        report(f"{args.name}: no kmsKeyId: the AWS-managed key cannot be scoped or audited", None)
    elif str(key).startswith("alias/aws/") or ":alias/aws/" in str(key):
        report(f"{args.name}: kmsKeyId {key} is an AWS-managed key; use the stack's key", None)


secrets_kms = ResourceValidationPolicy(
    name="secretsmanager-customer-key",
    description="Secrets Manager secrets are encrypted with a customer-managed KMS key.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_secrets_kms,
)


def _key_vault(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != "azure-native:keyvault:Vault":
        return
    properties = args.props.get("properties") or {}
    if properties.get("enableRbacAuthorization") is not True:
        report(
            f"{args.name}: enableRbacAuthorization is off (access policies grant whole vaults)",
            None,
        )
    if properties.get("enableSoftDelete") is False:
        report(f"{args.name}: enableSoftDelete is false", None)
    if config_value(args.get_config(), "requirePurgeProtection", True) and (
        properties.get("enablePurgeProtection") is not True
    ):
        report(
            f"{args.name}: enablePurgeProtection is not true: a deleted secret could be purged",
            None,
        )


key_vault = ResourceValidationPolicy(
    name="keyvault-rbac-purge-protection",
    description="Key Vaults use Azure RBAC and soft delete, and purge protection where required.",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={"requirePurgeProtection": {"type": "boolean", "default": True}}
    ),
    validate=_key_vault,
)

# --- Who may read secrets.

IDENTITY_POLICIES = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
SECRET_ACTIONS = re.compile(r"^(\*|secretsmanager:.*|kms:(\*|decrypt.*))$", re.IGNORECASE)
BROAD_MANAGED = {
    "arn:aws:iam::aws:policy/AdministratorAccess",
    "arn:aws:iam::aws:policy/PowerUserAccess",
    "arn:aws:iam::aws:policy/SecretsManagerReadWrite",
}
# Azure built-in roles that read secret values or can grant that (learn.microsoft.com, "Azure
# built-in roles"): a grant of one must be scoped to one vault or one secret.
SECRET_ROLES = {
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
    "8b54135c-b56d-4d72-a534-26097cfdc8d8": "Key Vault Data Access Administrator",
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
}
VAULT_SCOPE = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.KeyVault/vaults/[^/*]+(/secrets/[^/*]+)?$",
    re.IGNORECASE,
)


def wildcard_grants(doc: Mapping[str, Any]) -> Iterator[str]:
    """The statements of an identity policy that grant secret reads too widely."""
    for number, statement in enumerate(statements(doc)):
        if statement.get("Effect") != "Allow":
            continue
        label = statement.get("Sid") or f"statement {number}"
        if "NotAction" in statement or "NotResource" in statement:
            yield f"{label}: Allow with NotAction/NotResource grants everything not listed"
            continue
        actions = [str(a) for a in as_list(statement.get("Action"))]
        secret_actions = [a for a in actions if SECRET_ACTIONS.match(a)]
        if not secret_actions:
            continue
        wild_actions = [a for a in secret_actions if "*" in a]
        if wild_actions:
            yield f"{label}: wildcard action {', '.join(wild_actions)}"
        wild_resources = [str(r) for r in as_list(statement.get("Resource")) if "*" in str(r)]
        if wild_resources or not statement.get("Resource"):
            yield (
                f"{label}: {', '.join(secret_actions)} on "
                f"{', '.join(wild_resources) or 'no resource'}"
                "; name each secret (and the stack's key)"
            )


def _secret_grants(args: ResourceValidationArgs, report: ReportViolation) -> None:
    field = IDENTITY_POLICIES.get(args.resource_type)
    if field:
        doc = document(args.props.get(field))
        for problem in wildcard_grants(doc or {}):
            report(f"{args.name}: {problem}", None)
    elif args.resource_type == "aws:iam/role:Role":
        for inline in as_list(args.props.get("inlinePolicies")):
            doc = document(dig(inline, "policy"))
            for problem in wildcard_grants(doc or {}):
                report(f"{args.name} inline policy {dig(inline, 'name')}: {problem}", None)
    elif args.resource_type in (
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/policyAttachment:PolicyAttachment",
    ):
        arn = args.props.get("policyArn")
        if arn in BROAD_MANAGED:
            report(f"{args.name}: attaches {arn}, which reads every secret of the account", None)
    elif args.resource_type == "azure-native:authorization:RoleAssignment":
        role = str(args.props.get("roleDefinitionId") or "").rsplit("/", 1)[-1].lower()
        scope = str(args.props.get("scope") or "")
        if role in SECRET_ROLES and not VAULT_SCOPE.match(scope):
            report(
                f"{args.name}: {SECRET_ROLES[role]} at {scope or 'no scope'}; grant it on one "
                "Key Vault (or one secret), not a resource group or subscription",
                None,
            )


secret_grants = ResourceValidationPolicy(
    name="no-wildcard-secret-grants",
    description="No identity may read secrets by wildcard: IAM statements name each secret, "
    "Azure secret roles are granted on one vault.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_secret_grants,
)

# --- Federated credentials.

AWS_AUDIENCE = "sts.amazonaws.com"
AZURE_AUDIENCE = "api://AzureADTokenExchange"
_PROVIDER = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/(?P<issuer>[^\s*]+)$")


def _issuer_allowed(issuer: str, config: Mapping[str, Any]) -> Optional[str]:
    allowed = [i.rstrip("/").removeprefix("https://") for i in config_value(config, "issuers", [])]
    bare = issuer.rstrip("/").removeprefix("https://")
    if allowed and bare not in allowed:
        return f"issuer {issuer} is not this stack's cluster ({', '.join(allowed)})"
    return None


def _condition_problems(conditions: Mapping[str, Any], issuer: str) -> Iterator[str]:
    for operator in conditions:
        if operator != "StringEquals":
            yield f"condition {operator} (only StringEquals names exact subjects)"
    equals = conditions.get("StringEquals") or {}
    for key in equals:
        if not key.startswith(issuer + ":"):
            yield f"condition key {key} is not of the trusted issuer {issuer}"
    audiences = as_list(equals.get(f"{issuer}:aud"))
    if audiences != [AWS_AUDIENCE]:
        yield f"{issuer}:aud is {audiences or 'unset'}; expected {AWS_AUDIENCE}"
    subjects = as_list(equals.get(f"{issuer}:sub"))
    if not subjects:
        yield f"no {issuer}:sub condition: any ServiceAccount of the cluster could assume it"
    for subject in subjects:
        if (problem := subject_problem(subject)) is not None:
            yield problem


def irsa_problems(doc: Mapping[str, Any], config: Mapping[str, Any]) -> Iterator[str]:
    """What is loose in the web-identity statements of an IAM role's trust policy."""
    for number, statement in enumerate(statements(doc)):
        actions = [str(a) for a in as_list(statement.get("Action"))]
        if "sts:AssumeRoleWithWebIdentity" not in actions or statement.get("Effect") != "Allow":
            continue
        label = statement.get("Sid") or f"statement {number}"
        federated = str(dig(statement, "Principal", "Federated") or "")
        found = _PROVIDER.match(federated)
        if not found:
            yield f"{label}: Principal.Federated {federated!r} is not an IAM OIDC provider ARN"
            continue
        issuer = found.group("issuer")
        if (problem := _issuer_allowed(issuer, config)) is not None:
            yield f"{label}: {problem}"
        for problem in _condition_problems(statement.get("Condition") or {}, issuer):
            yield f"{label}: {problem}"


def _federated(args: ResourceValidationArgs, report: ReportViolation) -> None:
    config = args.get_config()
    if args.resource_type == "aws:iam/role:Role":
        doc = document(args.props.get("assumeRolePolicy"))
        for problem in irsa_problems(doc or {}, config):
            report(f"{args.name}: {problem}", None)
    elif args.resource_type == "azure-native:managedidentity:FederatedIdentityCredential":
        issuer = str(args.props.get("issuer") or "")
        if not re.match(r"^https://[^\s?#*]+$", issuer):
            report(f"{args.name}: issuer {issuer!r} is not an https URL", None)
        elif (untrusted := _issuer_allowed(issuer, config)) is not None:
            report(f"{args.name}: {untrusted}", None)
        audiences = as_list(args.props.get("audiences"))
        if audiences != [AZURE_AUDIENCE]:
            report(f"{args.name}: audiences {audiences}; expected [{AZURE_AUDIENCE}]", None)
        if (subject := subject_problem(args.props.get("subject"))) is not None:
            report(f"{args.name}: {subject}", None)


federated = ResourceValidationPolicy(
    name="federated-credentials",
    description="Federated credentials trust this stack's cluster issuer only, the cloud's token "
    "audience, and exactly one ServiceAccount (system:serviceaccount:<namespace>:<name>).",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={
            "issuers": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "cluster OIDC issuer URLs this stack trusts (empty: format only)",
            }
        }
    ),
    validate=_federated,
)

POLICIES = [
    database_encrypted,
    database_private,
    database_backups,
    database_deletion,
    secrets_kms,
    key_vault,
    secret_grants,
    federated,
]
