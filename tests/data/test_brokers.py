"""RabbitMQ and Elasticsearch: off by default; when on, persistent, hardened, their credentials in
the stack's store under the naming contract on every cloud, reachable by their clients only, and
never deleted with their data by `pulumi up` or `destroy`. (Every object is also validated against
the operators' CRDs at their pinned versions by the `optional-services` variant of every suite run.)"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from components.config.parsing import parse_settings
from components.config.settings import SettingsError
from components.platform.addons import ECK, RABBITMQ_OPERATOR_MANIFEST
from components.secrets import catalogue as cat
from tests.config.test_mistakes import DEV, problems
from tests.support import STACKS, produced_secrets
from tools.golden import VARIANTS, variant_overrides
from tools.offline import Registered, StackRun

OPTIONAL = "optional-services"
BROKER_TYPES = (
    "kubernetes:rabbitmq.com/v1beta1:RabbitmqCluster",
    "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch",
)


def brokers(run: StackRun) -> list[Registered]:
    return [r for r in run.resources if r.type in BROKER_TYPES]


@pytest.mark.parametrize(
    "stack,variant", [(s, v) for s in STACKS for v in VARIANTS if v != OPTIONAL]
)
def test_off_by_default(stack: str, variant: str, stack_run: Callable[..., StackRun]) -> None:
    run = stack_run(stack, variant_overrides(stack, variant))
    assert not brokers(run)
    names = {o["metadata"]["name"] for o in run.kubernetes_objects()}
    assert not {cat.RABBITMQ.name, cat.ELASTICSEARCH.name} & names
    assert not any(r.type == "kubernetes:yaml/v2:ConfigFile" for r in run.resources)


@pytest.fixture(params=STACKS)
def on(request: pytest.FixtureRequest, stack_run: Callable[..., StackRun]) -> StackRun:
    stack: str = request.param
    return stack_run(stack, variant_overrides(stack, OPTIONAL))


def test_rabbitmq_is_persistent_pinned_and_reads_its_user_from_the_store(on: StackRun) -> None:
    spec = on.find("RabbitmqCluster", "rabbitmq")["spec"]
    assert spec["replicas"] == 3
    assert spec["image"] == "rabbitmq:4.2.6-management"
    assert spec["persistence"] == {"storage": "10Gi"}
    assert spec["resources"]["limits"] and spec["resources"]["requests"]
    assert spec["secretBackend"] == {"externalSecret": {"name": "webapp-rabbitmq"}}
    labels = spec["override"]["statefulSet"]["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/instance"] == on.stack
    assert labels["sidecar.istio.io/inject"] == "false"


def test_elasticsearch_is_persistent_restricted_and_keeps_its_volumes(on: StackRun) -> None:
    spec = on.find("Elasticsearch", "elasticsearch")["spec"]
    assert spec["version"] == "9.1.0"
    assert spec["auth"] == {"fileRealm": [{"secretName": "webapp-elasticsearch"}]}
    assert spec["volumeClaimDeletePolicy"] == "DeleteOnScaledownOnly"
    (node_set,) = spec["nodeSets"]
    assert node_set["config"] == {"node.store.allow_mmap": False}
    claim = node_set["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "elasticsearch-data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    (container,) = node_set["podTemplate"]["spec"]["containers"]
    assert container["name"] == "elasticsearch" and container["resources"]["limits"]


def test_neither_is_deleted_with_its_data(on: StackRun) -> None:
    for record in brokers(on):
        assert record.retain_on_delete, record.name
        assert record.protect == (on.stack == "production"), record.name


def test_each_waits_for_its_operator_and_its_secret(on: StackRun) -> None:
    by_name = {r.name: r for r in on.resources}
    operators = {
        "webapp-rabbitmq-cluster": "webapp-addons-rabbitmq-operator",
        "webapp-elasticsearch-cluster": "webapp-addons-eck",
    }
    for record in brokers(on):
        assert by_name[operators[record.name]].urn in record.depends_on, record.name
        producers = {by_name[name].urn for name in by_name if _produces(by_name[name], record)}
        assert producers & set(record.depends_on), record.name


def _produces(candidate: Registered, broker: Registered) -> bool:
    """The Secret, ExternalSecret or sync pod its Secret comes from."""
    secret = "webapp-rabbitmq" if "rabbitmq" in broker.name else "webapp-elasticsearch"
    name = (candidate.inputs.get("metadata") or {}).get("name")
    return (name == secret and candidate.type.endswith(("v1:Secret", "v1:ExternalSecret"))) or (
        candidate.type == "kubernetes:apps/v1:Deployment" and name == "secret-sync"
    )


def test_their_secrets_carry_what_the_operators_and_clients_read(on: StackRun) -> None:
    produced = produced_secrets(on.kubernetes_objects())
    namespace = f"webapp-{on.stack}"
    rabbitmq_keys, _ = produced[(namespace, "webapp-rabbitmq")]
    assert {"username", "password", "default_user.conf", "url"} <= rabbitmq_keys
    elastic_keys, _ = produced[(namespace, "webapp-elasticsearch")]
    assert {"username", "password", "roles", "url"} <= elastic_keys
    env = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in on.find("Deployment", "broadcaster")["spec"]["template"]["spec"]["containers"][0][
            "env"
        ]
    }
    assert env["RABBITMQ_URL"] == {"name": "webapp-rabbitmq", "key": "url"}
    assert "ELASTICSEARCH_URL" not in env  # broadcaster is not an Elasticsearch client


def test_only_their_clients_reach_them(on: StackRun) -> None:
    def ingress(name: str) -> set[tuple[str, int]]:
        policy = on.find("NetworkPolicy", name)["spec"]
        found = set()
        for rule in policy["ingress"]:
            for peer in rule["from"]:
                source = (
                    peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                    if "podSelector" in peer
                    else peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                )
                found |= {(source, port["port"]) for port in rule["ports"]}
        return found

    assert ingress("rabbitmq") == {
        ("api", 5672),
        ("broadcaster", 5672),
        ("rabbitmq", 4369),
        ("rabbitmq", 25672),
    }
    assert ingress("elasticsearch") == {
        ("api", 9200),
        ("elasticsearch", 9300),
        ("elastic-system", 9200),
    }
    # And the clients may connect out.
    api = on.find("NetworkPolicy", "api")["spec"]["egress"]
    targets = {
        (
            rule["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
            rule["ports"][0]["port"],
        )
        for rule in api
        if "podSelector" in rule["to"][0]
    }
    assert {("rabbitmq", 5672), ("elasticsearch", 9200)} <= targets


def test_the_operators_are_pinned(on: StackRun) -> None:
    (manifest,) = [r for r in on.resources if r.type == "kubernetes:yaml/v2:ConfigFile"]
    assert manifest.inputs["file"] == RABBITMQ_OPERATOR_MANIFEST
    assert "/download/v2.22.3/" in RABBITMQ_OPERATOR_MANIFEST
    (eck,) = [
        r
        for r in on.resources
        if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"] == "eck-operator"
    ]
    assert eck.inputs["version"] == ECK["version"] == "3.5.0"


@pytest.mark.parametrize(
    "section, expected",
    [
        ({"enabled": True}, "webapp:rabbitmq.clients: [] is not allowed"),
        ({"enabled": True, "clients": ["api"], "replicas": 2}, "webapp:rabbitmq.replicas: 2"),
        ({"enabled": True, "clients": ["billing"]}, "webapp:rabbitmq.clients[0]: 'billing'"),
    ],
)
def test_mistakes_name_the_key(section: dict[str, Any], expected: str) -> None:
    found = problems({**DEV, "webapp:rabbitmq": section})
    assert any(p.startswith(expected) for p in found), found


def test_an_elasticsearch_version_eck_cannot_run_is_refused() -> None:
    with pytest.raises(SettingsError) as info:
        parse_settings(
            {
                **DEV,
                "webapp:elasticsearch": {"enabled": True, "clients": ["api"], "version": "7.17.0"},
            },
            "dev",
            check_data_lock=False,
        )
    assert any("webapp:elasticsearch.version: '7.17.0'" in p for p in info.value.problems)


def test_the_rabbitmq_operator_is_fenced_and_follows_cert_manager(on: StackRun) -> None:
    """Its manifest leaves the operator's pods open and gets the webhook's certificate from
    cert-manager: a NetworkPolicy admits the API server (webhook 9443) and Prometheus (8080) only,
    and the manifest is applied once cert-manager runs."""
    (manifest,) = [r for r in on.resources if r.type == "kubernetes:yaml/v2:ConfigFile"]
    cert_manager = next(r for r in on.resources if r.name == "webapp-addons-cert-manager")
    assert cert_manager.urn in manifest.depends_on
    policy = on.find("NetworkPolicy", "rabbitmq-cluster-operator", "rabbitmq-system")["spec"]
    assert policy["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/name": "rabbitmq-cluster-operator"}
    }
    assert [p["port"] for p in policy["ingress"][0]["ports"]] == [9443, 8080]
    assert [p["port"] for p in policy["egress"][0]["ports"]] == [443, 6443]
    fence = next(r for r in on.resources if r.name == "webapp-addons-rabbitmq-operator-netpol")
    assert manifest.urn in fence.depends_on


def test_a_storage_class_and_version_reach_the_clusters(stack_run: Callable[..., StackRun]) -> None:
    run = stack_run(
        "dev",
        {
            "webapp:rabbitmq": {"enabled": True, "clients": ["api"], "storageClass": "fast"},
            "webapp:elasticsearch": {
                "enabled": True,
                "clients": ["api"],
                "storageClass": "fast",
                "version": "8.19.0",
            },
        },
    )
    assert run.find("RabbitmqCluster", "rabbitmq")["spec"]["persistence"] == {
        "storage": "10Gi",
        "storageClassName": "fast",
    }
    spec = run.find("Elasticsearch", "elasticsearch")["spec"]
    assert spec["version"] == "8.19.0"
    assert spec["nodeSets"][0]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast"


def test_present_operators_are_not_installed(stack_run: Callable[..., StackRun]) -> None:
    overrides = {
        **variant_overrides("dev", OPTIONAL),
        "webapp:addons": {"rabbitmqOperator": "present", "eck": "present"},
    }
    run = stack_run("dev", overrides)
    assert not any(r.type == "kubernetes:yaml/v2:ConfigFile" for r in run.resources)
    assert not any(
        r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"] == "eck-operator"
        for r in run.resources
    )
    assert len(brokers(run)) == 2
