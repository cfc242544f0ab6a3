"""Add-on lifecycle (issue 29, items 15-19): CRDs upgraded with their pins, ordered before what
uses them, kept when their add-on goes; storage patches that can be let go; retained objects
adopted again.

The upstream behaviours these tests encode, each read at the version cited:
- Helm installs a chart's `crds/` on first install only and never upgrades them (Helm docs,
  chart_best_practices/custom_resource_definitions; pkg/action/upgrade.go renders templates only;
  pulumi-kubernetes' helm.v3.Release calls those actions, provider/pkg/provider/helm_release.go).
- Envoy Gateway's gateway-helm keeps its CRDs in `crds/` (charts/gateway-helm/crds at v1.7.0,
  charts/gateway-helm/charts/crds/crds from v1.8.0); its gateway-crds-helm chart carries the same
  CRDs in `templates/` (charts/gateway-crds-helm at v1.7.0).
- cert-manager exits at start when `enableGatewayAPI` is on and `gateway.networking.k8s.io/v1` is
  not served (pkg/controller/context.go at v1.19.1).
- A Patch resource is deleted by relinquishing its fields; a required field cannot be, and the
  provider says to set `retainOnDelete` (provider/pkg/await/await.go Deletion,
  provider/pkg/provider/provider.go Delete, pulumi/pulumi-kubernetes).
- Since 4.29 the provider creates client-side: an object already in the cluster fails with
  AlreadyExists unless `upsertExistingObjects` (CHANGELOG 4.29.0, #2926).
- helm.v4.Chart turns `helm.sh/resource-policy: keep` into RetainOnDelete
  (provider/pkg/provider/helm/v4/chart.go preregister); transforms reach a component's children.
"""

from __future__ import annotations

from typing import Callable

import pulumi
import pytest

from components.kube.lifecycle import CRD_TYPE, KEEP_POLICY, keep_crds
from components.platform.addons import ENVOY_GATEWAY, PROMETHEUS_STACK
from components.platform.crds import ENVOY_GATEWAY_CRDS_CHART, GATEWAY_API_CHANNEL
from tests.support import STACKS
from tools.golden import VARIANTS, variant_overrides
from tools.offline import Registered, StackRun

RELEASE = "kubernetes:helm.sh/v3:Release"
CHART = "kubernetes:helm.sh/v4:Chart"
CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"
PROVIDER = "pulumi:providers:kubernetes"
ALL = [(stack, variant) for stack in STACKS for variant in VARIANTS]


def _release(run: StackRun, chart_suffix: str) -> Registered:
    (found,) = [
        r for r in run.resources if r.type == RELEASE and r.inputs["chart"].endswith(chart_suffix)
    ]
    return found


def _gateway_crds(run: StackRun) -> list[Registered]:
    return [r for r in run.resources if r.type == CHART]


def _transform(type_: str) -> pulumi.ResourceTransformArgs:
    return pulumi.ResourceTransformArgs(
        custom=True, type_=type_, name="x", props={}, opts=pulumi.ResourceOptions()
    )


# Item 15: CRDs applied and upgraded explicitly, before their controllers.


@pytest.mark.parametrize("stack", STACKS)
def test_envoy_gateway_crds_come_from_its_crd_chart_at_the_pin(
    stack: str, stack_run: Callable[..., StackRun]
) -> None:
    """gateway-helm's `crds/` would stay at the first version forever: its CRDs come from
    gateway-crds-helm at the same version, applied before the release, which skips its own."""
    run = stack_run(stack)
    (crds,) = _gateway_crds(run)
    assert crds.inputs["chart"] == ENVOY_GATEWAY_CRDS_CHART
    assert crds.inputs["version"] == ENVOY_GATEWAY["version"]
    assert crds.inputs["values"] == {
        "crds": {
            "gatewayAPI": {"enabled": True, "channel": GATEWAY_API_CHANNEL},
            "envoyGateway": {"enabled": True},
        }
    }
    release = _release(run, "gateway-helm")
    assert release.inputs["version"] == ENVOY_GATEWAY["version"]
    assert release.inputs.get("skipCrds") is True
    assert crds.urn in release.depends_on
    assert keep_crds in crds.transforms


def test_the_gateway_api_channel_is_the_one_gateway_helm_installed() -> None:
    """gateway-helm v1.7.0's `crds/gatewayapi-crds.yaml` is the experimental channel (its CRDs
    say `gateway.networking.k8s.io/channel: experimental`): the CRD chart keeps it, so clusters
    upgraded from gateway-helm lose no CRD and no stored field."""
    assert GATEWAY_API_CHANNEL == "experimental"


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_stack_upgrades_its_crds_with_the_chart(
    stack: str, stack_run: Callable[..., StackRun]
) -> None:
    """kube-prometheus-stack's CRDs are in its `crds` subchart's `crds/`: the chart's own upgrade
    Job (a pre-install/pre-upgrade hook) applies them server-side at each version."""
    # As shipped or with monitoring flipped: one of the two installs the stack.
    (release,) = [
        r
        for variant in ("as-shipped", "monitoring-flipped")
        for r in stack_run(stack, variant_overrides(stack, variant)).resources
        if r.type == RELEASE and r.inputs["chart"] == "kube-prometheus-stack"
    ]
    assert release.inputs["version"] == PROMETHEUS_STACK["version"]
    job = release.inputs["values"]["crds"]["upgradeJob"]
    assert job["enabled"] is True
    # Helm created the CRDs (manager `helm`): a server-side apply of new ones must take them.
    assert job["forceConflicts"] is True
    assert job["image"]["busybox"]["tag"] not in ("", "latest")
    assert release.inputs.get("skipCrds") is not True  # the first install still brings them


# Item 16: cert-manager's Gateway API support only where the CRDs exist, after them.


@pytest.mark.parametrize("stack,variant", ALL)
def test_cert_manager_gateway_api_only_in_gateway_mode_after_the_crds(
    stack: str, variant: str, stack_run: Callable[..., StackRun]
) -> None:
    overrides = variant_overrides(stack, variant)
    run = stack_run(stack, overrides)
    release = _release(run, "cert-manager")
    gateway_mode = not (overrides.get("webapp:routing") or {}).get("mode") == "ingress"
    assert release.inputs["values"]["config"]["enableGatewayAPI"] is gateway_mode
    crds = _gateway_crds(run)
    if gateway_mode:
        assert [c.urn for c in crds] and crds[0].urn in release.depends_on
    else:
        assert crds == []  # no Gateway API CRDs anywhere in ingress mode


def test_cert_manager_uses_gateway_api_where_the_gateway_is_present(
    stack_run: Callable[..., StackRun],
) -> None:
    """`addons.gateway: present`: the cluster already serves the Gateway API."""
    run = stack_run("dev", {"webapp:addons": {"gateway": "present"}})
    assert _gateway_crds(run) == []
    release = _release(run, "cert-manager")
    assert release.inputs["values"]["config"]["enableGatewayAPI"] is True


# Item 17: storage-grow patches that can be released.


def test_storage_patches_are_let_go_without_a_delete(stack_run: Callable[..., StackRun]) -> None:
    """A forced PVC patch owns the claim's size alone; deleting it would relinquish a required
    field, which the provider refuses: `pulumi destroy` and fewer NATS replicas would fail."""
    patches = [
        r
        for stack, variant in ALL
        for r in stack_run(stack, variant_overrides(stack, variant)).resources
        if r.type == "kubernetes:core/v1:PersistentVolumeClaimPatch"
    ]
    assert {p.name.rsplit("-claim-", 1)[0] for p in patches} >= {"webapp-nats", "webapp-postgres"}
    assert [p.name for p in patches if not p.retain_on_delete] == []


# Item 18: CRDs kept when their add-on is switched off or to `present`.


def test_keep_crds_retains_crds_and_nothing_else() -> None:
    kept = keep_crds(_transform(CRD_TYPE))
    assert kept is not None and kept.opts.retain_on_delete is True
    assert keep_crds(_transform("kubernetes:apps/v1:Deployment")) is None
    assert keep_crds(_transform("kubernetes:rabbitmq.com/v1beta1:RabbitmqCluster")) is None


@pytest.mark.parametrize("stack", STACKS)
def test_every_addon_keeps_its_crds(stack: str, stack_run: Callable[..., StackRun]) -> None:
    run = stack_run(stack, variant_overrides(stack, "optional-services"))
    values = {
        r.inputs["chart"].rsplit("/", 1)[-1]: r.inputs.get("values") or {}
        for r in run.resources
        if r.type == RELEASE
    }
    assert values["cert-manager"]["crds"]["keep"] is True
    if "external-secrets" in values:
        assert values["external-secrets"]["crds"]["annotations"] == KEEP_POLICY
        assert values["external-secrets"]["installCRDs"] is True
    if "keda" in values:
        assert values["keda"]["crds"]["additionalAnnotations"] == KEEP_POLICY
    if "argo-rollouts" in values:
        assert values["argo-rollouts"]["keepCRDs"] is True
    (operator,) = [r for r in run.resources if r.type == CONFIG_FILE]
    assert "rabbitmq/cluster-operator" in operator.inputs["file"]
    assert keep_crds in operator.transforms


def test_external_secrets_and_keda_are_kept_where_a_stack_uses_them(
    stack_run: Callable[..., StackRun],
) -> None:
    """The branches of the test above that need ESO and KEDA are taken by some stack."""
    charts = {
        r.inputs["chart"].rsplit("/", 1)[-1]
        for stack in STACKS
        for r in stack_run(stack, variant_overrides(stack, "optional-services")).resources
        if r.type == RELEASE
    }
    assert {"external-secrets", "keda", "argo-rollouts"} <= charts


# Item 19: what the program retains, it adopts again (upsertExistingObjects).


def _providers(run: StackRun) -> tuple[Registered, Registered]:
    """The main and the adopting Kubernetes provider."""
    found: dict[bool, Registered] = {}
    for record in run.resources:
        if record.type == PROVIDER:
            upsert = str(record.inputs.get("upsertExistingObjects", "")).lower() == "true"
            assert upsert not in found, "one main and one adopting Kubernetes provider"
            found[upsert] = record
    return found[False], found[True]


def _provider_of(record: Registered) -> str:
    """The URN of the provider a resource is served by (its reference is `<urn>::<id>`)."""
    return record.provider.rsplit("::", 1)[0]


def _is_patch(record: Registered) -> bool:
    return record.type.endswith("Patch")


@pytest.mark.parametrize("stack,variant", ALL)
def test_retained_objects_are_created_by_the_adopting_provider(
    stack: str, variant: str, stack_run: Callable[..., StackRun]
) -> None:
    """A retained object is still in the cluster after a destroy or a service switched off; the
    next create of it must upsert. Everything else keeps the provider that refuses to."""
    run = stack_run(stack, variant_overrides(stack, variant))
    main, adopt = _providers(run)
    # The same cluster, the same settings: only the upsert differs.
    assert {k: v for k, v in adopt.inputs.items() if k != "upsertExistingObjects"} == main.inputs
    for record in run.resources:
        if record.is_kubernetes_object and not _is_patch(record):
            expected = adopt if record.retain_on_delete else main
            assert _provider_of(record) == expected.urn, (record.name, record.retain_on_delete)
        if keep_crds in record.transforms:
            # Its retained CRDs are created through it (a component's provider is its children's).
            assert _provider_of(record) == adopt.urn, record.name


def test_the_retained_kinds_are_the_ones_the_program_finds_again(
    stack_run: Callable[..., StackRun],
) -> None:
    """The branches above are exercised: brokers, the backup claim, production's Namespace."""
    retained = {
        record.type.rsplit(":", 1)[-1]
        for stack in STACKS
        for record in stack_run(stack, variant_overrides(stack, "optional-services")).resources
        if record.is_kubernetes_object and record.retain_on_delete and not _is_patch(record)
    }
    assert {"RabbitmqCluster", "Elasticsearch", "Namespace", "PersistentVolumeClaim"} <= retained
