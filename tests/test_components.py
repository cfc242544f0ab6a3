"""Component tests under the recording mocks: one test per secure default and per option.

`run_components` (tools/offline.py) runs the builder inside the Pulumi runtime and waits for every
registration before returning, as `@pulumi.runtime.test` does; the assertions below then look at
exactly what each component declared.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import pytest

from components.config.catalogue import Probes
from components.config.parsing import parse_settings
from components.config.settings import Autoscaling, Resources, Subject
from components.data.nats import InClusterNats, InClusterNatsArgs
from components.data.postgres import InClusterPostgres, InClusterPostgresArgs
from components.data.redis import InClusterRedis, InClusterRedisArgs
from components.kube import objects as kx
from components.platform.edge import EdgeRouting, EdgeRoutingArgs, Route
from components.platform.namespace import NamespaceBaseline, NamespaceBaselineArgs
from components.secrets import catalogue as cat
from components.secrets.generated import GeneratedSecrets, GeneratedSecretsArgs
from components.workloads.http_service import HttpService, HttpServiceArgs
from tools.offline import StackRun, contains_secret, run_components

SETTINGS = parse_settings(
    {"webapp:domain": "app.example.com", "webapp:kubernetes": {"context": "kind"}}, "dev"
)
RES = Resources(cpu_request="50m", memory_request="64Mi", cpu_limit="250m", memory_limit="256Mi")


def service_args(**changes: Any) -> HttpServiceArgs:
    settings_changes = changes.pop("settings", {})
    settings = dataclasses.replace(SETTINGS.services["api"], **settings_changes)
    base = HttpServiceArgs(
        app="api",
        namespace="ns",
        instance="test",
        component="backend",
        settings=settings,
        port=8080,
        metrics_port=9091,
        probes=Probes(
            startup="/health/startup", liveness="/health/live", readiness="/health/ready"
        ),
        env={"A": "1"},
        secret_env={"DB_PASSWORD": cat.SecretRef(secret=cat.DATABASE, key="password")},
    )
    return dataclasses.replace(base, **changes)


def http_service(**changes: Any) -> StackRun:
    return run_components(lambda: HttpService("svc", service_args(**changes)))


def objects(run: StackRun, kind: str) -> list[dict[str, Any]]:
    return [o for o in run.kubernetes_objects() if o["kind"] == kind]


def one(run: StackRun, kind: str) -> dict[str, Any]:
    found = objects(run, kind)
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


def pod(run: StackRun) -> dict[str, Any]:
    return one(run, "Deployment")["spec"]["template"]["spec"]


def container(run: StackRun) -> dict[str, Any]:
    return pod(run)["containers"][0]


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
        assert labels["app.kubernetes.io/version"] == "v1.11.0"


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
    assert "replicas" not in one(run, "Deployment")["spec"]
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


def test_service_monitor_only_when_monitoring_is_on(default_service: StackRun) -> None:
    assert not objects(default_service, "ServiceMonitor")
    monitor = one(http_service(monitoring=True), "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert not objects(http_service(monitoring=True, metrics_port=None), "ServiceMonitor")


def test_files_are_mounted_from_their_own_configmap() -> None:
    run = http_service(files={"nginx.conf": "events {}"}, files_path="/etc/nginx")
    maps = {o["metadata"]["name"]: o["data"] for o in objects(run, "ConfigMap")}
    assert maps == {"api": {"A": "1"}, "api-files": {"nginx.conf": "events {}"}}
    mount = next(
        m for m in container(run)["volumeMounts"] if m["mountPath"] == "/etc/nginx/nginx.conf"
    )
    assert mount["subPath"] == "nginx.conf" and mount["readOnly"] is True


# --- NamespaceBaseline ------------------------------------------------------------------------


def baseline(deleters: tuple[Subject, ...] = (), protect: bool = False) -> StackRun:
    return run_components(
        lambda: NamespaceBaseline(
            "base",
            NamespaceBaselineArgs(
                namespace="webapp-x",
                instance="x",
                environment="dev",
                quota=SETTINGS.quota,
                deleters=deleters,
                protect=protect,
            ),
        )
    )


def test_namespace_enforces_restricted_pod_security() -> None:
    labels = one(baseline(), "Namespace")["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_quota_and_limit_range() -> None:
    run = baseline()
    hard = one(run, "ResourceQuota")["spec"]["hard"]
    assert hard["requests.cpu"] == SETTINGS.quota.requests_cpu and hard["pods"] == str(
        SETTINGS.quota.pods
    )
    assert hard["services.loadbalancers"] == "0"
    limits = one(run, "LimitRange")["spec"]["limits"][0]
    assert limits["type"] == "Container" and "default" in limits and "defaultRequest" in limits


def test_default_deny_and_dns_only() -> None:
    policies = {o["metadata"]["name"]: o["spec"] for o in objects(baseline(), "NetworkPolicy")}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = policies["allow-dns"]["egress"][0]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}


def test_no_deletion_rbac_without_deleters() -> None:
    run = baseline()
    assert not objects(run, "ClusterRole") and not objects(run, "ClusterRoleBinding")
    assert not next(r for r in run.resources if r.type.endswith(":Namespace")).protect


def test_deleters_get_delete_on_this_namespace_only_and_namespace_is_protected() -> None:
    run = baseline(
        (Subject(kind="ServiceAccount", name="deprovisioner", namespace="ops"),), protect=True
    )
    rule = one(run, "ClusterRole")["rules"][0]
    assert (
        rule["resourceNames"] == ["webapp-x"]
        and "delete" in rule["verbs"]
        and rule["resources"] == ["namespaces"]
    )
    subjects = one(run, "ClusterRoleBinding")["subjects"]
    assert subjects == [{"kind": "ServiceAccount", "name": "deprovisioner", "namespace": "ops"}]
    namespace = next(r for r in run.resources if r.type.endswith(":Namespace"))
    assert namespace.protect and namespace.retain_on_delete


def test_namespaced_objects_wait_for_the_namespace() -> None:
    run = baseline()
    namespace = next(r for r in run.resources if r.type.endswith(":Namespace"))
    for record in run.resources:
        if record.is_kubernetes_object and record is not namespace:
            assert namespace.urn in record.depends_on, record.name


# --- Data services ----------------------------------------------------------------------------


def test_postgres_keeps_data_and_backs_up_daily() -> None:
    run = run_components(
        lambda: InClusterPostgres(
            "pg",
            InClusterPostgresArgs(
                namespace="ns", instance="t", settings=SETTINGS.database, clients=("api",)
            ),
        )
    )
    sts = one(run, "StatefulSet")["spec"]
    assert sts["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    assert "pg_isready" in " ".join(
        sts["template"]["spec"]["containers"][0]["readinessProbe"]["exec"]["command"]
    )
    cron = one(run, "CronJob")["spec"]
    assert cron["schedule"] == "0 2 * * *" and cron["concurrencyPolicy"] == "Forbid"
    backups = next(r for r in run.resources if r.name == "pg-backups")
    assert backups.retain_on_delete
    # Pending until the first backup Job on WaitForFirstConsumer classes: never awaited.
    assert backups.inputs["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    ingress = {
        o["metadata"]["name"]: o["spec"].get("ingress") for o in objects(run, "NetworkPolicy")
    }
    callers = {
        p["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        for p in ingress["postgres"]
    }
    assert callers == {"api", "postgres-backup"}


def test_redis_password_is_neither_in_config_nor_in_arguments() -> None:
    run = run_components(
        lambda: InClusterRedis(
            "r",
            InClusterRedisArgs(
                namespace="ns", instance="t", settings=SETTINGS.redis, clients=("api",)
            ),
        )
    )
    conf = one(run, "ConfigMap")["data"]["redis.conf"]
    assert "requirepass" not in conf and "include /run/redis/auth.conf" in conf
    c = one(run, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    assert "$REDIS_PASSWORD" in c["command"][2] and "--requirepass" not in " ".join(c["command"])
    assert {e["name"] for e in c["env"]} == {"REDIS_PASSWORD", "REDISCLI_AUTH"}
    assert all("secretKeyRef" in e["valueFrom"] for e in c["env"])


@pytest.mark.parametrize("persistence", [False, True])
def test_redis_persistence_option(persistence: bool) -> None:
    settings = dataclasses.replace(SETTINGS.redis, persistence=persistence)
    run = run_components(
        lambda: InClusterRedis(
            "r", InClusterRedisArgs(namespace="ns", instance="t", settings=settings, clients=())
        )
    )
    sts = one(run, "StatefulSet")["spec"]
    assert ("volumeClaimTemplates" in sts) is persistence
    assert ("appendonly yes" in one(run, "ConfigMap")["data"]["redis.conf"]) is persistence


def nats(replicas: int, persistence: bool, monitoring: Optional[str] = None) -> StackRun:
    settings = dataclasses.replace(SETTINGS.nats, replicas=replicas, persistence=persistence)
    return run_components(
        lambda: InClusterNats(
            "n",
            InClusterNatsArgs(
                namespace="ns",
                instance="t",
                settings=settings,
                clients=("api",),
                monitoring_namespace=monitoring,
                service_monitor=monitoring is not None,
            ),
        )
    )


def test_nats_single_node_has_no_cluster_block_and_no_pdb() -> None:
    run = nats(1, False)
    conf = one(run, "ConfigMap")["data"]["nats.conf"]
    assert "cluster {" not in conf and "jetstream" not in conf
    assert not objects(run, "PodDisruptionBudget")
    names = {o["metadata"]["name"] for o in objects(run, "Service")}
    assert names == {"nats", "nats-headless", "nats-metrics"}
    containers = [
        c["name"] for c in one(run, "StatefulSet")["spec"]["template"]["spec"]["containers"]
    ]
    assert containers == ["nats", "nats-exporter"]


def test_nats_cluster_with_volumes_and_pdb() -> None:
    run = nats(3, True, monitoring="monitoring")
    conf = one(run, "ConfigMap")["data"]["nats.conf"]
    assert conf.count("nats://nats-") == 3 and "store_dir: /data/jetstream" in conf
    assert one(run, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    assert (
        one(run, "StatefulSet")["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"][
            "storage"
        ]
        == "10Gi"
    )
    assert one(run, "ServiceMonitor")["spec"]["endpoints"][0]["port"] == "metrics"


# --- Secrets ----------------------------------------------------------------------------------


def test_generated_secrets_match_the_catalogue_and_are_secret() -> None:
    run = run_components(
        lambda: GeneratedSecrets(
            "s",
            GeneratedSecretsArgs(
                namespace="ns",
                instance="t",
                database_host="postgres",
                database_name="webapp",
                database_username="webapp",
                redis_host="redis",
                monitoring_namespace="monitoring",
            ),
        )
    )
    records = [r for r in run.resources if r.is_kubernetes_object]
    by_name = {r.inputs["metadata"]["name"]: r for r in records}
    assert set(by_name) == {s.name for s in cat.ALL_SECRETS}
    for spec in cat.ALL_SECRETS:
        record = by_name[spec.name]
        assert contains_secret(record.inputs["stringData"]), spec.name
        assert set(run.kubernetes_objects()[records.index(record)]["stringData"]) == set(spec.keys)
    assert by_name["webapp-grafana-admin"].inputs["metadata"]["namespace"] == "monitoring"


def test_catalogue_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="has no key"):
        cat.SecretRef(secret=cat.JWT, key="password")


# --- Edge -------------------------------------------------------------------------------------

ROUTES = (
    Route(path="/api", service="api", port=8080),
    Route(path="/ws", service="websocket", port=3002, websocket=True),
    Route(path="/", service="frontend", port=8080),
)


def edge(mode: str, issuer: str) -> StackRun:
    routing = dataclasses.replace(
        SETTINGS.routing, mode=mode, issuer=issuer, acme_email="ops@example.com"
    )
    return run_components(
        lambda: EdgeRouting(
            "e",
            EdgeRoutingArgs(
                namespace="ns",
                instance="t",
                domain="app.example.com",
                routing=routing,
                routes=ROUTES,
            ),
        )
    )


def test_gateway_mode_routes_with_tls_headers_rate_limit_and_cors() -> None:
    run = edge("gateway", "selfsigned")
    assert one(run, "ClusterIssuer")["spec"] == {"selfSigned": {}}
    assert not objects(run, "NetworkPolicy")  # no ACME solver to let in
    listeners = {item["name"]: item for item in one(run, "Gateway")["spec"]["listeners"]}
    assert listeners["https"]["tls"]["certificateRefs"][0]["name"] == "webapp-tls"
    routes = {o["metadata"]["name"]: o["spec"] for o in objects(run, "HTTPRoute")}
    assert routes["webapp-redirect"]["rules"][0]["filters"][0]["requestRedirect"] == {
        "scheme": "https",
        "statusCode": 301,
    }
    main = routes["webapp"]["rules"]
    assert [r["matches"][0]["path"]["value"] for r in main] == ["/api", "/"]
    headers = {h["name"] for h in main[0]["filters"][0]["responseHeaderModifier"]["set"]}
    assert "Strict-Transport-Security" in headers
    assert routes["webapp-websocket"]["rules"][0]["timeouts"] == {"request": "3600s"}
    limits = {
        o["metadata"]["name"]: o["spec"]["rateLimit"]["local"]["rules"][0]["limit"]
        for o in objects(run, "BackendTrafficPolicy")
    }
    assert limits == {
        "webapp": {"requests": 100, "unit": "Minute"},
        "webapp-websocket": {"requests": 100, "unit": "Minute"},
    }
    cors = one_named(run, "SecurityPolicy", "webapp")["spec"]["cors"]
    assert cors["allowOrigins"] == ["https://app.example.com"]


def one_named(run: StackRun, kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects(run, kind) if o["metadata"]["name"] == name)


def test_acme_issuer_solves_through_the_gateway() -> None:
    run = edge("gateway", "acme")
    acme = one(run, "ClusterIssuer")["spec"]["acme"]
    solver_policy = one(run, "NetworkPolicy")["spec"]
    assert solver_policy["podSelector"]["matchLabels"] == {
        "acme.cert-manager.io/http01-solver": "true"
    }
    assert solver_policy["ingress"][0]["ports"] == [{"port": 8089, "protocol": "TCP"}]
    assert solver_policy["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "envoy-gateway-system"
    }
    assert acme["email"] == "ops@example.com"
    assert acme["solvers"][0]["http01"]["gatewayHTTPRoute"]["parentRefs"][0]["name"] == "webapp"


def test_ingress_mode_has_the_same_behaviour() -> None:
    run = edge("ingress", "acme")
    assert not objects(run, "Gateway") and not objects(run, "HTTPRoute")
    ingresses = {o["metadata"]["name"]: o for o in objects(run, "Ingress")}
    main, ws = ingresses["webapp"], ingresses["webapp-websocket"]
    annotations = main["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/limit-rpm"] == "100"
    assert annotations["nginx.ingress.kubernetes.io/cors-allow-origin"] == "https://app.example.com"
    assert annotations["cert-manager.io/cluster-issuer"] == "ns-acme"
    assert ws["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert main["spec"]["tls"] == [{"hosts": ["app.example.com"], "secretName": "webapp-tls"}]
    assert (
        one(run, "ClusterIssuer")["spec"]["acme"]["solvers"][0]["http01"]["ingress"][
            "ingressClassName"
        ]
        == "nginx"
    )


# --- IRSA for any service ---------------------------------------------------------------------


def test_any_service_can_get_an_irsa_role() -> None:
    import json

    from components.aws.irsa import ROLE_ANNOTATION, IrsaRole, IrsaRoleArgs, role_arn

    arn = role_arn("aws", "123456789012", "webapp-test-api")

    def build() -> None:
        service = HttpService(
            "svc", service_args(service_account_annotations={ROLE_ANNOTATION: arn})
        )
        IrsaRole(
            "api-irsa",
            IrsaRoleArgs(
                role_name="webapp-test-api",
                oidc_provider_arn="arn:aws:iam::123456789012:oidc-provider/oidc.example/id/X",
                oidc_issuer_host="oidc.example/id/X",
                service_account_namespace=service.service_account.metadata.namespace,
                service_account_name=service.service_account_name,
                policies={
                    "read-bucket": json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": "s3:GetObject",
                                    "Resource": "arn:aws:s3:::bucket/*",
                                }
                            ],
                        }
                    )
                },
            ),
        )

    run = run_components(build)
    account = one(run, "ServiceAccount")
    assert account["metadata"]["annotations"] == {ROLE_ANNOTATION: arn}
    role = next(r for r in run.resources if r.type == "aws:iam/role:Role")
    from tools.offline import normalise

    trust = json.loads(normalise(role.inputs["assumeRolePolicy"], reveal=True))
    assert (
        trust["Statement"][0]["Condition"]["StringEquals"]["oidc.example/id/X:sub"]
        == "system:serviceaccount:ns:api"
    )
    assert (
        next(r for r in run.resources if r.type == "aws:iam/rolePolicy:RolePolicy").inputs["name"]
        == "read-bucket"
    )
