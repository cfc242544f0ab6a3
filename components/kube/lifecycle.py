"""What happens to Kubernetes objects when Pulumi lets go of them, and when it finds them again.

Pure option helpers, no resources:

- `keep_crds`: a resource transform that sets `retain_on_delete` on every
  CustomResourceDefinition it sees. Transforms reach the children of a multi-language component
  too (a `yaml.v2.ConfigFile`, a `helm.v4.Chart`), whose objects the program never declares one by
  one. Deleting a CRD makes the API server delete every object of its kinds (the RabbitmqClusters,
  the Gateways...), whatever `retain_on_delete` those objects have, so a CRD is never deleted by
  a destroy or by switching its add-on off: it stays, with the objects, for an operator to remove.
- `retained`: the options of an object the program keeps in the cluster when it forgets it
  (`retain_on_delete`), served by the adopting provider (below).

Why an adopting provider: pulumi-kubernetes 4.29 and later create objects client-side, so
declaring an object that is already in the cluster fails with AlreadyExists unless the provider
has `upsertExistingObjects` (CHANGELOG 4.29.0, #2926; provider/pkg/provider/provider.go,
pulumi/pulumi-kubernetes). A retained object is exactly that after a destroy, or when its service
is switched off and on again. The option is off on the stack's main provider, because there it
would reopen the data loss it closes: a rename without an alias plans create-then-delete, the
create updates the live object and the delete removes it. For a retained object the delete never
reaches the cluster, so the adopting provider upserts only what it can never delete. Moving a
resource between the two providers is an update, not a replacement: the engine replaces on a
provider change only when the new provider's DiffConfig says so (pkg/resource/deploy/
step_generator.go, providerChanged, pulumi/pulumi), and the Kubernetes provider's DiffConfig
replaces only for `kubeconfig`, `context`, `cluster`, `clusterIdentifier` or
`renderYamlToDirectory` (provider.go, DiffConfig).
"""

from __future__ import annotations

from typing import Optional

import pulumi

CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
"""The Pulumi type token of a CustomResourceDefinition, as a chart's or manifest's child."""
KEEP_POLICY = {"helm.sh/resource-policy": "keep"}
"""Helm's keep annotation: `helm uninstall` (and a Release's delete) leaves the object
(pkg/kube/resource_policy.go and pkg/action/resource_policy.go, helm/helm v3)."""


def keep_crds(args: pulumi.ResourceTransformArgs) -> Optional[pulumi.ResourceTransformResult]:
    """`retain_on_delete` on a CustomResourceDefinition; every other resource unchanged."""
    if args.type_ != CRD_TYPE:
        return None
    return pulumi.ResourceTransformResult(
        props=args.props,
        opts=pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(retain_on_delete=True)),
    )


def retained(
    opts: pulumi.ResourceOptions, adopt: Optional[pulumi.ProviderResource]
) -> pulumi.ResourceOptions:
    """`opts` plus `retain_on_delete`, served by the adopting provider `adopt` (when the caller
    has one: the component tests build components without the application's providers)."""
    extra = pulumi.ResourceOptions(retain_on_delete=True)
    if adopt is not None:
        extra.provider = adopt
    return pulumi.ResourceOptions.merge(opts, extra)
