"""Every Helm release's values are the pinned chart's: known keys only, and its values schema."""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest

from tests.support import STACKS
from tools import chart_values, schemas
from tools.golden import VARIANTS, variant_overrides
from tools.offline import Registered, StackRun

CHART_OF = {
    "gateway-helm": "envoy-gateway",
    "gateway-crds-helm": "envoy-gateway-crds",
    "base": "istio-base",
    "cni": "istio-cni",
}


def releases(run: StackRun) -> list[Registered]:
    """Helm releases, and the charts applied object by object (`helm.v4.Chart`)."""
    return [
        r
        for r in run.resources
        if r.type in ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
    ]


def chart(release: Registered) -> str:
    name = release.inputs["chart"].rsplit("/", 1)[-1]
    return CHART_OF.get(name, name)


@pytest.mark.parametrize("stack,variant", [(s, v) for s in STACKS for v in VARIANTS])
def test_every_release_sets_only_what_its_chart_reads(
    stack: str, variant: str, stack_run: Callable[..., StackRun]
) -> None:
    run = stack_run(stack, variant_overrides(stack, variant))
    for release in releases(run):
        assert chart_values.check(chart(release), release.inputs.get("values") or {}) == []


def test_each_release_is_at_a_vendored_chart_version(stack_run: Callable[..., StackRun]) -> None:
    tags = {
        source.chart: source.tag
        for source in schemas.CHART_SOURCES
        if not source.key and source.chart not in schemas.GITOPS_CHARTS
    }
    found = set()
    for stack in STACKS:
        # As shipped, and with the optional services' operators (ECK is a chart).
        optional = stack_run(stack, variant_overrides(stack, "optional-services"))
        for release in releases(stack_run(stack)) + releases(optional):
            name = chart(release)
            version = release.inputs["version"].removeprefix("v")
            assert tags[name].endswith(version), (name, release.inputs["version"], tags[name])
            found.add(name)
    assert found == set(tags)
    provenance = json.loads((schemas.CHARTS / "PROVENANCE.json").read_text())
    assert {origin["tag"] for origin in provenance.values()} == {
        source.tag for source in schemas.CHART_SOURCES
    }


@pytest.mark.parametrize(
    "chart_name, values, expected",
    [
        # A misspelt key.
        ("reloader", {"reloader": {"autoReloadAl": False}}, "reloader.autoReloadAl: not a value"),
        # A key under the wrong parent: the sidecar's option is `dashboards`, not `dashboard`.
        (
            "kube-prometheus-stack",
            {"grafana": {"sidecar": {"dashboard": {"enabled": True}}}},
            "grafana.sidecar.dashboard: not a value",
        ),
        # A value the chart's own schema refuses.
        ("cert-manager", {"replicaCount": "two"}, "replicaCount: 'two' is not of type"),
        ("external-secrets", {"replicaCount": "two"}, "replicaCount: 'two' is not of type"),
        (
            "reloader",
            {"reloader": {"reloadStrategy": "sometimes"}},
            "reloader.reloadStrategy: 'sometimes' is not one of",
        ),
    ],
)
def test_a_broken_value_is_caught(chart_name: str, values: dict[str, Any], expected: str) -> None:
    problems = chart_values.check(chart_name, values)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_every_free_form_parent_is_empty_in_the_chart_or_a_checked_kubernetes_type() -> None:
    """An exception is only for a subtree the chart has no keys for, or one it passes through
    as a Kubernetes type, whose keys are then checked against that type."""
    for name, paths in chart_values.FREE_FORM.items():
        values = chart_values.defaults(name)
        for path, free in paths.items():
            node: Any = values
            for part in path.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            assert free.reason and (node in ({}, [], None) or free.kubernetes), (name, path)


def test_a_passed_through_kubernetes_type_is_checked_strictly() -> None:
    wrong = {"reloader": {"deployment": {"securityContext": {"runAsNonroot": True}}}}
    (problem,) = chart_values.check("reloader", wrong)
    assert problem.startswith("reloader.deployment.securityContext: not a valid PodSecurityContext")
