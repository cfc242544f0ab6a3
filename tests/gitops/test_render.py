"""The GitOps project passes the main program's offline checks: it renders under the mocks, every
object (and every Stack object Argo CD syncs from Git) validates strictly against the pinned
schemas, the releases set only what their pinned charts read, the policy pack passes and the
timeline has no await that could time out."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import yaml

from gitops import manifests
from gitops.argocd import HEALTH_CHECK, HEALTH_KEY
from gitops.pins import ARGO_CD, PULUMI_OPERATOR
from gitops.program import load_settings
from tests.gitops.conftest import GITOPS_STACKS
from tools import chart_values, policy_check, schemas
from tools.offline import StackRun
from tools.render import validate_run
from tools.timeline import timeline
from tools.validate import validate_object

HAND_OVER = {"gitops:handOver": True}
VARIANTS = [{}, HAND_OVER]


@pytest.mark.parametrize("stack", GITOPS_STACKS)
@pytest.mark.parametrize("overrides", VARIANTS, ids=["prepared", "handed-over"])
def test_every_object_validates_strictly(
    stack: str, overrides: dict[str, bool], gitops_run: Callable[..., StackRun]
) -> None:
    run = gitops_run(stack, overrides)
    assert validate_run(run) == []
    kinds = {obj["kind"] for obj in run.kubernetes_objects()}
    assert {"AppProject", "ApplicationSet", "ExternalSecret", "ServiceAccount"} <= kinds


@pytest.mark.parametrize("stack", GITOPS_STACKS)
def test_the_stack_objects_in_git_are_current_and_valid(stack: str) -> None:
    settings = load_settings(stack)
    for path, text in manifests.rendered(settings).items():
        assert path.read_text() == text, f"{path}: run python -m gitops.manifests"
        obj = yaml.safe_load(text)
        validate_object(obj)
        assert obj["spec"]["destroyOnFinalize"] is False


def test_a_wrong_field_in_a_stack_object_fails_validation() -> None:
    settings = load_settings("production")
    obj = manifests.stack_manifest(settings, settings.environments[-1])
    obj["spec"]["resyncFrequencySecond"] = 60
    with pytest.raises(Exception, match="resyncFrequencySecond"):
        validate_object(obj)


def test_an_application_the_set_generates_validates_strictly(
    gitops_run: Callable[..., StackRun],
) -> None:
    """The ApplicationSet's template filled in as its list generator does (goTemplate)."""
    application_set = gitops_run("production", HAND_OVER).find(
        "ApplicationSet", "webapp-production"
    )
    spec = application_set["spec"]
    elements = spec["generators"][0]["list"]["elements"]
    assert [element["stack"] for element in elements] == ["staging", "production"]
    for element in elements:
        text = yaml.safe_dump(spec["template"])
        for key, value in element.items():
            text = text.replace("{{." + key + "}}", value)
        template = yaml.safe_load(text)
        application = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {**template["metadata"], "namespace": "argocd"},
            "spec": template["spec"],
        }
        validate_object(application)
        assert (
            application["spec"]["source"]["path"] == f"gitops/stacks/production/{element['stack']}"
        )
        assert application["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_prepared_syncs_nothing(gitops_run: Callable[..., StackRun]) -> None:
    spec = gitops_run("production").find("ApplicationSet", "webapp-production")["spec"]
    assert spec["generators"][0]["list"]["elements"] == []


def test_the_project_allows_only_stack_objects_in_their_namespace(
    gitops_run: Callable[..., StackRun],
) -> None:
    project = gitops_run("production").find("AppProject", "webapp-production")["spec"]
    assert project["namespaceResourceWhitelist"] == [{"group": "pulumi.com", "kind": "Stack"}]
    assert project["clusterResourceWhitelist"] == []
    assert project["destinations"] == [
        {"server": "https://kubernetes.default.svc", "namespace": "webapp-gitops"}
    ]
    assert project["sourceRepos"] == ["https://github.com/example/webapp-infra.git"]


@pytest.mark.parametrize("stack", GITOPS_STACKS)
def test_the_releases_set_only_what_their_charts_read(
    stack: str, gitops_run: Callable[..., StackRun]
) -> None:
    releases = [r for r in gitops_run(stack).resources if r.type == "kubernetes:helm.sh/v3:Release"]
    tags = {source.chart: source.tag for source in schemas.CHART_SOURCES}
    assert len(releases) == 2
    for release in releases:
        chart = release.inputs["chart"].rsplit("/", 1)[-1]
        assert chart in schemas.GITOPS_CHARTS
        assert tags[chart].endswith(release.inputs["version"])
        assert chart_values.check(chart, release.inputs["values"]) == []
    assert {PULUMI_OPERATOR["version"], ARGO_CD["version"]} == {
        r.inputs["version"] for r in releases
    }


def test_argo_cd_carries_the_stack_health_check(gitops_run: Callable[..., StackRun]) -> None:
    release = next(
        r for r in gitops_run("production").resources if r.inputs.get("chart") == "argo-cd"
    )
    assert release.inputs["values"]["configs"]["cm"][HEALTH_KEY] == HEALTH_CHECK


@pytest.mark.parametrize("stack", GITOPS_STACKS)
@pytest.mark.parametrize("overrides", VARIANTS, ids=["prepared", "handed-over"])
def test_the_policy_pack_passes(
    stack: str, overrides: dict[str, bool], gitops_run: Callable[..., StackRun]
) -> None:
    findings = policy_check.check(gitops_run(stack, overrides), policy_check.load_config(stack))
    assert [f for f in findings if f.level == "mandatory"] == []


def test_the_policy_pack_sees_the_gitops_resources(gitops_run: Callable[..., StackRun]) -> None:
    """An unprotected namespace is flagged, as in the main program: the pack is really run."""
    run = gitops_run("production")
    namespace = next(r for r in run.resources if r.type == "kubernetes:core/v1:Namespace")
    namespace.protect = False
    try:
        findings = policy_check.check(run, policy_check.load_config("production"))
    finally:
        namespace.protect = True
    assert [f.policy for f in findings if f.level == "mandatory"] == [
        "stateful-resources-protected"
    ]


@pytest.mark.parametrize("stack", GITOPS_STACKS)
def test_the_timeline_orders_the_first_sync_after_what_it_needs(
    stack: str, gitops_run: Callable[..., StackRun]
) -> None:
    run = gitops_run(stack, HAND_OVER)
    plan = timeline(run)
    steps = {urn.rsplit("::", 1)[-1]: step for urn, step in plan.steps.items()}
    application_set = steps["gitops-argocd-applications"]
    needed = ["gitops-argocd-release", "gitops-operator-release", "gitops-argocd-project"]
    needed += [name for name in steps if name.endswith(("-account", "webapp-gitops-git"))]
    for name in needed:
        assert steps[name].finish <= application_set.start, name
    assert plan.overruns() == []


def _merged(chart: str, values: dict[str, Any]) -> dict[str, Any]:
    return chart_values._merge(chart_values.defaults(chart), values)


def test_argo_cd_runs_hardened_with_requests_and_limits(
    gitops_run: Callable[..., StackRun],
) -> None:
    """What the release installs (the chart's defaults under our values), per container."""
    release = next(
        r for r in gitops_run("production").resources if r.inputs.get("chart") == "argo-cd"
    )
    merged = _merged("argo-cd", release.inputs["values"])
    for component in ("controller", "server", "repoServer", "applicationSet", "redis"):
        context = merged[component]["containerSecurityContext"]
        assert context["readOnlyRootFilesystem"] and not context["allowPrivilegeEscalation"]
        assert context["capabilities"] == {"drop": ["ALL"]}
        resources = merged[component]["resources"]
        assert set(resources) == {"requests", "limits"}, component
    assert merged["dex"]["enabled"] is False and merged["crds"]["keep"] is True


def test_the_operator_runs_hardened(gitops_run: Callable[..., StackRun]) -> None:
    release = next(
        r
        for r in gitops_run("production").resources
        if "pulumi-kubernetes-operator" in str(r.inputs.get("chart"))
    )
    merged = _merged("pulumi-kubernetes-operator", release.inputs["values"])
    assert merged["podSecurityContext"]["runAsNonRoot"] is True
    assert merged["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "seccompProfile": {"type": "RuntimeDefault"},
        "capabilities": {"drop": ["ALL"]},
    }
    assert {"/tmp"} == {mount["mountPath"] for mount in merged["extraVolumeMounts"]}
    assert set(merged["resources"]) == {"requests", "limits"}
