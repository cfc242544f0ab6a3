"""How each add-on's CustomResourceDefinitions are installed, upgraded and kept.

Helm installs a chart's `crds/` directory on the first install only and never upgrades or deletes
it ("There is no support at this time for upgrading or deleting CRDs using Helm", Helm docs,
chart_best_practices/custom_resource_definitions; in the source, only pkg/action/install.go
reads `crds/`, creating what is missing; pkg/action/upgrade.go renders the templates alone).
pulumi-kubernetes' `helm.v3.Release` drives those same actions (provider/pkg/provider/
helm_release.go: `action.NewInstall`, `action.NewUpgrade`), so a chart bump through a Release
leaves a `crds/` directory's CRDs at the version first installed. CRDs in `templates/` are
upgraded like any other object, and deleted on uninstall unless they carry Helm's keep policy.

So each add-on's CRDs come through a mechanism that upgrades them with the pin, and stays when the
add-on goes (`CRD_LIFECYCLE`, which the README's upgrade procedure repeats):

- Envoy Gateway: `gateway-helm` keeps its CRDs in `crds/` (a subchart's `crds/` from v1.8). They
  come from Envoy Gateway's own CRD chart, `gateway-crds-helm`, at the same version, rendered and
  server-side applied object by object (`helm.v4.Chart`: upstream's documented install is
  `helm template ... | kubectl apply --server-side`, because a Helm release of these CRDs exceeds
  the release Secret's size, helm/helm#12277; charts/gateway-crds-helm/README.md at v1.7.0);
  `gateway-helm` is installed with `skip_crds`. The CRDs are retained (`keep_crds`) and created
  through the adopting provider (`components.kube.lifecycle`).
- kube-prometheus-stack: its `crds` subchart holds them in `crds/`; the chart's own upgrade Job
  (`crds.upgradeJob`, a pre-install/pre-upgrade hook running `kubectl apply --server-side` of the
  chart's CRDs; charts/crds/templates/upgrade/job.yaml at kube-prometheus-stack-79.7.1) applies
  them on every install and upgrade. A `crds/` CRD is never deleted by Helm.
- cert-manager (`crds.enabled` + `crds.keep`), External Secrets (`installCRDs`), KEDA
  (`crds.install`), Argo Rollouts (`installCRDs` + `keepCRDs`), Istio base and ECK: templated
  CRDs, upgraded with the release; each carries `helm.sh/resource-policy: keep` (set here for
  External Secrets and KEDA, whose charts only offer the annotation; shipped by Istio's
  crd-all.gen.yaml and ECK's eck-operator-crds at their pinned tags).
- RabbitMQ Cluster Operator: its release manifest, applied object by object (`yaml.v2.ConfigFile`),
  so the CRD follows the pinned manifest; retained (`keep_crds`) because it is the manifest's child.

A retained CRD left by an earlier install is adopted again: by Helm when its ownership
annotations name the same release (pkg/action/validate.go, existingResourceConflict: the release
names here are fixed), by the adopting provider for the two applied by Pulumi.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.kube.lifecycle import KEEP_POLICY, keep_crds

ENVOY_GATEWAY_CRDS_CHART = "oci://docker.io/envoyproxy/gateway-crds-helm"
"""Envoy Gateway's CRD chart (charts/gateway-crds-helm), released with every Envoy Gateway
version: the Gateway API CRDs and Envoy Gateway's own, in `templates/`."""
GATEWAY_API_CHANNEL = "experimental"
"""The Gateway API channel: the one gateway-helm's `crds/` has installed so far
(charts/gateway-helm/crds/gatewayapi-crds.yaml at v1.7.0 is the experimental channel, identical
to the CRD chart's `experimental-gatewayapi-crds.yaml`), so moving to the CRD chart changes no
CRD and drops no field of a stored object."""
BUSYBOX = "1.37.0"
"""The busybox image kube-prometheus-stack's CRD upgrade Job unpacks the CRDs with (the chart's
default tag is `latest`)."""

CRD_LIFECYCLE = {
    "cert-manager": "templates (crds.enabled), kept (crds.keep)",
    "external-secrets": "templates (installCRDs), kept (crds.annotations)",
    "envoy-gateway": "gateway-crds-helm chart, server-side applied, retained",
    "kube-prometheus-stack": "crds.upgradeJob (server-side apply hook), never deleted",
    "argo-rollouts": "templates (installCRDs), kept (keepCRDs)",
    "keda": "templates (crds.install), kept (crds.additionalAnnotations)",
    "istio": "templates (base chart), kept (chart's annotation)",
    "rabbitmq-operator": "release manifest (ConfigFile), retained",
    "eck": "templates (eck-operator-crds), kept (chart's annotation)",
}
"""Per add-on: where its CRDs come from and what keeps them (the README's upgrade table)."""


def gateway_crds(
    resource_name: str,
    version: str,
    opts: pulumi.ResourceOptions,
    adopt: Optional[pulumi.ProviderResource],
) -> k8s.helm.v4.Chart:
    """The Gateway API CRDs (`GATEWAY_API_CHANNEL`) and Envoy Gateway's, from `gateway-crds-helm` at
    `version`: each CRD a resource of its own, applied and updated server-side, retained on delete,
    created through `adopt` (a CRD left by an earlier install, or created by `gateway-helm`'s
    `crds/` before this chart existed, is taken over rather than refused)."""
    extra = pulumi.ResourceOptions(transforms=[keep_crds])
    if adopt is not None:
        extra.providers = [adopt]
    return k8s.helm.v4.Chart(
        resource_name,
        chart=ENVOY_GATEWAY_CRDS_CHART,
        version=version,
        values={
            "crds": {
                "gatewayAPI": {"enabled": True, "channel": GATEWAY_API_CHANNEL},
                "envoyGateway": {"enabled": True},
            }
        },
        opts=pulumi.ResourceOptions.merge(opts, extra),
    )


def kept_crd_values(chart: str) -> dict[str, Any]:
    """The values that put Helm's keep policy on a chart's templated CRDs, for the charts whose
    CRDs do not carry it: External Secrets (hack/helm.generate.sh at helm-chart-0.19.2 writes
    `crds.annotations` into every CRD) and KEDA (templates/crds/*.yaml at v2.20.2,
    `crds.additionalAnnotations`)."""
    if chart == "external-secrets":
        return {"crds": {"annotations": dict(KEEP_POLICY)}}
    if chart == "keda":
        return {"crds": {"install": True, "additionalAnnotations": dict(KEEP_POLICY)}}
    raise ValueError(f"{chart}: no keep-policy values known")


def prometheus_crd_values() -> dict[str, Any]:
    """kube-prometheus-stack's CRD upgrade Job on, forcing conflicts: the CRDs were created by
    Helm's `crds/` install (field manager `helm`), so the Job's server-side apply of a newer
    version would otherwise conflict on every changed field. The chart's hardened pod and
    container security contexts are kept; the busybox image is pinned."""
    return {
        "crds": {
            "enabled": True,
            "upgradeJob": {
                "enabled": True,
                "forceConflicts": True,
                "image": {"busybox": {"tag": BUSYBOX}},
                "resources": {
                    "requests": {"cpu": "50m", "memory": "64Mi"},
                    "limits": {"cpu": "500m", "memory": "256Mi"},
                },
            },
        }
    }
