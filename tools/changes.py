"""What a config change does to existing resources, from two offline runs of the program.

`plan(before, after)` compares the resources two runs declare, as the engine would diff them:
a URN only before is deleted, only after is created; a URN in both is unchanged, updated in place,
or replaced when a property that cannot change in place differs (`REPLACE_ON_CHANGE`: Kubernetes'
immutable fields and the providers' replace-on-change properties). Properties the program tells
Pulumi to ignore (`ignore_changes`) are left out, as the engine leaves them out.

It cannot see what only a live provider knows (a server-side default that differs, a field the
provider normalises), so it errs on the side of the inputs: a difference in inputs is a change.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Literal, Mapping

from .offline import Registered, StackRun, normalise

Action = Literal["create", "update", "replace", "delete"]

KUBERNETES_IDENTITY = ("metadata.name", "metadata.namespace", "kind", "apiVersion")

REPLACE_ON_CHANGE: dict[str, tuple[str, ...]] = {
    # Kubernetes: immutable fields (API reference, "immutable" / validation of the kind's update).
    "kubernetes:apps/v1:StatefulSet": (
        "spec.selector*",
        "spec.serviceName",
        "spec.podManagementPolicy",
        "spec.volumeClaimTemplates*",
    ),
    "kubernetes:apps/v1:Deployment": ("spec.selector*",),
    "kubernetes:core/v1:Service": ("spec.clusterIP", "spec.clusterIPs*"),
    "kubernetes:core/v1:PersistentVolumeClaim": (
        "spec.storageClassName",
        "spec.accessModes*",
        "spec.volumeName",
        "spec.selector*",
        "spec.dataSource*",
    ),
    "kubernetes:core/v1:Secret": ("type",),
    "kubernetes:batch/v1:Job": ("spec.template*", "spec.selector*"),
    "kubernetes:helm.sh/v3:Release": ("name", "namespace"),
    # pulumi-aws (terraform-provider-aws ForceNew), as the program sets them.
    "aws:rds/instance:Instance": (
        "identifier",
        "dbName",
        "engine",
        "username",
        "storageEncrypted",
        "kmsKeyId",
        "characterSetName",
    ),
    "aws:kms/key:Key": ("customerMasterKeySpec", "keyUsage", "multiRegion"),
    "aws:secretsmanager/secret:Secret": ("name", "namePrefix"),
    # internal/service/secretsmanager/secret_version.go (terraform-provider-aws v6): ForceNew.
    "aws:secretsmanager/secretVersion:SecretVersion": (
        "secretId",
        "secretString",
        "secretBinary",
        "secretStringWoVersion",
    ),
    "aws:iam/role:Role": ("name",),
    "aws:rds/subnetGroup:SubnetGroup": ("name",),
    "aws:rds/parameterGroup:ParameterGroup": ("name", "family"),
    "aws:ec2/securityGroup:SecurityGroup": ("name", "vpcId", "description"),
    # pulumi-azure-native: the resource's name and scope (path parameters) cannot change.
    "azure-native:keyvault:Vault": ("vaultName", "resourceGroupName", "location"),
    "azure-native:keyvault:Secret": ("secretName", "vaultName", "resourceGroupName"),
    "azure-native:dbforpostgresql:Server": (
        "serverName",
        "resourceGroupName",
        "location",
        "administratorLogin",
    ),
    "azure-native:dbforpostgresql:Database": ("databaseName", "serverName"),
    "azure-native:managedidentity:UserAssignedIdentity": (
        "resourceName",
        "resourceGroupName",
        "location",
    ),
    "azure-native:managedidentity:FederatedIdentityCredential": (
        "federatedIdentityCredentialResourceName",
        "resourceName",
    ),
    "azure-native:authorization:RoleAssignment": ("principalId", "roleDefinitionId", "scope"),
    "random:index/randomPassword:RandomPassword": ("*",),
}
"""Per type: property paths (dotted, `*` wildcards) whose change replaces the resource. Every
Kubernetes object is also replaced when its name or namespace changes."""

STATEFUL = (
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:PersistentVolumeClaim",
    "aws:rds/instance:Instance",
    "aws:kms/key:Key",
    "aws:secretsmanager/secret:Secret",
    "azure-native:keyvault:Vault",
    "azure-native:dbforpostgresql:Server",
    "azure-native:dbforpostgresql:Database",
)
"""Types whose replacement or deletion loses data (a StatefulSet counts when it has claims)."""


@dataclass(frozen=True)
class Change:
    urn: str
    action: Action
    paths: tuple[str, ...] = ()
    """The changed property paths (updates and replacements)."""


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf of a property tree as (dotted path, value); list items as `path[index]`."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from flatten(item, f"{prefix}[{index}]")
    else:
        yield prefix, value


def _ignored(path: str, ignore_changes: list[str]) -> bool:
    return any(path == ignored or path.startswith(f"{ignored}.") for ignored in ignore_changes)


def changed_paths(before: Registered, after: Registered) -> tuple[str, ...]:
    old = dict(flatten(normalise(before.inputs, reveal=True)))
    new = dict(flatten(normalise(after.inputs, reveal=True)))
    paths = {path for path in old.keys() | new.keys() if old.get(path) != new.get(path)}
    return tuple(sorted(path for path in paths if not _ignored(path, after.ignore_changes)))


def replacing(typ: str, paths: Iterable[str]) -> tuple[str, ...]:
    """The changed `paths` that make the engine replace a resource of type `typ`."""
    rules = REPLACE_ON_CHANGE.get(typ, ())
    if typ.startswith("kubernetes:") and not typ.startswith("kubernetes:helm.sh"):
        rules = (*rules, *KUBERNETES_IDENTITY)
    return tuple(p for p in paths if any(fnmatch.fnmatchcase(p, rule) for rule in rules))


def replaces(record: Registered, paths: tuple[str, ...]) -> bool:
    return bool(replacing(record.type, paths))


def plan(before: StackRun, after: StackRun) -> list[Change]:
    old, new = before.by_urn(), after.by_urn()
    changes = [Change(urn, "delete") for urn in old if urn not in new]
    changes += [Change(urn, "create") for urn in new if urn not in old]
    for urn in old.keys() & new.keys():
        if old[urn].type.startswith("pulumi:providers:"):
            continue
        paths = changed_paths(old[urn], new[urn])
        if paths:
            action: Action = "replace" if replaces(new[urn], paths) else "update"
            changes.append(Change(urn, action, paths))
    return sorted(changes, key=lambda change: (change.action, change.urn))


def holds_data(typ: str, inputs: Mapping[str, Any]) -> bool:
    """Whether replacing or deleting a resource of type `typ` with `inputs` loses data."""
    if typ == "kubernetes:apps/v1:StatefulSet":
        return bool((inputs.get("spec") or {}).get("volumeClaimTemplates"))
    return typ in STATEFUL


def loses_data(record: Registered) -> bool:
    """Whether replacing or deleting `record` loses data."""
    return holds_data(record.type, record.inputs)


def _topological(run: StackRun) -> list[str]:
    """URNs so that each comes after everything it depends on (ties by URN)."""
    records = run.by_urn()
    done: dict[str, None] = {}

    def visit(urn: str) -> None:
        if urn in done or urn not in records:
            return
        for dependency in sorted(records[urn].depends_on):
            visit(dependency)
        done[urn] = None

    for urn in sorted(records):
        visit(urn)
    return list(done)


def sequence(before: StackRun, after: StackRun) -> list[Change]:
    """The order the engine applies `plan(before, after)` in: creates, updates and replacements as
    their dependencies finish (the graph of `after`; a step waits for the await of each resource it
    depends on), then the deletions of what the program no longer declares, dependents first. The
    engine deletes a removed resource only after every other step of the update has finished, so
    what replaces it is created, and awaited, before it goes."""
    changes = {change.urn: change for change in plan(before, after)}
    applied = [changes[urn] for urn in _topological(after) if urn in changes]
    deleted = [
        changes[urn]
        for urn in reversed(_topological(before))
        if urn in changes and changes[urn].action == "delete"
    ]
    return applied + deleted
