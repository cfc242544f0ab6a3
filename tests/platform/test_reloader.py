"""Rotation without a human: Reloader is installed pinned and hardened (or declared present), and
every workload that reads Secrets names them, so a rotated value rolls it."""

from __future__ import annotations

from typing import Callable

import pytest

from components.kube.objects import RELOAD_ANNOTATION
from components.platform.addons import RELOADER, RELOADER_ROLLOUTS_ROLE
from tests.support import STACKS, records
from tools.branch import branch_config
from tools.golden import variant_overrides
from tools.offline import StackRun, normalise
from tools.timeline import pod_template, secrets_read

RELEASE = "kubernetes:helm.sh/v3:Release"


def reloader(run: StackRun) -> dict:
    (release,) = [r for r in records(run, RELEASE) if r.inputs["chart"] == "reloader"]
    return normalise(release.inputs, reveal=True)


@pytest.mark.parametrize("stack", STACKS)
def test_reloader_is_pinned_and_hardened(stack: str, stack_run: Callable[..., StackRun]) -> None:
    release = reloader(stack_run(stack))
    assert release["version"] == RELOADER["version"] == "2.2.16"
    assert release["repositoryOpts"]["repo"] == "https://stakater.github.io/stakater-charts"
    values = release["values"]["reloader"]
    # Only annotated workloads; restarts through a pod-template annotation (no env drift).
    assert values["autoReloadAll"] is False and values["reloadStrategy"] == "annotations"
    assert values["readOnlyRootFileSystem"] is True
    deployment = values["deployment"]
    assert deployment["securityContext"]["runAsNonRoot"] is True
    assert deployment["containerSecurityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert deployment["containerSecurityContext"]["allowPrivilegeEscalation"] is False
    assert deployment["resources"]["limits"]
    production = stack == "production"
    assert values["enableHA"] is production and deployment["replicas"] == (2 if production else 1)
    assert values["podDisruptionBudget"]["enabled"] is production


def test_branch_stacks_use_the_reloader_staging_installed() -> None:
    assert branch_config("feature/x")["webapp:addons"]["reloader"] == "present"


@pytest.mark.parametrize("variant", ["as-shipped", "cloud-none", "cloud-azure"])
@pytest.mark.parametrize("stack", STACKS)
def test_every_workload_names_the_secrets_it_reads(
    stack: str, variant: str, stack_run: Callable[..., StackRun]
) -> None:
    """A Deployment or StatefulSet rolls when a Secret its pods read changes. The in-cluster
    PostgreSQL is the exception: its password applies only when the data directory is created, so
    a restart would be an outage that changes nothing (README: Rotation)."""
    run = stack_run(stack, variant_overrides(stack, variant))
    checked = 0
    for obj in run.kubernetes_objects():
        if obj["kind"] not in ("Deployment", "Rollout", "StatefulSet"):
            continue
        read = secrets_read(pod_template(obj))
        annotations = obj["metadata"].get("annotations") or {}
        if obj["metadata"]["name"] == "postgres":
            assert RELOAD_ANNOTATION not in annotations
            continue
        named = set(filter(None, annotations.get(RELOAD_ANNOTATION, "").split(",")))
        assert named == read, obj["metadata"]["name"]
        checked += bool(read)
    assert checked >= 6  # api, websocket, auth, broadcaster, redis, nats


@pytest.mark.parametrize("stack", STACKS)
def test_reloader_may_restart_rollouts(stack: str, stack_run: Callable[..., StackRun]) -> None:
    """Reloader restarts a Rollout only if it may list and update it. The chart's ClusterRole
    (stakater/Reloader chart-v2.2.16, deployments/kubernetes/chart/reloader/templates/
    clusterrole.yaml) adds the `rollouts` rule only when `.Capabilities.APIVersions.Has
    "argoproj.io/v1alpha1"` at render time, and no value forces it; Reloader v1.4.21 logs a failed
    list and restarts no Rollout (internal/pkg/callbacks/rolling_upgrade.go, GetRolloutItems). So:
    the release renders after Argo Rollouts' (its CRDs served), and the grant of our own binds
    the ServiceAccount the release runs as."""
    run = stack_run(stack)
    releases = {r.inputs["chart"]: r for r in records(run, RELEASE)}
    rollouts = [obj for obj in run.kubernetes_objects() if obj["kind"] == "Rollout"]
    assert bool(rollouts) == ("argo-rollouts" in releases)
    values = reloader(run)["values"]["reloader"]
    assert values["isArgoRollouts"] is bool(rollouts)
    objects = {(o["kind"], o["metadata"]["name"]): o for o in run.kubernetes_objects()}
    role = objects.get(("ClusterRole", RELOADER_ROLLOUTS_ROLE))
    if not rollouts:
        assert role is None
        return
    assert releases["argo-rollouts"].urn in releases["reloader"].depends_on
    assert role is not None
    rules = [r for r in role["rules"] if "rollouts" in r["resources"]]
    assert rules == [
        {
            "apiGroups": ["argoproj.io"],
            "resources": ["rollouts"],
            "verbs": ["list", "get", "update", "patch"],
        }
    ]
    binding = objects[("ClusterRoleBinding", RELOADER_ROLLOUTS_ROLE)]
    assert binding["roleRef"]["name"] == RELOADER_ROLLOUTS_ROLE
    account = values["serviceAccount"]
    assert account["create"] is True
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": "reloader"}
    ]
    assert releases["reloader"].inputs["namespace"] == "reloader"
