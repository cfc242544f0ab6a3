"""Hardening over every stack's rendered objects: API tokens only where a pod calls the API, UIDs
and GIDs above 10000 except where the allow-lists below say why.

The checks are pure functions of the rendered manifests and Helm values, each with a negative test
on a hand-made object, then run over every stack in every variant (`tools.golden.VARIANTS`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

from tests.support import STACKS, pod_specs
from tools.golden import VARIANTS, variant_overrides
from tools.offline import ROOT, StackRun, normalise

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
GRAFANA_CHART_VALUES = ROOT / "schemas/charts/kube-prometheus-stack/grafana/values.yaml"
"""Grafana chart 10.2.0's values.yaml as kube-prometheus-stack 79.7.1 vendors it (PROVENANCE)."""

API_TOKEN_ALLOWED: dict[str, str] = {
    r"Job/[a-z0-9-]+-release-[0-9a-f]{10}": (
        "the release gate runs `kubectl argo rollouts status`, which watches the Rollout, its "
        "ReplicaSets, pods and AnalysisRuns through the API (components/workloads/release_gate.py)"
    ),
    r"kube-prometheus-stack/grafana": (
        "Grafana's dashboard sidecar (kiwigrid/k8s-sidecar) lists and watches the "
        "`grafana_dashboard` ConfigMaps of every namespace through the API"
    ),
}
"""Pods that mount a Kubernetes API token, each with the reason it calls the API server. A
projected workload identity token (Azure's webhook adds one, audience `api://AzureADTokenExchange`)
is not an API token and needs no entry."""

UID_EXCEPTIONS: dict[str, str] = {
    r"StatefulSet/postgres": (
        "PostgreSQL refuses a data directory it does not own, and a restricted pod cannot chown the "
        "existing volume: the server keeps the image's UID 70 (components/data/postgres.py "
        "POSTGRES_UID)"
    ),
    r"argo-rollouts/controller\.initContainers\[copy-gateway-api-plugin\]": (
        "copies the Gateway API plugin for the controller, which the chart runs as its image's "
        "user 999: a copy owned by another UID would be executable only through the file's "
        "'other' bits, which the plugin image does not promise"
    ),
}
"""Pods (or chart values) that run at or below UID/GID 10000, each with the reason."""

IDS = ("runAsUser", "runAsGroup", "fsGroup")


def _allowed(table: dict[str, str], subject: str) -> str | None:
    """The reason `subject` is on the allow-list `table`, or None."""
    return next((why for pattern, why in table.items() if re.fullmatch(pattern, subject)), None)


def _api_token_volumes(pod: dict[str, Any]) -> list[str]:
    """Projected ServiceAccount tokens for the API server (no audience, or the API's own)."""
    found = []
    for volume in pod.get("volumes") or []:
        for source in (volume.get("projected") or {}).get("sources") or []:
            token = source.get("serviceAccountToken")
            if token is not None and token.get("audience") in (None, "", "kubernetes"):
                found.append(volume["name"])
    return found


def api_token_violations(objects: list[dict[str, Any]]) -> list[str]:
    """Every pod that mounts an API token without an allow-list entry, every pod that leaves the
    choice to its ServiceAccount, and every ServiceAccount that hands a token to its pods."""
    problems = []
    for workload, pod, _ in pod_specs(objects, jobs=True):
        automount = pod.get("automountServiceAccountToken")
        if not isinstance(automount, bool):
            problems.append(f"{workload}: automountServiceAccountToken unset (the SA decides)")
        elif automount and _allowed(API_TOKEN_ALLOWED, workload) is None:
            problems.append(f"{workload}: mounts an API token and is not on the allow-list")
        for volume in _api_token_volumes(pod):
            if _allowed(API_TOKEN_ALLOWED, workload) is None:
                problems.append(f"{workload}: projects an API token in volume {volume}")
    for obj in objects:
        if obj["kind"] == "ServiceAccount" and obj.get("automountServiceAccountToken") is not False:
            problems.append(f"ServiceAccount/{obj['metadata']['name']}: automount not off")
    return problems


def _chart_name(release: dict[str, Any]) -> str:
    return str(release["chart"]).rsplit("/", 1)[-1]


def helm_api_token_violations(releases: list[dict[str, Any]]) -> list[str]:
    """Every `automountServiceAccountToken: true` the program sets in a chart's values, and
    Grafana's effective setting (the chart's default unless the values set it), unless allowed."""
    problems = []
    grafana_default = yaml.safe_load(GRAFANA_CHART_VALUES.read_text())[
        "automountServiceAccountToken"
    ]
    for release in releases:
        chart, values = _chart_name(release), release.get("values") or {}
        for path, value in _walk(values):
            if path.endswith("automountServiceAccountToken") and value is True:
                subject = f"{chart}/{path.removesuffix('.automountServiceAccountToken')}"
                if _allowed(API_TOKEN_ALLOWED, subject) is None:
                    problems.append(f"{subject}: mounts an API token and is not on the allow-list")
        if chart == "kube-prometheus-stack":
            grafana = values.get("grafana") or {}
            if grafana.get("automountServiceAccountToken", grafana_default) and (
                _allowed(API_TOKEN_ALLOWED, f"{chart}/grafana") is None
            ):
                problems.append(f"{chart}/grafana: mounts an API token (chart default)")
    return problems


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, leaf) of a values tree; list items are named by their `name`."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            name = item.get("name", index) if isinstance(item, dict) else index
            yield from _walk(item, f"{path}[{name}]")
    else:
        yield path, value


def uid_violations(objects: list[dict[str, Any]]) -> list[str]:
    """Every pod whose UID, GID or fsGroup (a container's own, else the pod's) is 10000 or below,
    or unset, unless it is an exception."""
    problems = []
    for workload, pod, _ in pod_specs(objects, jobs=True):
        if _allowed(UID_EXCEPTIONS, workload) is not None:
            continue
        own = pod.get("securityContext") or {}
        containers = [*(pod.get("initContainers") or []), *pod["containers"]]
        for container in containers:
            context = container.get("securityContext") or {}
            for key in IDS:
                value = own.get(key) if key == "fsGroup" else context.get(key, own.get(key))
                if not isinstance(value, int) or value <= 10000:
                    problems.append(f"{workload}/{container['name']}: {key} {value}")
    return problems


def helm_uid_violations(releases: list[dict[str, Any]]) -> list[str]:
    """Every UID or GID the program sets in a chart's values that is 10000 or below."""
    problems = []
    for release in releases:
        for path, value in _walk(release.get("values") or {}):
            key = path.rsplit(".", 1)[-1]
            if key not in IDS or (isinstance(value, int) and value > 10000):
                continue
            owner = path.rsplit(".securityContext", 1)[0]
            if _allowed(UID_EXCEPTIONS, f"{_chart_name(release)}/{owner}") is None:
                problems.append(f"{_chart_name(release)}/{path}: {value}")
    return problems


def _releases(run: StackRun) -> list[dict[str, Any]]:
    return [normalise(r.inputs) for r in run.resources if r.type == HELM_RELEASE]


# --- the checks catch what they are for --------------------------------------------------------


def _deployment(name: str, pod: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"containers": [{"name": name}], **pod}}},
    }


def _job(name: str, pod: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "Job", "metadata": {"name": name}, "spec": {"template": {"spec": pod}}}


SAFE_POD = {
    "automountServiceAccountToken": False,
    "securityContext": {"runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532},
    "containers": [{"name": "app"}],
}


def test_the_token_check_flags_what_is_not_allowed() -> None:
    objects = [
        _deployment("safe", SAFE_POD),
        _deployment("asks", {**SAFE_POD, "automountServiceAccountToken": True}),
        _deployment("leaves-it", {k: v for k, v in SAFE_POD.items() if k.startswith("sec")}),
        _deployment(
            "projects",
            {
                **SAFE_POD,
                "volumes": [
                    {
                        "name": "token",
                        "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]},
                    },
                    {
                        "name": "azure-identity-token",
                        "projected": {
                            "sources": [
                                {
                                    "serviceAccountToken": {
                                        "audience": "api://AzureADTokenExchange",
                                        "path": "t",
                                    }
                                }
                            ]
                        },
                    },
                ],
            },
        ),
        _job("api-release-0123456789", {**SAFE_POD, "automountServiceAccountToken": True}),
        _job("api-migrate", {**SAFE_POD, "automountServiceAccountToken": True}),
        {
            "kind": "ServiceAccount",
            "metadata": {"name": "quiet"},
            "automountServiceAccountToken": False,
        },
        {"kind": "ServiceAccount", "metadata": {"name": "default-ish"}},
    ]
    assert api_token_violations(objects) == [
        "Deployment/asks: mounts an API token and is not on the allow-list",
        "Deployment/leaves-it: automountServiceAccountToken unset (the SA decides)",
        "Deployment/projects: projects an API token in volume token",
        "Job/api-migrate: mounts an API token and is not on the allow-list",
        "ServiceAccount/default-ish: automount not off",
    ]
    releases = [
        {"chart": "keda", "values": {"operator": {"automountServiceAccountToken": True}}},
        {"chart": "kube-prometheus-stack", "values": {"grafana": {}}},
    ]
    assert helm_api_token_violations(releases) == [
        "keda/operator: mounts an API token and is not on the allow-list"
    ]


def test_the_uid_check_flags_what_is_not_excepted() -> None:
    low_container = {
        **SAFE_POD,
        "initContainers": [{"name": "init", "securityContext": {"runAsUser": 999}}],
    }
    objects = [
        _deployment("safe", SAFE_POD),
        _deployment("low-init", low_container),
        _job("low-group", {**SAFE_POD, "securityContext": {"runAsUser": 65532, "fsGroup": 70}}),
        {
            "kind": "StatefulSet",
            "metadata": {"name": "postgres"},
            "spec": {"template": {"spec": {**SAFE_POD, "securityContext": {"runAsUser": 70}}}},
        },
    ]
    assert uid_violations(objects) == [
        "Deployment/low-init/init: runAsUser 999",
        "Job/low-group/app: runAsGroup None",
        "Job/low-group/app: fsGroup 70",
    ]
    releases = [
        {"chart": "reloader", "values": {"deployment": {"securityContext": {"runAsUser": 65534}}}},
        {"chart": "keda", "values": {"operator": {"securityContext": {"runAsGroup": 1000}}}},
    ]
    assert helm_uid_violations(releases) == ["keda/operator.securityContext.runAsGroup: 1000"]


# --- every stack, every variant ----------------------------------------------------------------


@pytest.fixture(params=[(s, v) for s in STACKS for v in VARIANTS], ids=lambda p: f"{p[0]}-{p[1]}")
def run(request: pytest.FixtureRequest, stack_run: Callable[..., StackRun]) -> StackRun:
    stack, variant = request.param
    return stack_run(stack, variant_overrides(stack, variant))


def test_api_tokens_are_mounted_only_where_a_pod_calls_the_api(run: StackRun) -> None:
    assert api_token_violations(run.kubernetes_objects()) == []
    assert helm_api_token_violations(_releases(run)) == []


def test_pods_run_above_uid_and_gid_10000_or_say_why(run: StackRun) -> None:
    assert uid_violations(run.kubernetes_objects()) == []
    assert helm_uid_violations(_releases(run)) == []


def test_every_allow_list_entry_is_still_needed(stack_run: Callable[..., StackRun]) -> None:
    """An entry no stack uses any more is removed, not left to excuse the next pod."""
    used: set[str] = set()
    for stack in STACKS:
        for variant in VARIANTS:
            run = stack_run(stack, variant_overrides(stack, variant))
            subjects = [w for w, _, _ in pod_specs(run.kubernetes_objects(), jobs=True)]
            for release in _releases(run):
                chart = _chart_name(release)
                subjects += [f"{chart}/{p}" for p, _ in _walk(release.get("values") or {})]
                subjects += [f"{chart}/grafana"] if chart == "kube-prometheus-stack" else []
            for table in (API_TOKEN_ALLOWED, UID_EXCEPTIONS):
                used |= {
                    pattern
                    for pattern in table
                    for subject in subjects
                    if re.fullmatch(pattern, subject)
                    or re.fullmatch(pattern, subject.rsplit(".securityContext", 1)[0])
                }
    assert used == set(API_TOKEN_ALLOWED) | set(UID_EXCEPTIONS)


def test_the_grafana_chart_default_is_read_from_the_vendored_chart() -> None:
    """The Grafana check relies on this default; a chart bump that changes it shows up here."""
    values = yaml.safe_load(Path(GRAFANA_CHART_VALUES).read_text())
    assert values["automountServiceAccountToken"] is True
    assert values["serviceAccount"]["automountServiceAccountToken"] is False
