"""Settings parsing and validation (pure: no Pulumi runtime involved)."""

from __future__ import annotations

from typing import Any

import pytest

from components.config.catalogue import APP_SERVICES
from components.config.credentials import KEYS as CREDENTIAL_KEYS
from components.config.parsing import parse_settings
from components.config.settings import PROFILES, SettingsError
from tools.offline import load_stack_config

DEV = {"webapp:domain": "app.example.com", "webapp:kubernetes": {"context": "kind-webapp"}}
RELEASE_IMAGES = {
    name: {"image": f"registry.example.com/webapp/{name}:1.0.0"} for name in APP_SERVICES
}
PRODUCTION = {
    **DEV,
    "webapp:routing": {"acmeEmail": "ops@example.com"},
    "webapp:namespaceDeleters": [{"kind": "Group", "name": "deprovisioners"}],
    "webapp:services": RELEASE_IMAGES,
    # cloud none has no secret store: production's real credentials come from config, as secrets.
    "webapp:credentials": {
        group: {key: f"real-{key}" for key in keys} for group, keys in CREDENTIAL_KEYS.items()
    },
}


def parse(overrides: dict[str, Any], stack: str = "dev", base: dict[str, Any] = DEV):
    return parse_settings(
        {**base, **overrides}, stack, secret_keys={"webapp:credentials"}, check_data_lock=False
    )


def problems(
    overrides: dict[str, Any], stack: str = "dev", base: dict[str, Any] = DEV
) -> list[str]:
    with pytest.raises(SettingsError) as info:
        parse(overrides, stack, base)
    return info.value.problems


# Each bad input must be reported naming the key, the bad value (where there is one) and what is allowed.
BAD_INPUTS = [
    (
        {"webapp:cloud": "gcp"},
        "webapp:cloud: 'gcp' is not allowed; expected one of none, aws, azure",
    ),
    (
        {"webapp:environment": "prod"},
        "webapp:environment: 'prod' is not allowed; expected one of dev, staging, production",
    ),
    (
        {"webapp:domain": "not a host"},
        "webapp:domain: 'not a host' is not allowed; expected a hostname",
    ),
    ({"webapp:domain": None}, "webapp:domain: missing"),
    (
        {"webapp:namespace": "Web_App"},
        "webapp:namespace: 'Web_App' is not allowed; expected a DNS-1123 label",
    ),
    (
        {"webapp:logLevel": "verbose"},
        "webapp:logLevel: 'verbose' is not allowed; expected one of Trace",
    ),
    ({"webapp:kubernetes": {}}, "webapp:kubernetes.context: missing"),
    (
        {"webapp:kubernetes": {"context": "kind", "clusterDnsIp": "10.96.0"}},
        "webapp:kubernetes.clusterDnsIp: '10.96.0' is not allowed; expected an IP address",
    ),
    (
        {"webapp:kubernetes": {"context": "kind", "apiServerCidr": "20.50.2.14"}},
        "webapp:kubernetes.apiServerCidr: '20.50.2.14' is not allowed; expected a CIDR range",
    ),
    (
        {"webapp:kubernetes": {"context": "kind", "apiServerCidr": "10.30.0.1/16"}},
        "webapp:kubernetes.apiServerCidr: '10.30.0.1/16' is not allowed; expected a CIDR range",
    ),
    (
        {"webapp:services": {"api": {"replicas": 0}}},
        "webapp:services.api.replicas: 0 is not allowed; expected a whole number from 1 to 100",
    ),
    (
        {"webapp:services": {"api": {"replicas": "three"}}},
        "webapp:services.api.replicas: 'three' is not allowed",
    ),
    (
        {"webapp:services": {"api": {"autoscaling": True, "minReplicas": 5, "maxReplicas": 3}}},
        "webapp:services.api.maxReplicas: 3 is not allowed; expected at least minReplicas (5)",
    ),
    (
        {"webapp:services": {"api": {"autoscaling": "yes"}}},
        "webapp:services.api.autoscaling: 'yes' is not allowed; expected true or false",
    ),
    (
        {"webapp:services": {"api": {"image": "Bad Image"}}},
        "webapp:services.api.image: 'Bad Image' is not allowed; expected an image reference",
    ),
    (
        {"webapp:services": {"api": {"resources": {"requests": {"cpu": "lots"}}}}},
        "webapp:services.api.resources.requests.cpu: 'lots' is not allowed; expected a CPU quantity",
    ),
    (
        {"webapp:services": {"api": {"resources": {"limits": {"memory": "1GB"}}}}},
        "webapp:services.api.resources.limits.memory: '1GB' is not allowed; expected a memory quantity",
    ),
    (
        {
            "webapp:services": {
                "api": {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}
            }
        },
        "webapp:services.api.resources.requests.cpu: '2' is not allowed; expected at most limits.cpu (1)",
    ),
    (
        {"webapp:services": {"api": {"env": {"1BAD": "x"}}}},
        "webapp:services.api.env.1BAD: '1BAD' is not allowed; expected an environment variable name",
    ),
    (
        {"webapp:services": {"api": {"env": {"GOOD": {"nested": 1}}}}},
        "webapp:services.api.env.GOOD: {nested: 1} is not allowed; expected a plain string",
    ),
    ({"webapp:services": {"gateway": {}}}, "webapp:services.gateway: unknown key"),
    (
        {"webapp:services": {"api": {"maxReplica": 4}}},
        "webapp:services.api.maxReplica: unknown key",
    ),
    ({"webapp:domian": "x"}, "webapp:domian: unknown key"),
    (
        {"webapp:scheduler": {"schedule": "every hour"}},
        "webapp:scheduler.schedule: 'every hour' is not allowed; expected a five-field cron expression",
    ),
    (
        {"webapp:database": {"mode": "external"}},
        "webapp:database.mode: 'external' is not allowed; expected one of in-cluster, managed",
    ),
    (
        {"webapp:database": {"mode": "managed"}},
        "webapp:database.mode: 'managed' is not allowed; expected in-cluster when webapp:cloud is none",
    ),
    (
        {"webapp:database": {"name": "Web-App"}},
        "webapp:database.name: 'Web-App' is not allowed; expected a PostgreSQL identifier",
    ),
    (
        {"webapp:database": {"backup": {"retentionDays": 0}}},
        "webapp:database.backup.retentionDays: 0 is not allowed; expected a whole number from 1 to 365",
    ),
    (
        {"webapp:database": {"storageSize": "lots"}},
        "webapp:database.storageSize: 'lots' is not allowed; expected a storage quantity",
    ),
    (
        {"webapp:nats": {"replicas": 2}},
        "webapp:nats.replicas: 2 is not allowed; expected 1 or an odd number",
    ),
    (
        {"webapp:nats": {"replicas": 9}},
        "webapp:nats.replicas: 9 is not allowed; expected a whole number from 1 to 7",
    ),
    (
        {"webapp:redis": {"storageClass": "Fast_SSD"}},
        "webapp:redis.storageClass: 'Fast_SSD' is not allowed; expected a StorageClass name",
    ),
    (
        {"webapp:routing": {"mode": "istio"}},
        "webapp:routing.mode: 'istio' is not allowed; expected one of gateway, ingress",
    ),
    ({"webapp:routing": {"issuer": "acme"}}, "webapp:routing.acmeEmail: missing"),
    (
        {"webapp:routing": {"acmeEmail": "not-an-email"}},
        "webapp:routing.acmeEmail: 'not-an-email' is not allowed; expected an e-mail address",
    ),
    (
        {"webapp:routing": {"rateLimitPerMinute": 0}},
        "webapp:routing.rateLimitPerMinute: 0 is not allowed",
    ),
    (
        {"webapp:addons": {"certManager": "maybe"}},
        "webapp:addons.certManager: 'maybe' is not allowed; expected one of install, present",
    ),
    (
        {"webapp:monitoring": {"retention": "30 days"}},
        "webapp:monitoring.retention: '30 days' is not allowed; expected a duration",
    ),
    (
        {"webapp:quota": {"pods": 3}},
        "webapp:quota.pods: 3 is below the pods needed at maximum scale",
    ),
    (
        {"webapp:quota": {"requestsCpu": "100m"}},
        "webapp:quota.requestsCpu: '100m' is below what the workloads need at maximum scale",
    ),
    (
        {"webapp:quota": {"limitsMemory": "1Gi"}},
        "webapp:quota.limitsMemory: '1Gi' is below what the workloads need at maximum scale",
    ),
    (
        {"webapp:namespaceDeleters": [{"kind": "Robot", "name": "x"}]},
        "webapp:namespaceDeleters[0].kind: 'Robot' is not allowed; expected one of User, Group, ServiceAccount",
    ),
    (
        {"webapp:namespaceDeleters": [{"kind": "ServiceAccount", "name": "x"}]},
        "webapp:namespaceDeleters[0].namespace: missing",
    ),
    (
        {"webapp:protect": "sometimes"},
        "webapp:protect: 'sometimes' is not allowed; expected true or false",
    ),
    (
        {"webapp:broadcasterWebhookUrl": "ftp://x"},
        # The URL is never repeated (it carries a token): what is wrong, and what is allowed.
        "webapp:broadcasterWebhookUrl: the URL (not shown) uses ftp scheme; expected an https:// "
        "URL on port 443",
    ),
    ({"webapp:cloud": "azure"}, "webapp:azure: missing; webapp:cloud is azure"),
    ({"webapp:cloud": "aws"}, "webapp:aws: missing; webapp:cloud is aws"),
    (
        {"webapp:monitoring": {"grafanaUrl": "http://grafana.example.com"}},
        "webapp:monitoring.grafanaUrl: 'http://grafana.example.com' is not allowed; expected an "
        "https URL of Grafana's root as people open it, without query or fragment",
    ),
    (
        {"webapp:monitoring": {"grafanaUrl": "/grafana"}},
        "webapp:monitoring.grafanaUrl: '/grafana' is not allowed; expected an https URL",
    ),
    (
        {"webapp:monitoring": {"grafanaUrl": "https://grafana.example.com/?orgId=1"}},
        "webapp:monitoring.grafanaUrl: 'https://grafana.example.com/?orgId=1' is not allowed",
    ),
    (
        {"webapp:monitoring": {"runbookUrl": "https://github.com/acme/webapp-infra"}},
        "webapp:monitoring.runbookUrl: 'https://github.com/acme/webapp-infra' is not allowed; "
        "expected an https URL of this repository's README.md",
    ),
    (
        {"webapp:monitoring": {"runbookUrl": "README.md"}},
        "webapp:monitoring.runbookUrl: 'README.md' is not allowed; expected an https URL",
    ),
    (
        {"webapp:namespace": "kube-system"},
        "webapp:namespace: 'kube-system' is not allowed (a Kubernetes system namespace); expected a namespace of this stack's own",
    ),
    (
        {"webapp:namespace": "default"},
        "webapp:namespace: 'default' is not allowed (a Kubernetes system namespace); expected a namespace of this stack's own",
    ),
    (
        {"webapp:namespace": "kube-public"},
        "webapp:namespace: 'kube-public' is not allowed (a Kubernetes system namespace); expected a namespace of this stack's own",
    ),
    (
        {"webapp:namespace": "kube-node-lease"},
        "webapp:namespace: 'kube-node-lease' is not allowed (a Kubernetes system namespace); expected a namespace of this stack's own",
    ),
    (
        {"webapp:namespace": "envoy-gateway-system"},
        "webapp:namespace: 'envoy-gateway-system' is not allowed (the namespace of an add-on this program installs); expected a namespace of this stack's own",
    ),
    (
        {"webapp:namespace": "cert-manager"},
        "webapp:namespace: 'cert-manager' is not allowed (the namespace of an add-on this program installs); expected a namespace of this stack's own",
    ),
    (
        {"webapp:namespace": "monitoring"},
        "webapp:namespace: 'monitoring' is not allowed (also webapp:monitoring.namespace); expected a namespace of this stack's own",
    ),
    (
        {"webapp:namespace": "istio-system"},
        "webapp:namespace: 'istio-system' is not allowed (also webapp:mesh.namespace); expected a namespace of this stack's own",
    ),
    (
        {"webapp:namespace": "webapp-dev", "webapp:monitoring": {"namespace": "webapp-dev"}},
        "webapp:namespace: 'webapp-dev' is not allowed (also webapp:monitoring.namespace)",
    ),
    (
        {"webapp:routing": {"mode": "ingress", "controllerNamespace": "webapp-dev"}},
        "webapp:namespace: 'webapp-dev' is not allowed (also webapp:routing.controllerNamespace)",
    ),
    (
        {"webapp:services": {"api": {"image": "registry.example.com/api"}}},
        "webapp:services.api.image: 'registry.example.com/api' is not allowed; expected an image reference pinned to a version",
    ),
    (
        {"webapp:services": {"frontend": {"image": "registry.example.com/frontend:latest"}}},
        "webapp:services.frontend.image: 'registry.example.com/frontend:latest' is not allowed; expected an image reference pinned to a version",
    ),
    (
        {"webapp:scheduler": {"image": "curlimages/curl"}},
        "webapp:scheduler.image: 'curlimages/curl' is not allowed; expected an image reference pinned to a version",
    ),
    (
        {"webapp:database": {"image": "postgres:latest"}},
        "webapp:database.image: 'postgres:latest' is not allowed; expected an image reference pinned to a version",
    ),
    (
        {"webapp:redis": {"image": "redis"}},
        "webapp:redis.image: 'redis' is not allowed; expected an image reference pinned to a version",
    ),
    (
        {"webapp:nats": {"image": "nats:latest"}},
        "webapp:nats.image: 'nats:latest' is not allowed; expected an image reference pinned to a version",
    ),
    (
        {"webapp:routing": {"sharedGateway": "webapp-dev"}},
        "webapp:routing.sharedGateway: 'webapp-dev' is not allowed (it is this stack's own "
        "namespace, so no stack would declare the Gateway); expected the namespace of the stack",
    ),
]


@pytest.mark.parametrize(
    "overrides, expected", BAD_INPUTS, ids=[e.split(":")[1][:40] for _, e in BAD_INPUTS]
)
def test_bad_input_is_reported_with_key_value_and_allowed(
    overrides: dict[str, Any], expected: str
) -> None:
    found = problems(overrides)
    assert any(expected in p for p in found), found


def test_there_are_at_least_25_bad_inputs() -> None:
    assert len(BAD_INPUTS) >= 25


def test_all_problems_are_reported_together() -> None:
    found = problems(
        {
            "webapp:cloud": "gcp",
            "webapp:logLevel": "loud",
            "webapp:services": {"api": {"replicas": 0}},
            "webapp:typo": 1,
        }
    )
    assert len(found) == 4, found
    assert "4 configuration problem(s)" in str(SettingsError(found))


def test_quota_counts_surge_pods_sidecars_and_jobs() -> None:
    # dev: 5 services x (1 + 1 surge) + nats + redis + postgres + backup job + scheduler job = 15 pods
    assert not any("quota.pods" in p for p in problems_or_none({"webapp:quota": {"pods": 15}}))
    assert any(
        p.startswith("webapp:quota.pods: 14 is below the pods needed at maximum scale (15)")
        for p in problems({"webapp:quota": {"pods": 14}})
    )


def test_quota_counts_a_release_beside_the_stable_pods_and_mesh_sidecars() -> None:
    """A canary at full weight (or a blue-green preview) doubles its service's pods, plus its
    release gate Job and its analysis' smoke Job; with the mesh on, every pod carries a sidecar
    (50m CPU requested)."""
    canary = {
        "webapp:services": {"api": {"delivery": "canary"}},
        "webapp:monitoring": {"enabled": True},
    }
    # dev: 15 pods as above, api's 1 + 1 surge becomes 2 + its gate Job + its smoke Job.
    assert not any(
        "quota.pods" in p for p in problems_or_none({**canary, "webapp:quota": {"pods": 17}})
    )
    assert any(
        p.startswith("webapp:quota.pods: 16 is below the pods needed at maximum scale (17)")
        for p in problems({**canary, "webapp:quota": {"pods": 16}})
    )
    # 15 pods' requests on dev sizes fit 2 CPUs without the mesh; 15 sidecars more do not.
    quota = {"webapp:quota": {"requestsCpu": "1500m"}}
    assert not any("requestsCpu" in p for p in problems_or_none(quota))
    assert any(
        p.startswith("webapp:quota.requestsCpu: '1500m' is below")
        for p in problems({**quota, "webapp:mesh": {"enabled": True}})
    )


def problems_or_none(overrides: dict[str, Any]) -> list[str]:
    try:
        parse(overrides)
    except SettingsError as error:
        return error.problems
    return []


def test_production_requires_deleters_and_pinned_images() -> None:
    base = {**PRODUCTION}
    base.pop("webapp:namespaceDeleters")
    found = problems(
        {"webapp:services": {"api": {"image": "registry.example.com/api:latest"}}},
        "production",
        base,
    )
    assert any(p.startswith("webapp:namespaceDeleters: missing") for p in found)
    assert any(
        p.startswith("webapp:services.api.image: 'registry.example.com/api:latest'")
        and "pinned" in p
        for p in found
    )


def test_unknown_stack_needs_an_environment() -> None:
    found = problems({}, stack="feature-x")
    assert any(p.startswith("webapp:environment: missing for stack 'feature-x'") for p in found)
    assert parse({"webapp:environment": "dev"}, stack="feature-x").namespace == "webapp-feature-x"


def test_dev_profile_defaults() -> None:
    s = parse({})
    assert s.environment == "dev" and s.cloud == "none" and s.log_level == "Debug"
    assert all(svc.replicas == 1 and svc.autoscaling is None for svc in s.services.values())
    assert s.nats.replicas == 1 and not s.nats.persistence
    assert s.namespace == "webapp-dev" and not s.protect
    assert s.routing.mode == "gateway" and s.routing.issuer == "selfsigned"
    assert s.database.backup.schedule == "0 2 * * *" and s.database.backup.retention_days == 7


def test_production_profile_defaults() -> None:
    s = parse({}, "production", PRODUCTION)
    assert s.log_level == "Warning" and s.protect
    for name, svc in s.services.items():
        assert svc.autoscaling is not None
        assert svc.autoscaling.min_replicas == 3
        assert svc.autoscaling.max_replicas == (15 if name == "api" else 10)
    assert s.nats.replicas == 3 and s.nats.persistence and s.nats.storage_size == "10Gi"
    assert s.routing.issuer == "acme"


def test_staging_profile_defaults() -> None:
    s = parse({}, "staging", {**DEV, "webapp:routing": {"acmeEmail": "ops@example.com"}})
    assert s.log_level == "Information"
    assert all(svc.replicas == 2 and svc.autoscaling is None for svc in s.services.values())


def test_cli_strings_are_coerced() -> None:
    # `pulumi config set webapp:protect true` stores the string "true".
    s = parse({"webapp:protect": "true", "webapp:services": {"api": {"replicas": "2"}}})
    assert s.protect is True and s.services["api"].replicas == 2


def test_service_env_is_sorted_and_stringified() -> None:
    s = parse({"webapp:services": {"api": {"env": {"B": 2, "A": True}}}})
    assert s.services["api"].env == (("A", "true"), ("B", "2"))


def test_settings_are_frozen() -> None:
    s = parse({})
    with pytest.raises(AttributeError):
        s.domain = "other.example.com"  # type: ignore[misc]


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_shipped_stack_files_parse(stack: str) -> None:
    s = parse_settings(load_stack_config(stack), stack)
    assert s.environment == stack
    assert s.cloud == {"dev": "none", "staging": "azure", "production": "aws"}[stack]
    # Every stack file carries the settings of both clouds, so switching cloud is one key.
    assert s.aws is not None and s.azure is not None


def test_profiles_cover_every_environment() -> None:
    assert set(PROFILES) == {"dev", "staging", "production"}


def test_the_image_pull_policy_is_one_choice_per_stack() -> None:
    s = parse({"webapp:imagePullPolicy": "Always"})
    assert s.image_pull_policy == "Always"
    assert {svc.image_pull_policy for svc in s.services.values()} == {"Always"}
    assert s.nats.image_pull_policy == s.redis.image_pull_policy == "Always"
    assert s.database.image_pull_policy == s.scheduler.image_pull_policy == "Always"
    assert parse({}).nats.image_pull_policy == "IfNotPresent"
    (found,) = problems({"webapp:imagePullPolicy": "Sometimes"})
    assert found.startswith("webapp:imagePullPolicy: 'Sometimes' is not allowed; expected one of")


def test_alert_links_default_to_the_domains_grafana_and_take_an_explicit_one() -> None:
    settings = parse({})
    assert settings.monitoring.grafana_url == f"https://grafana.{DEV['webapp:domain']}"
    assert settings.monitoring.runbook_url.startswith("https://")
    chosen = parse(
        {
            "webapp:monitoring": {
                "grafanaUrl": "https://ops.example.com/grafana/",
                "runbookUrl": "https://github.com/acme/webapp-infra/blob/main/README.md",
            }
        }
    ).monitoring
    assert chosen.grafana_url == "https://ops.example.com/grafana"  # no doubled slash in links
    assert chosen.runbook_url == "https://github.com/acme/webapp-infra/blob/main/README.md"
