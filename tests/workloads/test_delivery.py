"""Progressive delivery as the stacks declare it: each strategy's Rollout, analysis, Services and
routing; the fields left to the controllers; scalers aimed at the Rollout and never two on one
workload; the awaits; and the object sequence of moving a running service between strategies."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from components.config.catalogue import LOAD_TRIGGERS
from components.config.metrics import PRESETS
from components.platform.addons import ARGO_ROLLOUTS_APP, GATEWAY_API_PLUGIN_NAME
from components.workloads import analysis
from components.workloads import rollout as ro
from components.workloads.release_gate import STATUS_IMAGE
from tests.support import STACKS, has_object
from tools.changes import sequence
from tools.golden import EXTERNAL_PROMETHEUS, VARIANTS, variant_overrides
from tools.offline import Registered, StackRun, load_stack_config

ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
PROMETHEUS = "http://kube-prometheus-stack-prometheus.monitoring.svc.cluster.local:9090"


def services(stack: str, **changes: dict[str, Any]) -> dict[str, Any]:
    """`webapp:services` of the stack with some services' sections changed."""
    shipped = dict(load_stack_config(stack)["webapp:services"])
    for name, fields in changes.items():
        shipped[name] = {**(shipped.get(name) or {}), **fields}
    return {"webapp:services": shipped}


def find(run: StackRun, kind: str, name: str) -> dict[str, Any]:
    return run.find(kind, name)


def record(run: StackRun, typ: str, name: str) -> Registered:
    return next(r for r in run.resources if r.type == typ and r.inputs["metadata"]["name"] == name)


def kinds_named(run: StackRun, name: str) -> set[str]:
    return {o["kind"] for o in run.kubernetes_objects() if o["metadata"]["name"] == name}


# --- canary in the mesh (production as shipped) -----------------------------------------------


@pytest.mark.parametrize("app", ["frontend", "api"])
def test_production_releases_frontend_and_api_as_mesh_canaries(
    app: str, stack_run: Callable[..., StackRun]
) -> None:
    run = stack_run("production")
    port = {"frontend": 8080, "api": 8080}[app]
    assert "Deployment" not in kinds_named(run, app)
    rollout = find(run, "Rollout", app)
    canary = rollout["spec"]["strategy"]["canary"]
    weights = [step["setWeight"] for step in canary["steps"] if "setWeight" in step]
    assert weights == [10, 25, 50, 75]
    # Every step: weight, pause, analysis on the pods of the new template.
    for index in range(0, len(canary["steps"]), 3):
        _, pause, analysis = canary["steps"][index : index + 3]
        assert pause == {"pause": {"duration": f"{ro.PAUSE_SECONDS}s"}}
        assert analysis["analysis"]["templates"] == [{"templateName": app}]
        assert analysis["analysis"]["args"] == [
            {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}
        ]
    assert (canary["stableService"], canary["canaryService"]) == (app, f"{app}-canary")
    # Host-level splitting: the controller weighs two Services, each with its own endpoints
    # (`workloads.traffic` says why a subset of the stable host would be empty).
    assert canary["trafficRouting"] == {
        "istio": {"virtualService": {"name": app, "routes": ["primary"]}}
    }
    assert rollout["spec"]["progressDeadlineAbort"] is True
    # The VirtualService starts all on stable; the controller owns the weights after.
    vs = find(run, "VirtualService", app)["spec"]
    host = f"{app}.webapp-production.svc.cluster.local"
    assert vs["hosts"] == [host]
    assert [(r["destination"], r["weight"]) for r in vs["http"][0]["route"]] == [
        ({"host": host, "port": {"number": port}}, 100),
        (
            {"host": f"{app}-canary.webapp-production.svc.cluster.local", "port": {"number": port}},
            0,
        ),
    ]
    assert not has_object(run, "DestinationRule", app)
    typ = "kubernetes:networking.istio.io/v1:"
    assert record(run, f"{typ}VirtualService", app).ignore_changes == [
        "spec.http[0].route[0].weight",
        "spec.http[0].route[1].weight",
    ]
    # Those lists are atomic: once the controller writes one, a change by Pulumi is forced.
    annotations = find(run, "VirtualService", app)["metadata"]["annotations"]
    assert annotations["pulumi.com/patchForce"] == "true"


def test_stable_and_canary_services_select_the_rollout_pods_and_leave_the_selector(
    stack_run: Callable[..., StackRun],
) -> None:
    run = stack_run("production")
    rollout = find(run, "Rollout", "api")
    pod_labels = rollout["spec"]["template"]["metadata"]["labels"]
    stable, canary = find(run, "Service", "api"), find(run, "Service", "api-canary")
    assert stable["spec"]["ports"] == canary["spec"]["ports"]
    for service in (stable, canary):
        assert service["spec"]["selector"].items() <= pod_labels.items()
        assert service["metadata"]["annotations"]["webapp.io/delivery"] == "canary"
        assert service["metadata"]["annotations"]["pulumi.com/patchForce"] == "true"
    for name in ("api", "api-canary"):
        assert record(run, "kubernetes:core/v1:Service", name).ignore_changes == ["spec.selector"]
    # A rolling service keeps its selector under Pulumi.
    assert record(run, "kubernetes:core/v1:Service", "auth").ignore_changes == []


def test_the_analysis_measures_what_seed_002_measures(stack_run: Callable[..., StackRun]) -> None:
    spec = find(stack_run("production"), "AnalysisTemplate", "api")["spec"]
    assert spec["args"] == [{"name": "canary-hash"}]
    metrics = {m["name"]: m for m in spec["metrics"]}
    assert metrics["pod-ready-ratio"]["successCondition"] == "result[0] >= 0.8"
    assert metrics["error-rate"]["successCondition"] == "result[0] <= 0.05"
    for metric in metrics.values():
        assert metric["provider"]["prometheus"]["address"] == PROMETHEUS
        assert 'pod=~"api-{{args.canary-hash}}-.*"' in metric["provider"]["prometheus"]["query"]


def test_an_external_prometheus_is_the_one_analysis_and_keda_query(
    stack_run: Callable[..., StackRun],
) -> None:
    run = stack_run("production", variant_overrides("production", "monitoring-flipped"))
    for metric in find(run, "AnalysisTemplate", "api")["spec"]["metrics"]:
        assert metric["provider"]["prometheus"]["address"] == EXTERNAL_PROMETHEUS
    (load,) = [
        t for t in find(run, "ScaledObject", "api")["spec"]["triggers"] if t["type"] == "prometheus"
    ]
    assert load["metadata"]["serverAddress"] == EXTERNAL_PROMETHEUS


# --- the awaits -----------------------------------------------------------------------------


def test_the_rollout_is_awaited_until_it_settles_and_the_gate_decides(
    stack_run: Callable[..., StackRun],
) -> None:
    run = stack_run("production")
    rollout = record(run, ROLLOUT, "api")
    assert rollout.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == ro.SETTLED
    subject = analysis.Subject(
        app="api",
        namespace="webapp-production",
        instance="production",
        delivery="canary",
        port=8080,
        tested_service="api-canary",
        paths=("/health/ready",),
        requests="mesh",
    )
    seconds = ro.update_seconds(subject)
    # Created after RDS through its Secret, so its first await is the provider's 10 minutes.
    assert rollout.timeouts == {"create": "10m", "update": f"{seconds}s"}
    # The whole canary: four steps of pause and analysis, each allowed new pods, plus margin.
    assert seconds == 4 * (ro.PAUSE_SECONDS + 60) + 4 * ro.POD_READY_SECONDS + 300
    job = next(
        r
        for r in run.resources
        if r.type == "kubernetes:batch/v1:Job" and r.name == "webapp-api-release-job"
    )
    assert rollout.urn in job.depends_on
    container = job.inputs["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == [
        "status",
        "api",
        "--namespace",
        "webapp-production",
        "--timeout",
        f"{seconds}s",
    ]
    assert job.inputs["spec"]["backoffLimit"] == 0
    assert job.timeouts["create"] == f"{seconds + 180}s"


def test_the_settled_expression_matches_healthy_and_degraded_only() -> None:
    """The RFC 9535 filter the provider evaluates, on Argo's status shapes (a status field that
    equals one of the two phases)."""
    expression = ro.SETTLED.removeprefix("jsonpath={").removesuffix("}")
    assert expression == ".status[?@ == 'Healthy' || @ == 'Degraded']"

    def matches(status: dict[str, Any]) -> bool:
        return any(value in ("Healthy", "Degraded") for value in status.values())

    assert matches({"phase": "Healthy", "message": ""})
    assert matches({"phase": "Degraded", "message": "RolloutAborted: metric error-rate failed"})
    assert not matches({"phase": "Progressing", "message": "more replicas need to be updated"})
    assert not matches({"phase": "Paused", "message": "CanaryPauseStep"})


def test_a_release_is_a_new_gate_job(stack_run: Callable[..., StackRun]) -> None:
    """The Job's name carries the pod template's digest: an image change is a new Job (replaced,
    so awaited again); a change outside the template is not."""
    shipped = stack_run("production")
    released = stack_run(
        "production", services("production", api={"image": "registry.example.com/webapp/api:1.1.0"})
    )

    def job(run: StackRun) -> str:
        return next(
            o["metadata"]["name"]
            for o in run.kubernetes_objects()
            if o["metadata"]["name"].startswith("api-release-")
        )

    assert job(shipped) != job(released)
    scaled = stack_run("production", services("production", api={"maxReplicas": 20}))
    assert job(scaled) == job(shipped)


# --- scalers ----------------------------------------------------------------------------------


def test_scalers_aim_at_the_rollout(stack_run: Callable[..., StackRun]) -> None:
    run = stack_run("production")
    target = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "frontend"}
    assert find(run, "HorizontalPodAutoscaler", "frontend")["spec"]["scaleTargetRef"] == target
    scaled = find(run, "ScaledObject", "api")["spec"]
    assert scaled["scaleTargetRef"] == {**target, "name": "api"}
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (3, 15)
    triggers = {t["type"]: t for t in scaled["triggers"]}
    assert triggers["cpu"] == {
        "type": "cpu",
        "metricType": "Utilization",
        "metadata": {"value": "70"},
    }
    assert triggers["memory"]["metadata"] == {"value": "80"}
    assert triggers["prometheus"]["metadata"] == {
        "serverAddress": PROMETHEUS,
        # The api's own request counter (the metrics contract's prometheus-net preset).
        "query": LOAD_TRIGGERS["api"].query.format(
            namespace="webapp-production",
            requests=PRESETS["prometheus-net"].of_pods(
                "webapp-production", LOAD_TRIGGERS["api"].pods
            ),
        ),
        "threshold": "50",
    }
    broadcaster = find(run, "ScaledObject", "broadcaster")["spec"]
    assert broadcaster["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "broadcaster",
    }


@pytest.mark.parametrize("stack,variant", [(s, v) for s in STACKS for v in VARIANTS])
def test_no_workload_has_two_scalers(
    stack: str, variant: str, stack_run: Callable[..., StackRun]
) -> None:
    objects = stack_run(stack, variant_overrides(stack, variant)).kubernetes_objects()
    targets = [
        (o["spec"]["scaleTargetRef"]["kind"], o["spec"]["scaleTargetRef"]["name"])
        for o in objects
        if o["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")
    ]
    assert len(targets) == len(set(targets))
    workloads = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert set(targets) <= workloads  # each aims at a workload that exists, of the right kind


# --- the other routers and blue-green ------------------------------------------------------------


def test_staging_releases_the_frontend_blue_green_behind_the_gateway(
    stack_run: Callable[..., StackRun],
) -> None:
    run = stack_run("staging")
    strategy = find(run, "Rollout", "frontend")["spec"]["strategy"]
    assert strategy == {
        "blueGreen": {
            "activeService": "frontend",
            "previewService": "frontend-preview",
            "prePromotionAnalysis": {
                "templates": [{"templateName": "frontend"}],
                "args": [{"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}],
            },
            "autoPromotionEnabled": True,
            "scaleDownDelaySeconds": ro.SCALE_DOWN_DELAY,
        }
    }
    assert find(run, "Service", "frontend-preview")
    # The Gateway routes to the active Service; the controller moves its selector.
    route = find(run, "HTTPRoute", "webapp")["spec"]
    backends = [ref["name"] for rule in route["rules"] for ref in rule["backendRefs"]]
    assert "frontend" in backends and "frontend-preview" not in backends
    assert not {"VirtualService", "DestinationRule"} & {o["kind"] for o in run.kubernetes_objects()}


def test_a_canary_outside_the_mesh_weighs_the_httproute_through_the_plugin(
    stack_run: Callable[..., StackRun],
) -> None:
    run = stack_run("staging", services("staging", frontend={"delivery": "canary"}))
    canary = find(run, "Rollout", "frontend")["spec"]["strategy"]["canary"]
    assert canary["trafficRouting"] == {
        "plugins": {GATEWAY_API_PLUGIN_NAME: {"httpRoute": "webapp", "namespace": "webapp-staging"}}
    }
    route = record(run, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "webapp")
    rules = route.inputs["spec"]["rules"]
    (index,) = [i for i, rule in enumerate(rules) if rule["backendRefs"][0]["name"] == "frontend"]
    assert [(ref["name"], ref["weight"]) for ref in rules[index]["backendRefs"]] == [
        ("frontend", 100),
        ("frontend-canary", 0),
    ]
    assert route.ignore_changes == [
        f"spec.rules[{index}].backendRefs[0].weight",
        f"spec.rules[{index}].backendRefs[1].weight",
    ]
    assert route.inputs["metadata"]["annotations"]["pulumi.com/patchForce"] == "true"
    # Without a canary on it, a route stays Pulumi's alone.
    shipped = record(
        stack_run("staging"), "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "webapp"
    )
    assert "annotations" not in shipped.inputs["metadata"] and not shipped.ignore_changes
    # Outside the mesh the Host is left as the client sent it.
    assert all(f["type"] != "URLRewrite" for rule in rules for f in rule["filters"])
    # The other rules keep one backend and no weight.
    assert all(len(rule["backendRefs"]) == 1 for i, rule in enumerate(rules) if i != index)


def test_a_canary_in_ingress_mode_uses_the_ingress_controllers_canary(
    stack_run: Callable[..., StackRun],
) -> None:
    """Each canary has an Ingress of its own: the controller copies whole rules of the stable
    Ingress into its canary (`platform.edge.ingress_groups`), so a shared one would give each
    canary the other services' paths."""
    run = stack_run("production", variant_overrides("production", "ingress"))

    def backends(name: str) -> set[str]:
        return {
            path["backend"]["service"]["name"]
            for rule in find(run, "Ingress", name)["spec"]["rules"]
            for path in rule["http"]["paths"]
        }

    for app in ("frontend", "api"):
        canary = find(run, "Rollout", app)["spec"]["strategy"]["canary"]
        assert canary["trafficRouting"] == {"nginx": {"stableIngress": f"webapp-{app}"}}
        assert backends(f"webapp-{app}") == {app}
    assert backends("webapp") == {"auth"}


def test_an_unrouted_canary_outside_the_mesh_splits_by_pods(
    stack_run: Callable[..., StackRun],
) -> None:
    run = stack_run("staging", services("staging", broadcaster={"delivery": "canary"}))
    assert "trafficRouting" not in find(run, "Rollout", "broadcaster")["spec"]["strategy"]["canary"]


# --- moving between strategies ------------------------------------------------------------------


def _steps(before: StackRun, after: StackRun, app: str) -> list[tuple[str, str]]:
    return [
        (change.action, change.urn.rsplit("::", 1)[1])
        for change in sequence(before, after)
        if change.urn.rsplit("::", 1)[1].startswith(f"webapp-{app}-")
    ]


def test_moving_a_service_to_blue_green_creates_the_rollout_before_the_deployment_goes(
    stack_run: Callable[..., StackRun],
) -> None:
    """staging's frontend from a Deployment to a Rollout in one `pulumi up`: the Rollout and
    what it needs are created (the Rollout awaited at full size, the gate after it), the Service
    is updated in place (its address stays), and only then is the Deployment deleted. Both sets
    of pods carry the Service's labels meanwhile, so the Service always has ready endpoints."""
    rolling = stack_run("staging", services("staging", frontend={"delivery": "rolling"}))
    blue_green = stack_run("staging")
    steps = _steps(rolling, blue_green, "frontend")
    names = [name for _, name in steps]
    assert set(steps[:-1]) == {
        ("create", "webapp-frontend-analysis"),
        ("update", "webapp-frontend-service"),
        ("create", "webapp-frontend-service-preview"),
        ("create", "webapp-frontend-rollout"),
        ("create", "webapp-frontend-release"),
        ("create", "webapp-frontend-release-binding"),
        ("create", "webapp-frontend-release-netpol"),
        ("create", "webapp-frontend-release-role"),
        ("create", "webapp-frontend-release-sa"),
        ("create", "webapp-frontend-release-job"),
        # The preview gets no traffic before promotion: a smoke Job judges it, and the frontend
        # admits it.
        ("create", "webapp-frontend-smoke-sa"),
        ("create", "webapp-frontend-smoke-netpol"),
        ("update", "webapp-frontend-netpol"),
    }, steps
    # What the Rollout refers to exists first; the gate runs after it; the Deployment goes last.
    rollout = names.index("webapp-frontend-rollout")
    for before in ("analysis", "service", "service-preview"):
        assert names.index(f"webapp-frontend-{before}") < rollout
    assert names.index("webapp-frontend-release-job") > rollout
    assert steps[-1] == ("delete", "webapp-frontend-deployment")
    service = next(
        c for c in sequence(rolling, blue_green) if c.urn.endswith("::webapp-frontend-service")
    )
    assert service.paths == ("metadata.annotations.webapp.io/delivery",)
    old = find(rolling, "Deployment", "frontend")
    new = find(blue_green, "Rollout", "frontend")
    selector = find(blue_green, "Service", "frontend")["spec"]["selector"]
    assert selector.items() <= old["spec"]["template"]["metadata"]["labels"].items()
    assert selector.items() <= new["spec"]["template"]["metadata"]["labels"].items()
    assert new["spec"]["replicas"] == old["spec"]["replicas"] == 2


def test_moving_back_to_rolling_awaits_the_deployment_before_the_rollout_goes(
    stack_run: Callable[..., StackRun],
) -> None:
    """The mirror image: the Deployment is created and awaited at full size, the Service applied
    anew (its delivery annotation changed; `patchForce` takes the selector back from the Rollout
    controller, which had narrowed it to its pods), and the Rollout deleted last."""
    blue_green = stack_run("staging")
    rolling = stack_run("staging", services("staging", frontend={"delivery": "rolling"}))
    steps = _steps(blue_green, rolling, "frontend")
    assert set(steps[:3]) == {
        ("update", "webapp-frontend-service"),
        ("create", "webapp-frontend-deployment"),
        ("update", "webapp-frontend-netpol"),  # the smoke Job's way in closes
    }
    deleted = [name for action, name in steps if action == "delete"]
    assert steps[3:] == [("delete", name) for name in deleted]
    assert "webapp-frontend-rollout" in deleted
    deployment = record(rolling, "kubernetes:apps/v1:Deployment", "frontend")
    assert deployment.inputs["spec"]["replicas"] == 2
    assert record(rolling, "kubernetes:core/v1:Service", "frontend").ignore_changes == []


def test_moving_an_autoscaled_service_keeps_its_strength(
    stack_run: Callable[..., StackRun],
) -> None:
    """Under an HPA the new workload starts at the floor, not at one pod, and the HPA is retargeted
    in place (never replaced, never two)."""
    canary = stack_run("production")
    rolling = stack_run("production", services("production", frontend={"delivery": "rolling"}))
    hpa = next(c for c in sequence(rolling, canary) if c.urn.endswith("::webapp-frontend-hpa"))
    assert hpa.action == "update"
    assert set(hpa.paths) == {"spec.scaleTargetRef.apiVersion", "spec.scaleTargetRef.kind"}
    assert find(canary, "Rollout", "frontend")["spec"]["replicas"] == 3
    assert record(canary, ROLLOUT, "frontend").ignore_changes == ["spec.replicas"]


def test_the_gate_runs_the_controllers_cli_version() -> None:
    """`kubectl argo rollouts status` reads the Rollout the way the controller writes it: the same
    release (README "Upgrading an add-on" moves both)."""
    assert STATUS_IMAGE == f"quay.io/argoproj/kubectl-argo-rollouts:{ARGO_ROLLOUTS_APP}"


def test_a_rollout_that_waits_for_a_new_database_is_not_aborted_before_it_answers(
    stack_run: Callable[..., StackRun],
) -> None:
    """On Azure the api's first pods wait for the Flexible Server (up to 20 minutes): the
    controller's progress deadline follows the first await (30 minutes), not its 10 minutes."""
    azure = stack_run("production", variant_overrides("production", "cloud-azure"))
    rollout = record(azure, ROLLOUT, "api")
    assert rollout.timeouts["create"] == "30m"
    assert rollout.inputs["spec"]["progressDeadlineSeconds"] == 1800
    # With RDS the pods start after the database: the usual deadline.
    shipped = record(stack_run("production"), ROLLOUT, "api")
    assert shipped.inputs["spec"]["progressDeadlineSeconds"] == ro.PROGRESS_DEADLINE == 600
    assert (
        find(stack_run("production"), "Rollout", "frontend")["spec"]["progressDeadlineSeconds"]
        == 600
    )


def test_present_add_ons_are_used_not_installed(stack_run: Callable[..., StackRun]) -> None:
    """`addons.<name>: present`: the cluster runs Argo Rollouts, KEDA and Istio already; nothing
    installs them, nothing waits for a release of them, and the objects are still declared."""
    present = {"webapp:addons": {"argoRollouts": "present", "keda": "present", "istio": "present"}}
    run = stack_run("production", present)
    releases = {
        r.inputs["name"] for r in run.resources if r.type == "kubernetes:helm.sh/v3:Release"
    }
    assert not releases & {"argo-rollouts", "keda", "istio-base", "istio-cni", "istiod"}
    assert find(run, "Rollout", "api") and find(run, "ScaledObject", "api")
    assert find(run, "PeerAuthentication", "default")
    # No PodMonitor for a controller this program does not run.
    monitors = {
        o["metadata"]["name"] for o in run.kubernetes_objects() if o["kind"] == "PodMonitor"
    }
    assert "webapp-argo-rollouts" not in monitors
    shipped = stack_run("production")
    installed = {
        r.inputs["name"] for r in shipped.resources if r.type == "kubernetes:helm.sh/v3:Release"
    }
    assert {"argo-rollouts", "keda", "istio-base", "istio-cni", "istiod"} <= installed


def test_the_mesh_namespace_is_where_istio_goes_and_what_the_sidecars_reach(
    stack_run: Callable[..., StackRun],
) -> None:
    run = stack_run("production", {"webapp:mesh": {"enabled": True, "namespace": "mesh-system"}})
    istio = [
        r
        for r in run.resources
        if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["name"].startswith("istio")
    ]
    assert istio and all(r.inputs["namespace"] == "mesh-system" for r in istio)
    rule = find(run, "NetworkPolicy", "allow-istiod")["spec"]["egress"][0]
    assert rule["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "mesh-system"
    }
