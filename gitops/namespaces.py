"""Pod Security labels on the namespaces the GitOps project's Helm releases create (pure helper,
no component of its own: each caller's component parents the patch).

Helm's `createNamespace` makes the namespace with no labels, which a cluster admits as privileged;
the policy pack's `namespaces-pod-security` refuses that. As the main program does for its add-ons
(`components/platform/addons.label_namespace`, which this package may not import), a server-side
apply NamespacePatch after the release sets `baseline` enforced and `restricted` audited and warned:
the pods the chart already started are not evicted, every later pod is admitted at baseline, and a
pod below restricted is reported. A destroy removes the patch before the release.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

PSS_VERSION = "v1.32"
"""The Pod Security Standards version the labels pin (the main program's
`components/platform/namespace.PSS_VERSION`)."""


def label_release_namespace(
    resource_name: str, namespace: str, opts: pulumi.ResourceOptions, release: pulumi.Resource
) -> k8s.core.v1.NamespacePatch:
    """The labels on `namespace`, applied after `release` created it."""
    labels = {"app.kubernetes.io/part-of": "webapp"}
    for mode, level in (("enforce", "baseline"), ("audit", "restricted"), ("warn", "restricted")):
        labels[f"pod-security.kubernetes.io/{mode}"] = level
        labels[f"pod-security.kubernetes.io/{mode}-version"] = PSS_VERSION
    return k8s.core.v1.NamespacePatch(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaPatchArgs(name=namespace, labels=labels),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[release])),
    )
