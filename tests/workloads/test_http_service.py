"""HttpService under the recording mocks: one test per secure default and per option."""

from __future__ import annotations

import pytest

from components.config.settings import Autoscaling
from components.kube import objects as kx
from tests.support import container, http_service, objects, one, pod
from tools.offline import StackRun

# --- HttpService: secure defaults -------------------------------------------------------------


@pytest.fixture(scope="module")
def default_service() -> StackRun:
    return http_service()


def test_children_are_named_from_the_component_and_parented_to_it(
    default_service: StackRun,
) -> None:
    component = next(
        r for r in default_service.resources if r.type == "webapp:workloads:HttpService"
    )
    children = [r for r in default_service.resources if r.custom]
    assert all(r.name.startswith("svc-") for r in children)
    assert all(r.parent == component.urn for r in children)


def test_runs_as_non_root(default_service: StackRun) -> None:
    assert pod(default_service)["securityContext"]["runAsNonRoot"] is True
    assert container(default_service)["securityContext"]["runAsNonRoot"] is True


def test_read_only_root_filesystem_with_writable_tmp(default_service: StackRun) -> None:
    assert container(default_service)["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in container(default_service)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod(default_service)["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_no_privilege_escalation_and_no_capabilities(default_service: StackRun) -> None:
    sc = container(default_service)["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["privileged"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}


def test_runtime_default_seccomp(default_service: StackRun) -> None:
    assert pod(default_service)["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container(default_service)["securityContext"]["seccompProfile"] == {
        "type": "RuntimeDefault"
    }


def test_no_service_account_token_unless_asked(default_service: StackRun) -> None:
    assert one(default_service, "ServiceAccount")["automountServiceAccountToken"] is False
    assert pod(default_service)["automountServiceAccountToken"] is False
    asked = http_service(automount_token=True)
    assert pod(asked)["automountServiceAccountToken"] is True


def test_requests_and_limits(default_service: StackRun) -> None:
    assert container(default_service)["resources"] == {
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"cpu": "250m", "memory": "256Mi"},
    }


def test_three_probes_on_the_declared_paths(default_service: StackRun) -> None:
    c = container(default_service)
    assert c["startupProbe"]["httpGet"]["path"] == "/health/startup"
    assert c["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert c["readinessProbe"]["httpGet"]["path"] == "/health/ready"


def test_clean_shutdown(default_service: StackRun) -> None:
    assert container(default_service)["lifecycle"]["preStop"]["sleep"]["seconds"] == 5
    assert pod(default_service)["terminationGracePeriodSeconds"] == 30


def test_rolling_update_never_drops_below_desired(default_service: StackRun) -> None:
    strategy = one(default_service, "Deployment")["spec"]["strategy"]
    assert strategy == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }


def test_secrets_by_reference_plain_env_in_configmap(default_service: StackRun) -> None:
    env = {e["name"]: e for e in container(default_service)["env"]}
    assert env["DB_PASSWORD"] == {
        "name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "webapp-database", "key": "password"}},
    }
    assert all("value" not in e for e in env.values())
    assert objects(default_service, "ConfigMap")[0]["data"] == {"A": "1"}


def test_config_change_rolls_the_pods(default_service: StackRun) -> None:
    before = one(default_service, "Deployment")["spec"]["template"]["metadata"]["annotations"][
        "checksum/config"
    ]
    after = one(http_service(env={"A": "2"}), "Deployment")["spec"]["template"]["metadata"][
        "annotations"
    ]["checksum/config"]
    assert before != after


def test_labels_on_everything(default_service: StackRun) -> None:
    for obj in default_service.kubernetes_objects():
        labels = obj["metadata"]["labels"]
        assert (
            labels["app.kubernetes.io/name"] == "api"
            and labels["app.kubernetes.io/managed-by"] == "pulumi"
        )
        # The image tag labels the Deployment (and its pods) alone: a release changes one object.
        if obj["kind"] == "Deployment":
            assert labels["app.kubernetes.io/version"] == "v1.11.0"
            template = obj["spec"]["template"]["metadata"]["labels"]
            assert template["app.kubernetes.io/version"] == "v1.11.0"
        else:
            assert "app.kubernetes.io/version" not in labels, obj["kind"]


def test_network_policy_allows_exactly_declared_callers() -> None:
    run = http_service(
        callers=(kx.Peer(app="frontend", ports=(8080,)),),
        egress=(kx.Peer(app="postgres", ports=(5432,)),),
    )
    spec = one(run, "NetworkPolicy")["spec"]
    assert spec["ingress"] == [
        {
            "from": [
                {
                    "podSelector": {
                        "matchLabels": {
                            "app.kubernetes.io/instance": "test",
                            "app.kubernetes.io/name": "frontend",
                        }
                    }
                }
            ],
            "ports": [{"port": 8080, "protocol": "TCP"}],
        }
    ]
    assert [
        r["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for r in spec["egress"]
    ] == ["postgres"]
    default = one(http_service(), "NetworkPolicy")["spec"]
    assert (
        default["ingress"] == []
        and default["egress"] == []
        and sorted(default["policyTypes"]) == ["Egress", "Ingress"]
    )


def test_internet_egress_excludes_private_ranges() -> None:
    spec = one(http_service(egress=(kx.internet((443,)),)), "NetworkPolicy")["spec"]
    block = spec["egress"][0]["to"][0]["ipBlock"]
    assert block["cidr"] == "0.0.0.0/0" and "10.0.0.0/8" in block["except"]


# --- HttpService: options ---------------------------------------------------------------------


def test_single_replica_has_no_pdb_no_hpa_no_spread(default_service: StackRun) -> None:
    assert one(default_service, "Deployment")["spec"]["replicas"] == 1
    assert not objects(default_service, "PodDisruptionBudget") and not objects(
        default_service, "HorizontalPodAutoscaler"
    )
    assert "topologySpreadConstraints" not in pod(default_service) and "affinity" not in pod(
        default_service
    )


def test_fixed_replicas_get_pdb_and_spread() -> None:
    run = http_service(settings={"replicas": 2})
    assert one(run, "Deployment")["spec"]["replicas"] == 2
    assert one(run, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    keys = [c["topologyKey"] for c in pod(run)["topologySpreadConstraints"]]
    assert keys == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
    assert not objects(run, "HorizontalPodAutoscaler")


def test_autoscaling_owns_replicas() -> None:
    run = http_service(settings={"autoscaling": Autoscaling(min_replicas=3, max_replicas=15)})
    # The first apply starts at the floor; after it the count is the HPA's (ignored by Pulumi).
    assert one(run, "Deployment")["spec"]["replicas"] == 3
    deployment = next(r for r in run.resources if r.type == "kubernetes:apps/v1:Deployment")
    assert deployment.ignore_changes == ["spec.replicas"]
    hpa = one(run, "HorizontalPodAutoscaler")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 15)
    assert {
        m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]
    } == {"cpu": 70, "memory": 80}
    assert hpa["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 60
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}
    assert one(run, "PodDisruptionBudget")


def test_metrics_port_gets_scrape_annotations_and_service_port(default_service: StackRun) -> None:
    annotations = one(default_service, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert (
        annotations["prometheus.io/scrape"] == "true"
        and annotations["prometheus.io/port"] == "9091"
    )
    ports = {p["name"]: p["port"] for p in one(default_service, "Service")["spec"]["ports"]}
    assert ports == {"http": 8080, "metrics": 9091}


def test_pod_monitor_only_when_monitoring_is_on(default_service: StackRun) -> None:
    assert not objects(default_service, "PodMonitor")
    monitor = one(http_service(monitoring=True), "PodMonitor")
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics"
    # The series keep the app's name as `service`, whichever Service reaches the pod.
    assert endpoint["relabelings"] == [
        {
            "sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
            "targetLabel": "service",
        }
    ]
    assert not objects(http_service(monitoring=True), "ServiceMonitor")
    assert not objects(http_service(monitoring=True, metrics_port=None), "PodMonitor")


def test_files_are_mounted_from_their_own_configmap() -> None:
    run = http_service(files={"nginx.conf": "events {}"}, files_path="/etc/nginx")
    maps = {o["metadata"]["name"]: o["data"] for o in objects(run, "ConfigMap")}
    assert maps == {"api": {"A": "1"}, "api-files": {"nginx.conf": "events {}"}}
    mount = next(
        m for m in container(run)["volumeMounts"] if m["mountPath"] == "/etc/nginx/nginx.conf"
    )
    assert mount["subPath"] == "nginx.conf" and mount["readOnly"] is True
