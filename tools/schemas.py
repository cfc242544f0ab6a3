"""Vendor the CRD schemas of every custom resource this program declares, at the pinned versions.

    python -m tools.schemas --clone prometheus-community/helm-charts=<dir> --clone ...
    make schemas CLONES="owner/name=<dir> ..."

Also vendors each pinned chart's `values.yaml` (and `values.schema.json` where the chart ships
one) into `schemas/charts/<chart>/` (`CHART_SOURCES`), which `tools.chart_values` checks every
release's values against.

For each source (`SOURCES`: a repository, the tag of the version the program pins, a path) it
reads the CRD manifest at that tag (`git show <tag>:<path>`; a file may hold several CRDs) and
writes the `openAPIV3Schema` of each kind and version the program uses to
`schemas/crds/<group>_<kind>_<version>.json`, with where it came from (repository, tag, commit,
path) in `schemas/crds/PROVENANCE.json`. `tools.validate` reads this directory, so every custom
resource is checked against the controller version the program deploys; bumping a chart is this
command and a reviewed diff (a test fails on a pin without its schemas).

The tags follow the pins in the code: the add-on charts (`platform.addons`) and, for the Secrets
Store CSI driver, which AKS runs as an add-on rather than this program,
`azure.delivery.CSI_DRIVER_VERSION`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from components.azure.delivery import CSI_DRIVER_VERSION
from components.platform.addons import (
    ARGO_ROLLOUTS,
    ARGO_ROLLOUTS_APP,
    CERT_MANAGER,
    ECK,
    ENVOY_GATEWAY,
    EXTERNAL_SECRETS,
    ISTIO_BASE,
    KEDA,
    PROMETHEUS_STACK,
    RABBITMQ_OPERATOR,
    RELOADER,
)
from components.platform.crds import GATEWAY_API_CHANNEL
from gitops.pins import ARGO_CD, ARGO_CD_APP, PULUMI_OPERATOR_TAG

from .offline import ROOT

SCHEMAS = ROOT / "schemas" / "crds"
CHARTS = ROOT / "schemas" / "charts"


@dataclass(frozen=True)
class Source:
    repo: str
    tag: str
    path: str
    kinds: tuple[tuple[str, str], ...]
    """(kind, version) of each schema taken from the file."""


KPS = "prometheus-community/helm-charts"
KPS_TAG = f"kube-prometheus-stack-{PROMETHEUS_STACK['version']}"
KPS_CRDS = "charts/kube-prometheus-stack/charts/crds/crds"
EG = "envoyproxy/gateway"
EG_CRDS = "charts/gateway-crds-helm/templates"
"""Envoy Gateway's CRD chart, the one the program applies (`platform.crds`): the same files at
every release (gateway-helm's own `crds/` moved into a subchart in v1.8), each wrapped in one
`{{- if ... }}` ... `{{- end }}` that `_untemplated` removes."""
ESO = "external-secrets/external-secrets"
ESO_TAG = f"v{EXTERNAL_SECRETS['version']}"
CM = "cert-manager/cert-manager"
CSI = "kubernetes-sigs/secrets-store-csi-driver"
ARGO = "argoproj/argo-rollouts"
KEDA_REPO = "kedacore/keda"
ISTIO = "istio/istio"
ISTIO_CRDS = "manifests/charts/base/files/crd-all.gen.yaml"
ELASTIC = "elastic/cloud-on-k8s"
ECK_TAG = f"v{ECK['version']}"
PKO = "pulumi/pulumi-kubernetes-operator"
ARGO_CD_REPO = "argoproj/argo-cd"
SOURCES = (
    Source(KPS, KPS_TAG, f"{KPS_CRDS}/crd-podmonitors.yaml", (("PodMonitor", "v1"),)),
    Source(KPS, KPS_TAG, f"{KPS_CRDS}/crd-servicemonitors.yaml", (("ServiceMonitor", "v1"),)),
    Source(KPS, KPS_TAG, f"{KPS_CRDS}/crd-prometheusrules.yaml", (("PrometheusRule", "v1"),)),
    Source(
        KPS,
        KPS_TAG,
        f"{KPS_CRDS}/crd-alertmanagerconfigs.yaml",
        (("AlertmanagerConfig", "v1alpha1"),),
    ),
    Source(
        CM,
        CERT_MANAGER["version"],
        "deploy/crds/cert-manager.io_certificates.yaml",
        (("Certificate", "v1"),),
    ),
    Source(
        CM,
        CERT_MANAGER["version"],
        "deploy/crds/cert-manager.io_clusterissuers.yaml",
        (("ClusterIssuer", "v1"),),
    ),
    Source(
        CM,
        CERT_MANAGER["version"],
        "deploy/crds/cert-manager.io_issuers.yaml",
        (("Issuer", "v1"),),
    ),
    Source(
        ESO,
        ESO_TAG,
        "config/crds/bases/external-secrets.io_externalsecrets.yaml",
        (("ExternalSecret", "v1"),),
    ),
    Source(
        ESO,
        ESO_TAG,
        "config/crds/bases/external-secrets.io_clustersecretstores.yaml",
        (("ClusterSecretStore", "v1"),),
    ),
    Source(
        EG,
        ENVOY_GATEWAY["version"],
        f"{EG_CRDS}/{GATEWAY_API_CHANNEL}-gatewayapi-crds.yaml",
        (("Gateway", "v1"), ("GatewayClass", "v1"), ("HTTPRoute", "v1")),
    ),
    *(
        Source(
            EG,
            ENVOY_GATEWAY["version"],
            f"{EG_CRDS}/generated/gateway.envoyproxy.io_{plural}.yaml",
            ((kind, "v1alpha1"),),
        )
        for kind, plural in (
            ("EnvoyProxy", "envoyproxies"),
            ("BackendTrafficPolicy", "backendtrafficpolicies"),
            ("ClientTrafficPolicy", "clienttrafficpolicies"),
            ("SecurityPolicy", "securitypolicies"),
        )
    ),
    Source(
        CSI,
        CSI_DRIVER_VERSION,
        "charts/secrets-store-csi-driver/crds/secrets-store.csi.x-k8s.io_secretproviderclasses.yaml",
        (("SecretProviderClass", "v1"),),
    ),
    Source(ARGO, ARGO_ROLLOUTS_APP, "manifests/crds/rollout-crd.yaml", (("Rollout", "v1alpha1"),)),
    Source(
        ARGO,
        ARGO_ROLLOUTS_APP,
        "manifests/crds/analysis-template-crd.yaml",
        (("AnalysisTemplate", "v1alpha1"),),
    ),
    Source(
        KEDA_REPO,
        f"v{KEDA['version']}",
        "config/crd/bases/keda.sh_scaledobjects.yaml",
        (("ScaledObject", "v1alpha1"),),
    ),
    Source(
        KEDA_REPO,
        f"v{KEDA['version']}",
        "config/crd/bases/keda.sh_triggerauthentications.yaml",
        (("TriggerAuthentication", "v1alpha1"),),
    ),
    Source(
        ISTIO,
        ISTIO_BASE["version"],
        ISTIO_CRDS,
        (
            ("VirtualService", "v1"),
            ("DestinationRule", "v1"),
            ("PeerAuthentication", "v1"),
            ("AuthorizationPolicy", "v1"),
        ),
    ),
    Source(
        "rabbitmq/cluster-operator",
        RABBITMQ_OPERATOR,
        "config/crd/bases/rabbitmq.com_rabbitmqclusters.yaml",
        (("RabbitmqCluster", "v1beta1"),),
    ),
    Source(
        ELASTIC,
        ECK_TAG,
        "config/crds/v1/resources/elasticsearch.k8s.elastic.co_elasticsearches.yaml",
        (("Elasticsearch", "v1"),),
    ),
    # The GitOps project (gitops/): the operator's Stack, and Argo CD's kinds.
    Source(PKO, PULUMI_OPERATOR_TAG, "deploy/crds/pulumi.com_stacks.yaml", (("Stack", "v1"),)),
    *(
        Source(ARGO_CD_REPO, ARGO_CD_APP, f"manifests/crds/{name}-crd.yaml", ((kind, "v1alpha1"),))
        for kind, name in (
            ("Application", "application"),
            ("ApplicationSet", "applicationset"),
            ("AppProject", "appproject"),
        )
    ),
)
"""Per CRD manifest: the repository, the tag of the pinned version, the path, what is taken."""


@dataclass(frozen=True)
class ChartSource:
    """Where a pinned chart's default values (and its values.schema.json) are, at its tag."""

    chart: str
    repo: str
    tag: str
    values: str
    schema: Optional[str] = None
    key: str = ""
    """For a subchart: the parent chart's key its values live under."""


GRAFANA_CHART = "10.2.0"
"""The Grafana chart kube-prometheus-stack 79.7.1 depends on (its Chart.yaml)."""
CHART_SOURCES = (
    ChartSource(
        "cert-manager",
        CM,
        CERT_MANAGER["version"],
        "deploy/charts/cert-manager/values.yaml",
        "deploy/charts/cert-manager/values.schema.json",
    ),
    ChartSource(
        "external-secrets",
        ESO,
        f"helm-chart-{EXTERNAL_SECRETS['version']}",
        "deploy/charts/external-secrets/values.yaml",
        "deploy/charts/external-secrets/values.schema.json",
    ),
    ChartSource(
        "envoy-gateway", EG, ENVOY_GATEWAY["version"], "charts/gateway-helm/values.tmpl.yaml"
    ),
    ChartSource(
        "envoy-gateway-crds", EG, ENVOY_GATEWAY["version"], "charts/gateway-crds-helm/values.yaml"
    ),
    ChartSource(
        "reloader",
        "stakater/Reloader",
        f"chart-v{RELOADER['version']}",
        "deployments/kubernetes/chart/reloader/values.yaml",
        "deployments/kubernetes/chart/reloader/values.schema.json",
    ),
    ChartSource("kube-prometheus-stack", KPS, KPS_TAG, "charts/kube-prometheus-stack/values.yaml"),
    ChartSource(
        "argo-rollouts",
        "argoproj/argo-helm",
        f"argo-rollouts-{ARGO_ROLLOUTS['version']}",
        "charts/argo-rollouts/values.yaml",
    ),
    ChartSource("keda", "kedacore/charts", f"v{KEDA['version']}", "keda/values.yaml"),
    ChartSource("istio-base", ISTIO, ISTIO_BASE["version"], "manifests/charts/base/values.yaml"),
    ChartSource("eck-operator", ELASTIC, ECK_TAG, "deploy/eck-operator/values.yaml"),
    ChartSource(
        "eck-operator",
        ELASTIC,
        ECK_TAG,
        "deploy/eck-operator/charts/eck-operator-crds/values.yaml",
        key="eck-operator-crds",
    ),
    ChartSource(
        "istio-cni", ISTIO, ISTIO_BASE["version"], "manifests/charts/istio-cni/values.yaml"
    ),
    ChartSource(
        "istiod",
        ISTIO,
        ISTIO_BASE["version"],
        "manifests/charts/istio-control/istio-discovery/values.yaml",
    ),
    ChartSource(
        "kube-prometheus-stack",
        "grafana/helm-charts",
        f"grafana-{GRAFANA_CHART}",
        "charts/grafana/values.yaml",
        key="grafana",
    ),
    ChartSource(
        "pulumi-kubernetes-operator",
        PKO,
        PULUMI_OPERATOR_TAG,
        "deploy/helm/pulumi-operator/values.yaml",
    ),
    ChartSource(
        "argo-cd",
        "argoproj/argo-helm",
        f"argo-cd-{ARGO_CD['version']}",
        "charts/argo-cd/values.yaml",
    ),
)
"""The pinned charts' default values: an unknown key in a release's values is an error
(`tools.chart_values`)."""
GITOPS_CHARTS = ("pulumi-kubernetes-operator", "argo-cd")
"""The charts only the GitOps project (gitops/) installs: tests/gitops checks their pins."""


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads a bare `=` (the CRDs' matchType enum) as the `value` type; it is a string."""


def _scalar(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    assert isinstance(node, yaml.ScalarNode)
    return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:value", _scalar)


def git(git_dir: Path, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], capture_output=True, text=True, check=True
    ).stdout


def _show(git_dir: Path, repo: str, tag: str, path: str) -> str:
    """A file at a tag, or a message naming the source when the tag or the path is not there
    (an upstream move, such as gateway-helm's `crds/` into a subchart in v1.8)."""
    try:
        return git(git_dir, "show", f"{tag}:{path}")
    except subprocess.CalledProcessError as failure:
        raise SystemExit(
            f"{repo}@{tag}: cannot read {path} ({failure.stderr.strip()}); "
            "has the file moved upstream? update tools/schemas.py SOURCES"
        ) from failure


def extract(manifest: dict[str, Any], version: str) -> dict[str, Any]:
    """One served version's `openAPIV3Schema` from a CRD manifest."""
    for served in manifest["spec"]["versions"]:
        if served["name"] == version:
            schema: dict[str, Any] = served["schema"]["openAPIV3Schema"]
            return schema
    raise SystemExit(f"{manifest['metadata']['name']}: no version {version}")


def _untemplated(text: str) -> str:
    """A chart template without its lines that are only a Helm action (`{{- if ... }}`,
    `{{- end }}`): the CRD charts wrap plain manifests in a condition and template nothing else,
    which `_manifests` checks by parsing the rest as YAML."""
    return "\n".join(
        line
        for line in text.splitlines()
        if not (line.strip().startswith("{{") and line.strip().endswith("}}"))
    )


def _manifests(text: str) -> dict[str, dict[str, Any]]:
    """Kind -> CRD of every CustomResourceDefinition in a (multi-document) file."""
    found = {}
    for document in yaml.load_all(_untemplated(text), _Loader):
        if document and document.get("kind") == "CustomResourceDefinition":
            found[document["spec"]["names"]["kind"]] = document
    return found


def _kept(
    previous: Mapping[str, dict[str, str]], repo: str, tag: str, path: str
) -> dict[str, dict[str, str]]:
    """The files vendored from `repo`@`tag`:`path` before, when no clone of `repo` is given: a
    source whose pin has not moved needs no clone (a moved pin does, and is refused without)."""
    kept = {
        name: origin
        for name, origin in previous.items()
        if (origin["repo"], origin["tag"], origin["path"]) == (repo, tag, path)
    }
    if not kept:
        raise SystemExit(f"--clone {repo}=<dir> is needed (tag {tag})")
    return kept


def _previous(out: Path) -> dict[str, dict[str, str]]:
    path = out / "PROVENANCE.json"
    recorded: dict[str, dict[str, str]] = json.loads(path.read_text()) if path.exists() else {}
    return recorded


def vendor(clones: Mapping[str, Path], out: Path = SCHEMAS) -> dict[str, dict[str, str]]:
    provenance: dict[str, dict[str, str]] = {}
    out.mkdir(parents=True, exist_ok=True)
    previous = _previous(out)
    keep: set[str] = set()
    for source in SOURCES:
        if source.repo not in clones:
            kept = _kept(previous, source.repo, source.tag, source.path)
            provenance.update(kept)
            keep.update(kept)
            continue
        git_dir = clones[source.repo]
        manifests = _manifests(_show(git_dir, source.repo, source.tag, source.path))
        commit = git(git_dir, "rev-list", "-n", "1", source.tag).strip()
        for kind, version in source.kinds:
            manifest = manifests[kind]
            name = f"{manifest['spec']['group']}_{kind}_{version}.json"
            (out / name).write_text(json.dumps(extract(manifest, version), indent=1) + "\n")
            provenance[name] = {
                "repo": source.repo,
                "tag": source.tag,
                "commit": commit,
                "path": source.path,
            }
            keep.add(name)
    for stale in out.glob("*.json"):
        if stale.name != "PROVENANCE.json" and stale.name not in keep:
            stale.unlink()
    (out / "PROVENANCE.json").write_text(json.dumps(provenance, indent=1, sort_keys=True) + "\n")
    return provenance


def vendor_charts(clones: Mapping[str, Path], out: Path = CHARTS) -> dict[str, dict[str, str]]:
    """Each chart's values.yaml (and values.schema.json) at its tag, under `out/<chart>/`."""
    provenance: dict[str, dict[str, str]] = {}
    previous = _previous(out)
    for source in CHART_SOURCES:
        if source.repo not in clones:
            for path in (source.values, source.schema):
                if path:
                    provenance.update(_kept(previous, source.repo, source.tag, path))
            continue
        git_dir = clones[source.repo]
        commit = git(git_dir, "rev-list", "-n", "1", source.tag).strip()
        folder = out / source.chart / source.key if source.key else out / source.chart
        folder.mkdir(parents=True, exist_ok=True)
        files = [("values.yaml", source.values)]
        if source.schema:
            files.append(("values.schema.json", source.schema))
        for name, path in files:
            (folder / name).write_text(_show(git_dir, source.repo, source.tag, path))
            provenance[str((folder / name).relative_to(out))] = {
                "repo": source.repo,
                "tag": source.tag,
                "commit": commit,
                "path": path,
            }
    (out / "PROVENANCE.json").write_text(json.dumps(provenance, indent=1, sort_keys=True) + "\n")
    return provenance


def _clone(text: str) -> tuple[str, Path]:
    repo, _, path = text.partition("=")
    if not path:
        raise argparse.ArgumentTypeError(f"{text!r}: expected owner/name=<git dir>")
    return repo, Path(path)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="vendor CRD schemas at the pinned versions")
    parser.add_argument(
        "--clone",
        type=_clone,
        action="append",
        default=[],
        help="owner/name=<git dir>: a clone (or bare mirror) with the source's tags",
    )
    args = parser.parse_args(argv)
    clones = dict(args.clone)
    for name, origin in {**vendor(clones), **vendor_charts(clones)}.items():
        print(f"{name}: {origin['repo']}@{origin['tag']}:{origin['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
