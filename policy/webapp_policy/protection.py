"""Data safety: in a stack that requires it (production), every resource that holds data the
stack cannot recreate is `protect`ed, so neither a config change that would replace it nor a
`pulumi destroy` can delete it without first unprotecting it in a reviewed change.
"""

from __future__ import annotations

from typing import Any, Mapping

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from ._util import canonical, config_value, dig, kind, plain

STATEFUL = [
    "aws:rds/instance:Instance",
    "aws:rds/cluster:Cluster",
    "aws:rds/clusterInstance:ClusterInstance",
    "aws:kms/key:Key",
    "aws:secretsmanager/secret:Secret",
    "azure-native:dbforpostgresql:Server",
    "azure-native:dbforpostgresql:Database",
    "azure-native:keyvault:Vault",
    "azure-native:keyvault:Secret",
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:PersistentVolumeClaim",
    "kubernetes:core/v1:PersistentVolume",
    # Operator-run clusters: deleting one deletes (RabbitMQ) or may delete its volumes.
    "kubernetes:rabbitmq.com/v1beta1:RabbitmqCluster",
    "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch",
]


def _holds_data(token: str, props: Mapping[str, Any], extra: list[str]) -> bool:
    """Whether the resource holds data, whatever API version declares it. A StatefulSet with
    volume claim templates owns its volumes; a PersistentVolume whose reclaim policy is Delete
    (the default of dynamically provisioned ones) takes its disk with it, one with Retain keeps
    the disk when the object goes."""
    canonical_kind = kind(token)
    if canonical_kind == "kubernetes:apps:StatefulSet":
        return bool(dig(props, "spec", "volumeClaimTemplates"))
    if canonical_kind == "kubernetes:core:PersistentVolume":
        return dig(props, "spec", "persistentVolumeReclaimPolicy") != "Retain"
    return canonical_kind in {kind(t) for t in [*STATEFUL, *extra]}


def _protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    config = args.get_config()
    if not config_value(config, "required", True) or canonical(args.resource_type).patch:
        return
    # `types` adds to the built-in list: a stack's config cannot take a type off it.
    extra = list(config_value(config, "types", []))
    if _holds_data(args.resource_type, plain(args.props), extra) and not args.opts.protect:
        report(
            f"{args.name} ({args.resource_type}) holds data but is not protected: "
            "a replace or destroy would delete it",
            None,
        )


protected = ResourceValidationPolicy(
    name="stateful-resources-protected",
    description="Where required (production), resources that hold data carry `protect`.",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={
            "required": {"type": "boolean", "default": True},
            "types": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "more data-holding types, added to the built-in list",
            },
        }
    ),
    validate=_protected,
)

POLICIES = [protected]
