"""Whole-stack tests: every Pulumi.<stack>.yaml runs under the mocks and every manifest is valid.

Each stack also runs in its other supported shapes (Ingress routing, monitoring on and off) so an
option that only one shipped stack uses cannot rot unseen.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest

from components.secrets import catalogue as cat
from tests.support import STACKS, pod_specs, produced_secrets, require
from tools.golden import VARIANTS, variant_overrides
from tools.offline import StackRun, contains_secret, last_registrations, mock_password, run_stack
from tools.validate import CelReport, crd_schema_dir, validate_object

APP_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
)


@pytest.fixture(params=[(s, v) for s in STACKS for v in VARIANTS], ids=lambda p: f"{p[0]}-{p[1]}")
def run(request: pytest.FixtureRequest, stack_run: Callable[..., StackRun]) -> StackRun:
    stack, variant = request.param
    return stack_run(stack, variant_overrides(stack, variant))


def test_every_stack_file_is_tested() -> None:
    assert {"dev", "staging", "production"} <= set(STACKS)


def test_every_object_validates_strictly(run: StackRun) -> None:
    require(crd_schema_dir().is_dir(), f"CRD schemas not found at {crd_schema_dir()}")
    objects = run.kubernetes_objects(reveal=True)
    assert len(objects) > 50
    cel = CelReport()
    kinds = {validate_object(obj, cel) for obj in objects}
    assert kinds == {"builtin", "custom"}
    if any(o["kind"] == "HTTPRoute" for o in objects):
        assert cel.evaluated > 0  # the Gateway API and Envoy policies carry CEL rules


def test_every_object_carries_the_recommended_labels(run: StackRun) -> None:
    """Every object carries the recommended labels; the version (the image tag) only workloads and
    their pods, so a release changes the workload alone."""
    workloads = ("Deployment", "Rollout", "StatefulSet", "CronJob")
    patches = {
        r.inputs["metadata"]["name"] for r in run.resources if r.type.endswith("Patch")
    }  # a patch sets one field of an object another controller created
    for obj in run.kubernetes_objects():
        if obj["metadata"]["name"] in patches and obj["kind"] == "PersistentVolumeClaim":
            continue
        labels = obj["metadata"].get("labels", {})
        wanted = [k for k in APP_LABELS if k != "app.kubernetes.io/version"]
        missing = [k for k in wanted if k not in labels]
        assert not missing, f"{obj['kind']}/{obj['metadata']['name']} lacks {missing}"
        if obj["kind"] in workloads:
            assert "app.kubernetes.io/version" in labels, obj["metadata"]["name"]


def test_every_pod_runs_restricted(run: StackRun) -> None:
    for name, spec, _ in pod_specs(run.kubernetes_objects()):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec.get("automountServiceAccountToken") is False, name
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert sc["runAsNonRoot"] is True, name
            res = container["resources"]
            assert set(res["requests"]) == {"cpu", "memory"} and set(res["limits"]) == {
                "cpu",
                "memory",
            }, name


def _names(objects: list[dict[str, Any]], kind: str) -> set[tuple[str, str]]:
    return {
        (o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects if o["kind"] == kind
    }


def _env_references(container: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """("secretKeyRef" | "configMapKeyRef", reference) of every env var read by reference."""
    found = []
    for env in container.get("env") or []:
        source = env.get("valueFrom") or {}
        found += [
            (kind, source[kind]) for kind in ("secretKeyRef", "configMapKeyRef") if kind in source
        ]
    return found


def test_every_secret_a_pod_reads_is_produced(run: StackRun) -> None:
    """secretKeyRef / configMapRef / volumes point at objects (and keys) the stack declares."""
    objects = run.kubernetes_objects()
    keys = {
        "secretKeyRef": {key: keys for key, (keys, _) in produced_secrets(objects).items()},
        "configMapKeyRef": {
            (o["metadata"]["namespace"], o["metadata"]["name"]): set((o.get("data") or {}).keys())
            for o in objects
            if o["kind"] == "ConfigMap"
        },
    }
    config_maps, accounts = _names(objects, "ConfigMap"), _names(objects, "ServiceAccount")
    claims = _names(objects, "PersistentVolumeClaim")
    workloads = {
        o["metadata"]["name"]: o["metadata"]["namespace"]
        for o in objects
        if o["kind"] in ("Deployment", "Rollout", "StatefulSet", "CronJob")
    }
    reads = 0
    for name, spec, _ in pod_specs(objects):
        ns = workloads[name.split("/", 1)[1]]
        if spec.get("serviceAccountName"):
            assert (ns, spec["serviceAccountName"]) in accounts, name
        for container in spec["containers"]:
            for kind, ref in _env_references(container):
                assert ref["key"] in keys[kind].get((ns, ref["name"]), set()), f"{name} reads {ref}"
                reads += kind == "secretKeyRef"
            for env_from in container.get("envFrom") or []:
                assert (ns, env_from["configMapRef"]["name"]) in config_maps, name
        for volume in spec.get("volumes") or []:
            if "configMap" in volume:
                assert (ns, volume["configMap"]["name"]) in config_maps, name
            if "persistentVolumeClaim" in volume:
                assert (ns, volume["persistentVolumeClaim"]["claimName"]) in claims, name
            if "secret" in volume:  # e.g. the NATS route certificate, written by cert-manager
                assert (ns, volume["secret"]["secretName"]) in keys["secretKeyRef"], name
    assert reads >= 20  # the loop really saw the app's secret references


def test_secrets_come_from_the_stack_cloud_store(run: StackRun) -> None:
    """cloud none: Kubernetes Secrets from pulumi-random; a cloud: every one from its store's
    objects, but the program's own (`cat.PROGRAM_SECRETS`: the database roles' Secrets, written
    after the roles Job on every cloud, `data.database_roles`)."""
    cloud = run.outputs["cloud"]
    objects = run.kubernetes_objects()
    program = {spec.name for spec in cat.PROGRAM_SECRETS}
    produced = produced_secrets(objects)
    for name in program:
        assert [kind for (_, found), (_, kind) in produced.items() if found == name] == ["Secret"]
    # Not the certificates cert-manager issues in the cluster (TLS, the NATS routes): no store's.
    producers = {
        kind
        for (_, name), (_, kind) in produced.items()
        if name not in program and kind != "Certificate"
    }
    csi = any(o["kind"] == "SecretProviderClass" for o in objects)
    assert producers == (
        {"Secret"} if cloud == "none" else {"SecretProviderClass"} if csi else {"ExternalSecret"}
    )


def test_no_secret_in_plain_text(run: StackRun) -> None:
    """Generated values appear only inside Secrets, always wrapped as Pulumi secrets."""
    revealed = run.kubernetes_objects(reveal=True)
    passwords = {
        r.inputs.get("result") for r in run.resources if r.type.endswith(":RandomPassword")
    }
    passwords |= {
        mock_password(r.name, int(r.inputs["length"]), r.inputs.get("keepers"))
        for r in run.resources
        if r.type.endswith(":RandomPassword")
    }
    passwords.discard(None)
    assert passwords
    for record, obj in zip(
        [r for r in run.resources if r.is_kubernetes_object], revealed, strict=True
    ):
        text = json.dumps(obj)
        if obj["kind"] == "Secret":
            assert contains_secret(record.inputs.get("stringData")), obj["metadata"]["name"]
            continue
        if obj["kind"] == "ExternalSecret":
            assert "mock" not in text  # references to the store, never values
        leaked = [p for p in passwords if p and p in text]
        assert not leaked, f"{obj['kind']}/{obj['metadata']['name']} contains a generated secret"
    assert "secretNames" not in run.secret_outputs
    for key, value in run.outputs.items():
        text = json.dumps(value)
        assert not any(p in text for p in passwords if p), f"output {key} leaks a secret"


def scaler_minimums(objects: list[dict[str, Any]]) -> dict[str, int]:
    """Workload -> the floor its HPA or KEDA ScaledObject keeps."""
    found = {}
    for o in objects:
        if o["kind"] == "HorizontalPodAutoscaler":
            found[o["spec"]["scaleTargetRef"]["name"]] = o["spec"]["minReplicas"]
        if o["kind"] == "ScaledObject":
            found[o["spec"]["scaleTargetRef"]["name"]] = o["spec"]["minReplicaCount"]
    return found


def test_autoscaled_workloads_leave_replicas_to_their_scaler(run: StackRun) -> None:
    """Under an HPA or KEDA the workload starts at the floor and Pulumi ignores the count after
    (the scaler owns it); a fixed count is Pulumi's."""
    scaled = scaler_minimums(run.kubernetes_objects())
    checked = 0
    for record in run.resources:
        if record.type not in (
            "kubernetes:apps/v1:Deployment",
            "kubernetes:argoproj.io/v1alpha1:Rollout",
        ):
            continue
        name = record.inputs["metadata"]["name"]
        ignored = "spec.replicas" in record.ignore_changes
        assert ignored == (name in scaled), name
        if name in scaled:
            assert record.inputs["spec"]["replicas"] == scaled[name], name
            checked += 1
    assert checked == len(scaled)


def test_replicated_workloads_have_disruption_budgets(run: StackRun) -> None:
    objects = run.kubernetes_objects()
    pdbs = {o["metadata"]["name"] for o in objects if o["kind"] == "PodDisruptionBudget"}
    hpa_min = scaler_minimums(objects)
    for obj in objects:
        if obj["kind"] in ("Deployment", "Rollout", "StatefulSet"):
            name = obj["metadata"]["name"]
            replicas = obj["spec"].get("replicas", hpa_min.get(name, 1))
            assert (name in pdbs) == (replicas > 1), name


def test_services_select_pods_and_name_their_ports(run: StackRun) -> None:
    objects = run.kubernetes_objects()
    pods = [(meta.get("labels", {}), spec) for _, spec, meta in pod_specs(objects)]
    for svc in (o for o in objects if o["kind"] == "Service"):
        selector = svc["spec"]["selector"]
        matching = [
            spec for labels, spec in pods if all(labels.get(k) == v for k, v in selector.items())
        ]
        assert matching, f"Service {svc['metadata']['name']} selects no pods"
        names = {
            p.get("name")
            for spec in matching
            for c in spec["containers"]
            for p in c.get("ports", [])
        }
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in names, f"{svc['metadata']['name']}: {port}"


def test_routes_point_at_services(run: StackRun) -> None:
    objects = run.kubernetes_objects()
    services = {
        (o["metadata"]["name"], p["port"])
        for o in objects
        if o["kind"] == "Service"
        for p in o["spec"]["ports"]
    }
    backends = []
    for obj in objects:
        if obj["kind"] == "HTTPRoute":
            backends += [
                (b["name"], b["port"])
                for r in obj["spec"]["rules"]
                for b in r.get("backendRefs", [])
            ]
        if obj["kind"] == "Ingress":
            backends += [
                (p["backend"]["service"]["name"], p["backend"]["service"]["port"]["number"])
                for rule in obj["spec"]["rules"]
                for p in rule["http"]["paths"]
            ]
    assert {b[0] for b in backends} == {"frontend", "api", "websocket", "auth"}
    assert set(backends) <= services


def test_namespace_is_default_deny(run: StackRun) -> None:
    deny = run.find("NetworkPolicy", "default-deny")
    assert deny["spec"]["podSelector"] == {} and sorted(deny["spec"]["policyTypes"]) == [
        "Egress",
        "Ingress",
    ]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    policed = {
        o["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        for o in run.kubernetes_objects()
        if o["kind"] == "NetworkPolicy"
    }
    workloads = {
        o["metadata"]["name"]
        for o in run.kubernetes_objects()
        if o["kind"] in ("Deployment", "Rollout", "StatefulSet", "CronJob")
    }
    assert workloads <= policed


def test_custom_resources_wait_for_the_addons_that_define_them(run: StackRun) -> None:
    by_urn = run.by_urn()
    releases = {r.urn: r.name for r in run.resources if r.type == "kubernetes:helm.sh/v3:Release"}
    needs = {
        "cert-manager.io": "cert-manager",
        "gateway.networking.k8s.io": "envoy-gateway",
        "gateway.envoyproxy.io": "envoy-gateway",
        "monitoring.coreos.com": "prometheus",
    }
    checked = 0
    for record in run.resources:
        if not record.is_kubernetes_object:
            continue
        group = record.inputs.get("apiVersion", "").split("/")[0]
        if group not in needs:
            continue
        wanted = [urn for urn, name in releases.items() if needs[group] in name]
        if not wanted:
            continue  # the add-on is declared as already present
        assert set(wanted) <= set(record.depends_on), (
            f"{record.name} does not wait for {needs[group]}"
        )
        checked += 1
    assert checked > 0 or not releases
    assert by_urn


def test_production_is_protected_from_destroy(stack_run: Callable[..., StackRun]) -> None:
    run = stack_run("production")
    namespace = next(
        r
        for r in run.resources
        if r.type == "kubernetes:core/v1:Namespace"
        and r.inputs["metadata"]["name"] == "webapp-production"
    )
    assert namespace.protect and namespace.retain_on_delete
    binding = run.find("ClusterRoleBinding", "webapp-production-namespace-deleter")
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "webapp-deprovisioners"}
    ]
    role = run.find("ClusterRole", "webapp-production-namespace-deleter")
    assert role["rules"][0]["resourceNames"] == ["webapp-production"]
    in_cluster = stack_run("production", variant_overrides("production", "cloud-none"))
    backups = next(
        r
        for r in in_cluster.resources
        if r.name.endswith("-backups") and r.type.endswith("PersistentVolumeClaim")
    )
    assert backups.retain_on_delete


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_non_production_namespaces_can_be_destroyed(
    stack: str, stack_run: Callable[..., StackRun]
) -> None:
    run = stack_run(stack)
    namespace = next(
        r
        for r in run.resources
        if r.type == "kubernetes:core/v1:Namespace"
        and r.inputs["metadata"]["name"] == f"webapp-{stack}"
    )
    assert not namespace.protect
    with pytest.raises(KeyError):
        run.find("ClusterRoleBinding", f"webapp-{stack}-namespace-deleter")


def test_production_scales_as_specified(stack_run: Callable[..., StackRun]) -> None:
    objects = stack_run("production").kubernetes_objects()
    bounds = {
        o["spec"]["scaleTargetRef"]["name"]: (o["spec"]["minReplicas"], o["spec"]["maxReplicas"])
        for o in objects
        if o["kind"] == "HorizontalPodAutoscaler"
    } | {
        o["spec"]["scaleTargetRef"]["name"]: (
            o["spec"]["minReplicaCount"],
            o["spec"]["maxReplicaCount"],
        )
        for o in objects
        if o["kind"] == "ScaledObject"
    }
    assert bounds == {
        "frontend": (3, 10),
        "api": (3, 15),
        "websocket": (3, 10),
        "auth": (3, 10),
        "broadcaster": (3, 10),
    }
    nats = next(
        o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "nats"
    )
    assert nats["spec"]["replicas"] == 3
    assert (
        nats["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
        == "10Gi"
    )


def test_log_levels_per_stack(stack_run: Callable[..., StackRun]) -> None:
    levels = {
        s: stack_run(s).find("ConfigMap", "api")["data"]["Logging__LogLevel__Default"]
        for s in ("dev", "staging", "production")
    }
    assert levels == {"dev": "Debug", "staging": "Information", "production": "Warning"}


def test_staging_runs_two_replicas(stack_run: Callable[..., StackRun]) -> None:
    """Every service; the CSI sync pod serves nothing (the synced Secret outlives it)."""
    checked = 0
    for obj in stack_run("staging").kubernetes_objects():
        if obj["kind"] in ("Deployment", "Rollout") and obj["metadata"]["name"] != "secret-sync":
            assert obj["spec"]["replicas"] == 2, obj["metadata"]["name"]
            checked += 1
    assert checked == 5


def test_bad_config_declares_nothing() -> None:
    import pulumi

    with pytest.raises(pulumi.RunError) as info:
        run_stack(
            "dev", {"webapp:domain": "bad domain", "webapp:services": {"api": {"replicas": 0}}}
        )
    assert "webapp:domain: 'bad domain'" in str(info.value)
    assert "webapp:services.api.replicas: 0" in str(info.value)
    assert last_registrations() == []


AGENT_READ_CONFIG_MAPS = {
    ("kube-system", "ama-metrics-settings-configmap"),  # the Azure Monitor metrics agent
    ("kube-system", "ama-metrics-prometheus-config"),
}


def test_every_pod_runs_as_its_own_service_account(run: StackRun) -> None:
    """Never the namespace's `default` account (which any new workload would share)."""
    for name, spec, _ in pod_specs(run.kubernetes_objects()):
        assert spec.get("serviceAccountName") not in (None, "", "default"), name


def test_every_config_map_is_read(run: StackRun) -> None:
    """A ConfigMap is mounted or read by a pod, or by the agent it is written for."""
    objects = run.kubernetes_objects()
    read: set[str] = set()
    for _, spec, _ in pod_specs(objects, jobs=True):
        for container in spec["containers"]:
            read |= {source["configMapRef"]["name"] for source in container.get("envFrom") or []}
            read |= {
                env["valueFrom"]["configMapKeyRef"]["name"]
                for env in container.get("env") or []
                if "configMapKeyRef" in (env.get("valueFrom") or {})
            }
        read |= {
            volume["configMap"]["name"]
            for volume in spec.get("volumes") or []
            if "configMap" in volume
        }
    headers = {
        value.split("/", 1)[1]
        for o in objects
        if o["kind"] == "Ingress"
        for key, value in (o["metadata"].get("annotations") or {}).items()
        if key == "nginx.ingress.kubernetes.io/custom-headers"
    }
    for o in objects:
        if o["kind"] != "ConfigMap":
            continue
        meta = o["metadata"]
        dashboards = (meta.get("labels") or {}).get("grafana_dashboard") == "1"
        assert (
            meta["name"] in read
            or meta["name"] in headers
            or dashboards
            or (meta.get("namespace"), meta["name"]) in AGENT_READ_CONFIG_MAPS
        ), f"ConfigMap {meta.get('namespace')}/{meta['name']} is read by nothing"


def test_long_running_workloads_wait_for_their_service_account(run: StackRun) -> None:
    """A pod naming a missing ServiceAccount is refused and retried with back-off; so every
    Deployment and StatefulSet is created after the account its pods run as."""
    accounts = {
        (r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r.urn
        for r in run.resources
        if r.type == "kubernetes:core/v1:ServiceAccount"
    }
    checked = 0
    for record in run.resources:
        if record.type not in (
            "kubernetes:apps/v1:Deployment",
            "kubernetes:argoproj.io/v1alpha1:Rollout",
            "kubernetes:apps/v1:StatefulSet",
        ):
            continue
        meta = record.inputs["metadata"]
        account = record.inputs["spec"]["template"]["spec"]["serviceAccountName"]
        assert accounts[(meta["namespace"], account)] in record.depends_on, meta["name"]
        checked += 1
    assert checked >= 7  # the services, PostgreSQL or not, Redis and NATS


def test_pods_run_above_uid_10000_and_long_running_containers_have_both_probes(
    run: StackRun,
) -> None:
    """UIDs clear of the host's users wherever the image allows it (PostgreSQL's does not, see
    `components/data/postgres.py`); every container of a Deployment or StatefulSet is restarted
    when it hangs and taken out of service when it is not ready."""
    for workload, pod, _ in pod_specs(run.kubernetes_objects()):
        kind, name = workload.split("/")
        uid = pod["securityContext"]["runAsUser"]
        assert uid > 10000 or name == "postgres", f"{name}: {uid}"
        if kind == "CronJob":
            continue
        for container in pod["containers"]:
            missing = [p for p in ("livenessProbe", "readinessProbe") if p not in container]
            assert not missing, f"{name}/{container['name']} lacks {missing}"


def test_every_container_pulls_with_the_stacks_policy(stack_run: Callable[..., StackRun]) -> None:
    run = stack_run("dev", {"webapp:imagePullPolicy": "Always"})
    policies = {
        (workload, container["name"]): container.get("imagePullPolicy")
        for workload, pod, _ in pod_specs(run.kubernetes_objects())
        for container in pod["containers"]
    }
    assert len(policies) >= 10 and set(policies.values()) == {"Always"}, policies
