"""Data safety: in a stack that requires it (production), every resource that holds data the
stack cannot recreate is `protect`ed, so neither a config change that would replace it nor a
`pulumi destroy` can delete it without first unprotecting it in a reviewed change.
"""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from ._util import config_value, dig

STATEFUL = [
    "aws:rds/instance:Instance",
    "aws:rds/cluster:Cluster",
    "aws:kms/key:Key",
    "aws:secretsmanager/secret:Secret",
    "azure-native:dbforpostgresql:Server",
    "azure-native:dbforpostgresql:Database",
    "azure-native:keyvault:Vault",
    "azure-native:keyvault:Secret",
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:PersistentVolumeClaim",
    # Operator-run clusters: deleting one deletes (RabbitMQ) or may delete its volumes.
    "kubernetes:rabbitmq.com/v1beta1:RabbitmqCluster",
    "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch",
]


def _protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    config = args.get_config()
    if not config_value(config, "required", True):
        return
    stateful = args.resource_type in config_value(config, "types", STATEFUL)
    # A StatefulSet with volume claim templates owns its volumes' lifecycle.
    if args.resource_type == "kubernetes:apps/v1:StatefulSet":
        stateful = bool(dig(args.props, "spec", "volumeClaimTemplates"))
    if stateful and not args.opts.protect:
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
            "types": {"type": "array", "items": {"type": "string"}, "default": STATEFUL},
        }
    ),
    validate=_protected,
)

POLICIES = [protected]
