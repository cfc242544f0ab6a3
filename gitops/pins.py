"""The pinned versions of what the GitOps project installs (pure data: `tools.schemas` vendors the
CRD schemas and chart values of exactly these)."""

from __future__ import annotations

PULUMI_OPERATOR = {
    "chart": "oci://ghcr.io/pulumi/helm-charts/pulumi-kubernetes-operator",
    "version": "2.9.0",
}
"""Pulumi Kubernetes Operator v2 (app v2.9.0): `Stack`, `Workspace`, `Update`, `Program` CRDs in the
chart's `crds/` folder (Helm installs them once and never deletes them on uninstall)."""
PULUMI_OPERATOR_TAG = "v2.9.0"
"""The operator's tag (chart and app move together: deploy/helm/pulumi-operator/Chart.yaml)."""

ARGO_CD = {"chart": "argo-cd", "version": "10.1.1", "repo": "https://argoproj.github.io/argo-helm"}
"""Argo CD's chart (argoproj/argo-helm, tag argo-cd-10.1.1)."""
ARGO_CD_APP = "v3.4.4"
"""The Argo CD release that chart runs (its appVersion): the CRDs' version."""
