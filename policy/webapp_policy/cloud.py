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

from ._util import (
    Notes,
    Unknown,
    as_list,
    config_value,
    dig,
    document,
    kind,
    mapping,
    plain,
    statements,
    subject_problem,
    text,
)

RDS = {"aws:rds/instance:Instance", "aws:rds/cluster:Cluster"}
AURORA_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
FLEXIBLE = "azure-native:dbforpostgresql:Server"


def _type(args: ResourceValidationArgs) -> str:
    """The canonical type token (no API version: `azure-native:keyvault/v20230701:Vault` is
    `azure-native:keyvault:Vault`)."""
    return kind(args.resource_type)


def _props(args: ResourceValidationArgs) -> Mapping[str, Any]:
    """Plain properties, unknowns as `Unknown` (a check for the safe value then fails closed)."""
    return plain(args.props)


def _database_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if _type(args) in RDS and _props(args).get("storageEncrypted") is not True:
        report(f"{args.name}: storageEncrypted is not true (RDS cannot encrypt it later)", None)


database_encrypted = ResourceValidationPolicy(
    name="database-encrypted",
    description="RDS storage is encrypted (Flexible Server always is).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_database_encrypted,
)


def _database_private(args: ResourceValidationArgs, report: ReportViolation) -> None:
    public = _props(args).get("publiclyAccessible")
    if _type(args) in {*RDS, AURORA_INSTANCE} and (public is True or isinstance(public, Unknown)):
        report(f"{args.name}: publiclyAccessible is {text(public)}", None)
    if _type(args) == FLEXIBLE:
        network = _props(args).get("network") or {}
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
    if _type(args) in RDS:
        kept = _props(args).get("backupRetentionPeriod")
        field = "backupRetentionPeriod"
    elif _type(args) == FLEXIBLE:
        kept = dig(_props(args), "backup", "backupRetentionDays")
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
    if _type(args) not in RDS or not config_value(args.get_config(), "required", True):
        return
    if _props(args).get("deletionProtection") is not True:
        report(f"{args.name}: deletionProtection is not true", None)
    if _props(args).get("skipFinalSnapshot") is True:
        report(f"{args.name}: skipFinalSnapshot is true: a delete would keep no snapshot", None)
    elif _type(args) == "aws:rds/instance:Instance" and not _props(args).get(
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


def _key_account(key: str) -> Optional[str]:
    """The account of a key or alias ARN; None for a bare key id or alias (this account's)."""
    parts = key.split(":")
    return parts[4] if key.startswith("arn:") and len(parts) > 5 else None


def _secrets_kms(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if _type(args) != "aws:secretsmanager/secret:Secret":
        return
    notes = Notes()
    key = _props(args).get("kmsKeyId")
    accounts = [str(a) for a in config_value(args.get_config(), "accounts", [])]
    if not key:
        report(f"{args.name}: no kmsKeyId: the AWS-managed key cannot be scoped or audited", None)
    elif notes.unknown(key, f"{args.name} kmsKeyId"):
        pass  # the stack's key, created in this update: checked again by `pulumi up`
    elif str(key).startswith("alias/aws/") or ":alias/aws/" in str(key):
        report(f"{args.name}: kmsKeyId {key} is an AWS-managed key; use the stack's key", None)
    elif accounts and _key_account(str(key)) not in (None, *accounts):
        report(
            f"{args.name}: kmsKeyId {key} is a key of account {_key_account(str(key))}, not of "
            f"this stack's ({', '.join(accounts)}): its owner decides who decrypts",
            None,
        )
    notes.done()


secrets_kms = ResourceValidationPolicy(
    name="secretsmanager-customer-key",
    description="Secrets Manager secrets are encrypted with a customer-managed KMS key of the "
    "stack's own account.",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={
            "accounts": {
                "type": "array",
                "items": {"type": "string", "pattern": "^[0-9]{12}$"},
                "default": [],
                "description": "AWS accounts whose keys may encrypt secrets (empty: any)",
            }
        }
    ),
    validate=_secrets_kms,
)


def _key_vault(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if _type(args) != "azure-native:keyvault:Vault":
        return
    properties = _props(args).get("properties") or {}
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

# --- Who may read secrets: one evaluator for IAM documents and Azure role permissions.


def wildcard(pattern: str) -> re.Pattern[str]:
    """IAM and Azure RBAC action/resource matching: case-insensitive, `*` any run of
    characters, `?` one character (docs.aws.amazon.com/IAM/latest/UserGuide/
    reference_policies_elements_action.html; Azure: learn.microsoft.com, "Azure role definitions",
    Actions: wildcard `*`)."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL)


def grants(patterns: list[Any], action: str) -> bool:
    return any(wildcard(str(p)).match(action) for p in patterns)


# What reads a secret's value: the secret itself, or decrypting it with the key.
SECRET_READS = (
    "secretsmanager:GetSecretValue",
    "secretsmanager:BatchGetSecretValue",
    "kms:Decrypt",
)
# A secret ARN names one secret with the six random characters Secrets Manager appends:
# `...:secret:name-??????` is the documented way to name it before it exists.
_ONE_SECRET = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[^:*?]+:\d{12}:secret:[^*?]+(-\?{6})?$")


def _actions_granted(statement: Mapping[str, Any]) -> list[str]:
    """Which of SECRET_READS (or any secretsmanager action) an Allow statement grants."""
    if "NotAction" in statement:
        excluded = as_list(statement.get("NotAction"))
        return [a for a in SECRET_READS if not grants(excluded, a)]
    actions = as_list(statement.get("Action"))
    found = [a for a in SECRET_READS if grants(actions, a)]
    found += [str(a) for a in actions if str(a).lower().startswith("secretsmanager:")]
    return sorted(set(found))


def _wide_resources(statement: Mapping[str, Any]) -> list[str]:
    if "NotResource" in statement:
        return [f"NotResource {as_list(statement.get('NotResource'))}"]
    resources = [str(r) for r in as_list(statement.get("Resource"))]
    if not resources:
        return ["no resource"]
    return [r for r in resources if ("*" in r or "?" in r) and not _ONE_SECRET.match(r)]


def wildcard_grants(doc: Mapping[str, Any]) -> Iterator[str]:
    """The statements of an identity policy that grant secret reads too widely."""
    for number, statement in enumerate(statements(doc)):
        if str(statement.get("Effect")).lower() != "allow":
            continue
        label = statement.get("Sid") or f"statement {number}"
        if "NotAction" in statement or "NotResource" in statement:
            yield f"{label}: Allow with NotAction/NotResource grants everything not listed"
            continue
        granted = _actions_granted(statement)
        if not granted:
            continue
        actions = [str(a) for a in as_list(statement.get("Action"))]
        wild_actions = [
            a for a in actions if ("*" in a or "?" in a) and _actions_granted({"Action": [a]})
        ]
        if wild_actions:
            shown = ", ".join(wild_actions)
            yield f"{label}: wildcard action {shown} (grants {', '.join(granted)})"
        wide = _wide_resources(statement)
        if wide:
            yield (
                f"{label}: {', '.join(granted)} on {', '.join(wide)}"
                "; name each secret (and the stack's key)"
            )


# Conditions that keep a `*` principal inside the account (the stack key's policy uses
# kms:CallerAccount; components/aws/kms.py).
_ACCOUNT_KEYS = {
    "aws:principalaccount",
    "aws:principalorgid",
    "aws:principalarn",
    "kms:calleraccount",
    "aws:sourceaccount",
}


def public_grants(doc: Mapping[str, Any]) -> Iterator[str]:
    """The statements of a resource policy (a secret's, a key's) that let anyone read."""
    for number, statement in enumerate(statements(doc)):
        if str(statement.get("Effect")).lower() != "allow" or not _actions_granted(statement):
            continue
        principal = statement.get("Principal")
        values = (
            [principal]
            if isinstance(principal, str)
            else [v for vs in mapping(principal).values() for v in as_list(vs)]
        )
        if "NotPrincipal" in statement or "*" in [str(v) for v in values]:
            keys = {
                str(k).lower()
                for op in mapping(statement.get("Condition")).values()
                for k in mapping(op)
            }
            if not keys & _ACCOUNT_KEYS:
                label = statement.get("Sid") or f"statement {number}"
                yield f"{label}: Principal * may {', '.join(_actions_granted(statement))}"


IDENTITY_POLICIES = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
RESOURCE_POLICIES = {
    "aws:secretsmanager/secret:Secret": "policy",
    "aws:secretsmanager/secretPolicy:SecretPolicy": "policy",
    "aws:kms/key:Key": "policy",
    "aws:kms/keyPolicy:KeyPolicy": "policy",
}
# Every way to attach a managed policy, and the input naming it (or them).
ATTACHMENTS = {
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "policyArn",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment": "policyArn",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment": "policyArn",
    "aws:iam/policyAttachment:PolicyAttachment": "policyArn",
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive": "policyArns",
    "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive": "policyArns",
    "aws:iam/groupPolicyAttachmentsExclusive:GroupPolicyAttachmentsExclusive": "policyArns",
    "aws:iam/role:Role": "managedPolicyArns",
}
# AWS-managed policies that read every secret of the account, or let their holder grant that.
BROAD_MANAGED = {
    "administratoraccess",
    "poweruseraccess",
    "secretsmanagerreadwrite",
    "iamfullaccess",
    "awskeymanagementservicepoweruser",
}
_AWS_MANAGED = re.compile(
    r"^arn:aws[a-z-]*:iam::aws:policy/(?:.*/)?(?P<name>[^/]+)$", re.IGNORECASE
)


# Azure built-in roles that read secret values or can grant that (learn.microsoft.com, "Azure
# built-in roles"): a grant of one must be scoped to one vault or one secret.
SECRET_ROLES = {
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
    "8b54135c-b56d-4d72-a534-26097cfdc8d8": "Key Vault Data Access Administrator",
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
}
VAULT_SCOPE = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.KeyVault/vaults/[^/*]+(/secrets/[^/*]+)?$",
    re.IGNORECASE,
)


def _document_problems(value: Any, check: Any, where: str, notes: Notes) -> list[str]:
    """`check`'s findings in a policy document (JSON text or object); an unknown document (built
    from ARNs created in this update) is noted, a document that does not parse fails closed."""
    if value is None or notes.unknown(value, where):
        return []
    doc = document(value)
    if doc is None:
        return [f"{where}: not a policy document the pack can read"]
    return [f"{where}: {problem}" for problem in check(doc)]


def _aws_problems(args: ResourceValidationArgs, notes: Notes) -> list[str]:
    token, props = _type(args), _props(args)
    found: list[str] = []
    if token in IDENTITY_POLICIES:
        found += _document_problems(props.get("policy"), wildcard_grants, args.name, notes)
    if token in RESOURCE_POLICIES:
        found += _document_problems(props.get("policy"), public_grants, args.name, notes)
    if token == "aws:iam/role:Role":
        for inline in as_list(props.get("inlinePolicies")):
            where = f"{args.name} inline policy {text(mapping(inline).get('name'))}"
            found += _document_problems(
                mapping(inline).get("policy"), wildcard_grants, where, notes
            )
    if token in ATTACHMENTS:
        for arn in as_list(props.get(ATTACHMENTS[token])):
            if notes.unknown(arn, f"{args.name} {ATTACHMENTS[token]}"):
                continue  # a policy of this stack: its document is checked as aws:iam/policy
            named = _AWS_MANAGED.match(str(arn))
            if named and named.group("name").lower() in BROAD_MANAGED:
                found.append(
                    f"{args.name}: attaches {arn}, which reads every secret of the account"
                )
    return found


def _azure_problems(args: ResourceValidationArgs, notes: Notes) -> list[str]:
    token, props = _type(args), _props(args)
    if token == "azure-native:authorization:RoleAssignment":
        role_id, scope = props.get("roleDefinitionId"), props.get("scope")
        if notes.unknown(role_id, f"{args.name} roleDefinitionId"):
            return []
        role = str(role_id or "").rsplit("/", 1)[-1].lower()
        if role in SECRET_ROLES and (
            isinstance(scope, Unknown) or not VAULT_SCOPE.match(str(scope or ""))
        ):
            return [
                f"{args.name}: {SECRET_ROLES[role]} at {text(scope) if scope else 'no scope'}; "
                "grant it on one Key Vault (or one secret), not a resource group or subscription"
            ]
    if token == "azure-native:authorization:RoleDefinition":
        return _custom_role_problems(args.name, props)
    return []


# A custom role with any of these data actions or actions reads secrets or grants roles.
AZURE_SECRET_DATA = (
    "Microsoft.KeyVault/vaults/secrets/getSecret/action",
    "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
)
AZURE_GRANT = ("Microsoft.Authorization/roleAssignments/write",)


def _custom_role_problems(name: str, props: Mapping[str, Any]) -> list[str]:
    powers = []
    for permission in as_list(props.get("permissions")):
        permission = mapping(permission)
        for field, excluded, wanted in (
            ("dataActions", "notDataActions", AZURE_SECRET_DATA),
            ("actions", "notActions", AZURE_GRANT),
        ):
            allowed, denied = as_list(permission.get(field)), as_list(permission.get(excluded))
            powers += [a for a in wanted if grants(allowed, a) and not grants(denied, a)]
    scopes = [str(s) for s in as_list(props.get("assignableScopes"))]
    wide = [s for s in scopes if not VAULT_SCOPE.match(s)] or ([] if scopes else ["no scope"])
    if powers and wide:
        return [
            f"{name}: custom role grants {', '.join(sorted(set(powers)))} assignable at "
            f"{', '.join(wide)}; assign the built-in role on one Key Vault instead"
        ]
    return []


def _secret_grants(args: ResourceValidationArgs, report: ReportViolation) -> None:
    notes = Notes()
    for problem in _aws_problems(args, notes) + _azure_problems(args, notes):
        report(problem, None)
    notes.done()


secret_grants = ResourceValidationPolicy(
    name="no-wildcard-secret-grants",
    description="No identity may read secrets by wildcard: IAM statements (inline, managed, "
    "attached in any way) name each secret, no resource policy lets anyone read, Azure secret "
    "roles (built-in or custom) are granted on one vault.",
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
        if not str(key).startswith(issuer + ":"):
            yield f"condition key {key} is not of the trusted issuer {issuer}"
    audiences = as_list(equals.get(f"{issuer}:aud"))
    if audiences != [AWS_AUDIENCE]:
        yield f"{issuer}:aud is {audiences or 'unset'}; expected {AWS_AUDIENCE}"
    subjects = as_list(equals.get(f"{issuer}:sub"))
    if not subjects:
        yield f"no {issuer}:sub condition: any ServiceAccount of the cluster could assume it"
    elif len(subjects) > 1:
        yield f"{issuer}:sub lists {len(subjects)} subjects; one role trusts one ServiceAccount"
    for subject in subjects:
        if (problem := subject_problem(subject)) is not None:
            yield problem


def _web_identity(statement: Mapping[str, Any]) -> bool:
    """Whether a trust statement lets a web identity in: its actions (any case, any wildcard)
    or its NotAction leave sts:AssumeRoleWithWebIdentity granted, or it trusts a Federated
    principal at all."""
    action = "sts:AssumeRoleWithWebIdentity"
    if "NotAction" in statement:
        granted = not grants(as_list(statement.get("NotAction")), action)
    else:
        granted = grants(as_list(statement.get("Action")), action)
    return granted or dig(statement, "Principal", "Federated") is not None


def irsa_problems(doc: Mapping[str, Any], config: Mapping[str, Any]) -> Iterator[str]:
    """What is loose in the web-identity statements of an IAM role's trust policy."""
    for number, statement in enumerate(statements(doc)):
        if str(statement.get("Effect")).lower() != "allow" or not _web_identity(statement):
            continue
        label = statement.get("Sid") or f"statement {number}"
        actions = [str(a) for a in as_list(statement.get("Action"))]
        if "NotAction" in statement or actions != ["sts:AssumeRoleWithWebIdentity"]:
            yield (
                f"{label}: actions {actions or 'NotAction'}; a web-identity trust grants exactly "
                "sts:AssumeRoleWithWebIdentity"
            )
        federated = str(dig(statement, "Principal", "Federated") or "")
        found = _PROVIDER.match(federated)
        if not found:
            yield f"{label}: Principal.Federated {federated!r} is not an IAM OIDC provider ARN"
            continue
        issuer = found.group("issuer")
        if (problem := _issuer_allowed(issuer, config)) is not None:
            yield f"{label}: {problem}"
        for problem in _condition_problems(mapping(statement.get("Condition")), issuer):
            yield f"{label}: {problem}"


def _federated(args: ResourceValidationArgs, report: ReportViolation) -> None:
    config = args.get_config()
    notes = Notes()
    if _type(args) == "aws:iam/role:Role":
        trust = _props(args).get("assumeRolePolicy")
        for problem in _document_problems(
            trust, lambda doc: irsa_problems(doc, config), args.name, notes
        ):
            report(problem, None)
    elif _type(args) == "azure-native:managedidentity:FederatedIdentityCredential":
        issuer = str(_props(args).get("issuer") or "")
        if not re.match(r"^https://[^\s?#*]+$", issuer):
            report(f"{args.name}: issuer {issuer!r} is not an https URL", None)
        elif (untrusted := _issuer_allowed(issuer, config)) is not None:
            report(f"{args.name}: {untrusted}", None)
        audiences = as_list(_props(args).get("audiences"))
        if audiences != [AZURE_AUDIENCE]:
            report(f"{args.name}: audiences {audiences}; expected [{AZURE_AUDIENCE}]", None)
        if (subject := subject_problem(_props(args).get("subject"))) is not None:
            report(f"{args.name}: {subject}", None)
    notes.done()


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
