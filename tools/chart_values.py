"""Check a Helm release's values against its pinned chart: every key the chart knows, and the
chart's own `values.schema.json`.

Helm merges values into the chart's defaults and ignores what no template reads, so a misspelt key
(or one under the wrong parent) installs and does nothing, which for a security setting is the
worst outcome. Here a key is known when the chart's default values (`schemas/charts/<chart>/`,
vendored at the pinned version by `tools.schemas`) have it at the same path. Below a parent the
chart leaves free-form (labels, resources, extra volumes: its default is empty), the keys are the
caller's; those parents are listed in `FREE_FORM`, each with the reason, and nothing else is
accepted without a default.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import jsonschema
import kubernetes_validate
import yaml

from .schemas import CHARTS
from .validate import K8S_VERSION


@dataclass(frozen=True)
class FreeForm:
    """A parent whose keys are the caller's: why, and the Kubernetes type it is passed through as
    (then its keys are checked strictly against that type instead of the chart)."""

    reason: str
    kubernetes: str = ""


FREE_FORM: Mapping[str, Mapping[str, FreeForm]] = {
    "argo-cd": {
        f"{component}.resources": FreeForm(
            "the component's container resources, passed through with toYaml (default {})",
            "ResourceRequirements",
        )
        for component in ("controller", "server", "repoServer", "applicationSet", "redis")
    },
    "pulumi-kubernetes-operator": {
        "securityContext": FreeForm(
            "templates/deployment.yaml passes it to the operator container with toYaml",
            "SecurityContext",
        )
    },
    "argo-rollouts": {
        "controller.resources": FreeForm(
            "templates/controller/deployment.yaml passes it through with toYaml",
            "ResourceRequirements",
        )
    },
    "istiod": {
        "env": FreeForm(
            "istiod's environment (pilot feature flags), set on its container as given"
        ),
        "global.proxy.seccompProfile": FreeForm(
            "the sidecar's seccompProfile, set on the injected container as given (default {})"
        ),
    },
    "cert-manager": {
        "config": FreeForm("the controller's ControllerConfiguration, written to a file as given")
    },
    "kube-prometheus-stack": {
        "prometheus.prometheusSpec.storageSpec": FreeForm(
            "a StorageSpec (volumeClaimTemplate) the operator reads; the chart's default is {}"
        ),
        "grafana.podLabels": FreeForm("pod labels (Azure workload identity's use label)"),
        "grafana.extraSecretMounts": FreeForm("volumes the chart mounts as given (the CSI volume)"),
        "crds.upgradeJob.resources": FreeForm(
            "charts/crds/templates/upgrade/job.yaml passes it through with toYaml",
            "ResourceRequirements",
        ),
    },
    "keda": {
        "crds.additionalAnnotations": FreeForm(
            "templates/crds/*.yaml merge it into every CRD's annotations (the keep policy)"
        )
    },
    "external-secrets": {
        "crds.annotations": FreeForm(
            "hack/helm.generate.sh writes it into every CRD's annotations (the keep policy)"
        )
    },
    "reloader": {
        "reloader.deployment.securityContext": FreeForm(
            "templates/deployment.yaml passes it through with toYaml", "PodSecurityContext"
        ),
        "reloader.deployment.containerSecurityContext": FreeForm(
            "templates/deployment.yaml passes it through with toYaml", "SecurityContext"
        ),
        "reloader.deployment.resources": FreeForm(
            "templates/deployment.yaml passes it through with toYaml", "ResourceRequirements"
        ),
    },
}
"""Per chart: dotted paths whose subtree the chart passes through unchecked, and why."""

ISTIO_DEFAULTS = "_internal_defaults_do_not_set"

DOCUMENTED: Mapping[str, Mapping[str, str]] = {
    "argo-cd": {
        "configs.cm.resource.customizations.health.pulumi.com_Stack": "templates/_helpers.tpl "
        "(argo-cd.config.cm) writes every configs.cm entry but create and annotations into "
        "argocd-cm (values.yaml sets resource.customizations.ignoreResourceUpdates.* the same "
        "way); the key is Argo CD's `resource.customizations.health.<group_kind>`"
    },
    "reloader": {
        "reloader.podDisruptionBudget.maxUnavailable": "templates/poddisruptionbudget.yaml "
        "reads it; values.yaml documents it commented out"
    },
}
"""Per chart: keys its templates read that its values.yaml documents only in comments."""


@functools.cache
def defaults(chart: str) -> dict[str, Any]:
    """The chart's default values, with its subcharts' under their keys (read once; callers
    only read them)."""
    folder = CHARTS / chart
    values: dict[str, Any] = yaml.safe_load((folder / "values.yaml").read_text()) or {}
    # Istio's charts keep their defaults under this key and merge the given values over it in
    # their templates (`_internal_defaults_do_not_set`); a caller sets them at the top level.
    values = _merge(values.pop(ISTIO_DEFAULTS, None) or {}, values)
    for sub in sorted(path for path in folder.iterdir() if path.is_dir()):
        # Helm coalesces the parent's section over the subchart's own defaults.
        own = yaml.safe_load((sub / "values.yaml").read_text()) or {}
        values[sub.name] = _merge(own, values.get(sub.name) or {})
    return values


def unknown_keys(chart: str, values: Mapping[str, Any]) -> list[str]:
    """Dotted paths of `values` that the chart's defaults do not have (free-form parents aside)."""
    free = FREE_FORM.get(chart, {})
    documented = DOCUMENTED.get(chart, {})
    found: list[str] = []

    def walk(given: Mapping[str, Any], known: Any, prefix: str) -> None:
        for key, value in given.items():
            path = f"{prefix}{key}"
            if path in free or path in documented:
                continue
            if not isinstance(known, Mapping) or key not in known:
                found.append(path)
                continue
            if isinstance(value, Mapping) and value:
                walk(value, known[key], f"{path}.")

    walk(values, defaults(chart), "")
    return found


@functools.cache
def _validator(chart: str) -> Any:
    """The chart's values.schema.json as a validator (None when the chart ships none)."""
    path: Path = CHARTS / chart / "values.schema.json"
    if not path.exists():
        return None
    schema = json.loads(path.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def schema_errors(chart: str, values: Mapping[str, Any]) -> list[str]:
    """Violations of the chart's values.schema.json (none when the chart ships none)."""
    validator = _validator(chart)
    if validator is None:
        return []
    merged = _merge(defaults(chart), values)
    return [
        f"{'.'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(merged)
    ]


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of values over the defaults (maps merge, everything else replaces)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            merged[key] = _merge(base[key], value)
        else:
            merged[key] = value
    return merged


def _container(field: str) -> Callable[[Any], dict[str, Any]]:
    return lambda value: {"containers": [{"name": "c", "image": "i", field: value}]}


EMBED: Mapping[str, Callable[[Any], dict[str, Any]]] = {
    "PodSecurityContext": lambda value: {
        "securityContext": value,
        "containers": [{"name": "c", "image": "i"}],
    },
    "SecurityContext": _container("securityContext"),
    "ResourceRequirements": _container("resources"),
}
"""Where each passed-through Kubernetes type sits in a Pod's spec."""


def kubernetes_errors(chart: str, values: Mapping[str, Any]) -> list[str]:
    """Passed-through subtrees checked strictly as the Kubernetes type they are."""
    found = []
    for path, free in FREE_FORM.get(chart, {}).items():
        value: Any = values
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is None or not free.kubernetes:
            continue
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
        pod["spec"] = EMBED[free.kubernetes](value)
        try:
            kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            found.append(f"{path}: not a valid {free.kubernetes}: {error.message}")
    return found


def check(chart: str, values: Mapping[str, Any]) -> list[str]:
    """Every problem with a release's values, named by dotted path."""
    unknown = [f"{path}: not a value of the {chart} chart" for path in unknown_keys(chart, values)]
    return unknown + schema_errors(chart, values) + kubernetes_errors(chart, values)
