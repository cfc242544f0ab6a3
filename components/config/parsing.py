"""Parse the stack's `webapp:*` config into `Settings` (pure; no Pulumi import).

`parse_settings(raw, stack)` takes the decoded config mapping
(`{"webapp:cloud": "none", "webapp:services": {...}}`) and returns `Settings`, or raises
`SettingsError` listing *every* problem, each naming the key, the bad value and what is allowed.
`__main__.py` calls it before declaring any resource, so bad config declares nothing.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import urllib.parse
from typing import Any, Collection, Mapping, Optional

from components.config import catalogue
from components.config import quantities as q
from components.config.aws import parse_aws
from components.config.azure import parse_azure
from components.config.capacity import check_capacity, check_federated_credentials
from components.config.credentials import parse_credentials
from components.config.lock import LOCK_KEY, check_lock
from components.config.metrics import PRESETS, parse_metrics
from components.config.reader import (
    CPU,
    CRON,
    DNS_LABEL,
    HOSTNAME,
    IDENTIFIER,
    IMAGE,
    MEMORY,
    STORAGE,
    Reader,
    Rule,
)
from components.config.rotation import parse_rotation
from components.config.routing import parse_routing
from components.config.services import parse_resources, parse_services, release_images
from components.config.settings import (
    ADDON_MODES,
    CLOUDS,
    DATA_RESOURCES,
    DATA_RESOURCES_PRODUCTION,
    DATABASE_MODES,
    ELASTICSEARCH_RESOURCES,
    ELASTICSEARCH_VERSION,
    ENVIRONMENTS,
    LOG_LEVELS,
    MTLS_MODES,
    NAMESPACE,
    PROFILES,
    PULL_POLICIES,
    RABBITMQ_IMAGE,
    RECEIVERS,
    AddonSettings,
    BackupSettings,
    BrokerSettings,
    Cloud,
    DatabaseMode,
    DatabaseSettings,
    DataServiceSettings,
    Environment,
    KubernetesSettings,
    MeshSettings,
    MonitoringSettings,
    Profile,
    QuotaSettings,
    Receiver,
    Resources,
    SchedulerSettings,
    Settings,
    SettingsError,
    Subject,
)
from components.config.subjects import parse_subjects


def _storage_class(reader: Reader) -> Optional[str]:
    return reader.opt_text(
        "storageClass",
        rule=Rule(q.is_dns_label, "a StorageClass name (DNS-1123 label)", q.dns_label_problem),
    )


def _data_service(
    reader: Reader,
    image: str,
    replicas: int,
    persistence: bool,
    size: str,
    resources: Resources,
    max_replicas: int,
    why: str = "",
) -> DataServiceSettings:
    settings = DataServiceSettings(
        image=reader.text("image", image, rule=IMAGE),
        replicas=reader.integer("replicas", replicas, minimum=1, maximum=max_replicas, why=why),
        persistence=reader.flag("persistence", persistence),
        storage_size=reader.text("storageSize", size, rule=STORAGE),
        storage_class=_storage_class(reader),
        resources=parse_resources(reader.section("resources"), resources),
    )
    reader.finish()
    return settings


# Fixed sizes of the pods config does not size (kept equal to what the components declare).
WEBHOOK_ALLOWED = (
    "an https:// URL on port 443 (or no port) to a public hostname or IP, the only destination "
    "the broadcaster's NetworkPolicy lets it reach (TCP 443 outside the private ranges)"
)
# Names that resolve inside the cluster or the private network, never to a public address.
PRIVATE_SUFFIXES = (".local", ".internal", ".svc", ".cluster.local", ".localdomain", ".lan")


def webhook_url_problem(url: str) -> Optional[str]:
    """What is wrong with a broadcaster webhook URL, or None.

    The config is refused rather than the policy opened: a NetworkPolicy matches addresses, not
    names, so "exactly the configured host" cannot be written for a hostname, and opening a private
    range or another port would let the broadcaster reach in-cluster services the policy now keeps
    it from. The message never repeats the URL (it carries a token)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a URL"
    if parts.scheme != "https":
        return f"uses {parts.scheme or 'no'} scheme"
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return "has no host"
    if port not in (None, 443):
        return f"uses port {port}"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if "." not in host or host == "localhost" or host.endswith(PRIVATE_SUFFIXES):
            return f"names host {host!r}, which resolves inside the cluster or private network"
        return None
    if not address.is_global:
        return f"names the non-public address {host}"
    return None


KNOWN_TOP_LEVEL = (
    LOCK_KEY,
    "cloud",
    "environment",
    "namespace",
    "domain",
    "logLevel",
    "kubernetes",
    "services",
    "scheduler",
    "database",
    "redis",
    "nats",
    "routing",
    "addons",
    "monitoring",
    "quota",
    "namespaceDeleters",
    "namespaceProvided",
    "protect",
    "smtpHost",
    "broadcasterWebhookUrl",
    "requireReleaseImages",
    "requireExternalCredentials",
    "credentials",
    "imagePullPolicy",
    "secretRotation",
    "mesh",
    "rabbitmq",
    "elasticsearch",
    "metrics",
)
PROMETHEUS_URL = Rule(
    lambda value: bool(re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[^\s]*)?", value)),
    "an http(s) URL of a Prometheus, such as http://prometheus.monitoring.svc:9090",
)
HTTPS_URL = r"https://[A-Za-z0-9.-]+(:\d{1,5})?(/[^\s?#]*)?"
GRAFANA_URL = Rule(
    lambda value: bool(re.fullmatch(HTTPS_URL, value)),
    "an https URL of Grafana's root as people open it, without query or fragment, such as "
    "https://grafana.example.com",
)
RUNBOOK_URL = Rule(
    lambda value: bool(re.fullmatch(HTTPS_URL, value)) and value.endswith(".md"),
    "an https URL of this repository's README.md, without query or fragment, such as "
    "https://github.com/<org>/<repo>/blob/main/README.md",
)

# --- one function per section, in the order the parser reads them ------------------------------


def _environment(reader: Reader, stack: str) -> Environment:
    """`webapp:environment`; a stack named like an environment defaults to it."""
    default = next((environment for environment in ENVIRONMENTS if environment == stack), None)
    environment = reader.opt_choice("environment", ENVIRONMENTS) or default
    if environment is None:
        if not reader.has("environment"):
            reader.report(
                f"webapp:environment: missing for stack {stack!r}; set one of "
                f"{', '.join(ENVIRONMENTS)} (it picks the sizing profile)"
            )
        return "dev"
    return environment


def _kubernetes(reader: Reader) -> KubernetesSettings:
    kubernetes = KubernetesSettings(
        context=reader.opt_text("context") or "",
        kubeconfig=reader.opt_text("kubeconfig"),
        cluster_dns_ip=reader.text(
            "clusterDnsIp", "10.96.0.10", rule=Rule(q.is_ip, "an IP address", q.ip_problem)
        ),
        api_server_cidr=reader.opt_text(
            "apiServerCidr",
            rule=Rule(
                q.is_cidr,
                "a CIDR range with its host bits zero, such as 20.50.2.14/32 (one address) or "
                "10.30.0.0/16",
            ),
        ),
    )
    if not kubernetes.context and not reader.has("context"):
        reader.report(
            "webapp:kubernetes.context: missing; name the kubeconfig context to deploy to "
            "(the ambient context is never used)"
        )
    reader.finish()
    return kubernetes


def _scheduler(reader: Reader) -> SchedulerSettings:
    scheduler = SchedulerSettings(
        enabled=reader.flag("enabled", True),
        image=reader.text("image", "curlimages/curl:8.17.0", rule=IMAGE),
        schedule=reader.text("schedule", "0 * * * *", rule=CRON),
        resources=parse_resources(
            reader.section("resources"),
            Resources(
                cpu_request="10m", memory_request="16Mi", cpu_limit="100m", memory_limit="64Mi"
            ),
        ),
    )
    reader.finish()
    return scheduler


def _database(reader: Reader, cloud: Cloud, profile: Profile) -> DatabaseSettings:
    backup_reader = reader.section("backup")
    backup = BackupSettings(
        schedule=backup_reader.text("schedule", "0 2 * * *", rule=CRON),
        retention_days=backup_reader.integer("retentionDays", 7, minimum=1, maximum=365),
        storage_size=backup_reader.text("storageSize", "10Gi", rule=STORAGE),
    )
    backup_reader.finish()
    default_mode: DatabaseMode = "in-cluster" if cloud == "none" else "managed"
    database = DatabaseSettings(
        mode=reader.choice("mode", default_mode, DATABASE_MODES),
        name=reader.text("name", "webapp", rule=IDENTIFIER),
        username=reader.text("username", "webapp", rule=IDENTIFIER),
        image=reader.text("image", "postgres:16.10-alpine", rule=IMAGE),
        storage_size=reader.text("storageSize", profile.database_storage, rule=STORAGE),
        storage_class=_storage_class(reader),
        resources=parse_resources(reader.section("resources"), profile.database_resources),
        backup=backup,
    )
    if database.mode == "managed" and cloud == "none":
        reader.problem(
            "mode",
            "managed",
            "in-cluster when webapp:cloud is none (a managed database needs aws or azure)",
        )
    reader.finish()
    return database


def _redis(reader: Reader, environment: Environment, profile: Profile) -> DataServiceSettings:
    sizes = DATA_RESOURCES_PRODUCTION if environment == "production" else DATA_RESOURCES
    single = "Redis runs as one instance here; use a managed Redis for replicas"
    return _data_service(
        reader, "redis:7.4.6-alpine", 1, profile.redis_persistence, "5Gi", sizes, 1, single
    )


def _nats(reader: Reader, environment: Environment, profile: Profile) -> DataServiceSettings:
    sizes = DATA_RESOURCES_PRODUCTION if environment == "production" else DATA_RESOURCES
    nats = _data_service(
        reader,
        "nats:2.11.8-alpine",
        profile.nats_replicas,
        profile.nats_persistence,
        "10Gi",
        sizes,
        7,
    )
    if nats.replicas == 2:
        reader.report(
            "webapp:nats.replicas: 2 is not allowed; expected 1 or an odd number of at least 3 "
            "(a two-node NATS cluster cannot keep a JetStream quorum)"
        )
    return nats


def _addons(reader: Reader) -> AddonSettings:
    addons = AddonSettings(
        cert_manager=reader.choice("certManager", "install", ADDON_MODES),
        gateway=reader.choice("gateway", "install", ADDON_MODES),
        monitoring_stack=reader.choice("monitoringStack", "install", ADDON_MODES),
        external_secrets=reader.choice("externalSecrets", "install", ADDON_MODES),
        reloader=reader.choice("reloader", "install", ADDON_MODES),
        argo_rollouts=reader.choice("argoRollouts", "install", ADDON_MODES),
        rabbitmq_operator=reader.choice("rabbitmqOperator", "install", ADDON_MODES),
        eck=reader.choice("eck", "install", ADDON_MODES),
        keda=reader.choice("keda", "install", ADDON_MODES),
        istio=reader.choice("istio", "install", ADDON_MODES),
    )
    reader.finish()
    return addons


def _monitoring(reader: Reader, profile: Profile, domain: str) -> MonitoringSettings:
    # Absolute links: an alert is read in Slack or PagerDuty, where a Grafana path means nothing.
    # This program does not publish Grafana, so the default is a convention to follow (or
    # override), never a route it creates.
    grafana_url = reader.text("grafanaUrl", f"https://grafana.{domain}", rule=GRAFANA_URL)
    monitoring = MonitoringSettings(
        enabled=reader.flag("enabled", profile.monitoring),
        namespace=reader.text("namespace", "monitoring", rule=DNS_LABEL),
        retention=reader.text(
            "retention", "30d", rule=Rule(q.is_duration, "a duration such as 30d")
        ),
        storage_size=reader.text("storageSize", "50Gi", rule=STORAGE),
        storage_class=_storage_class(reader),
        prometheus_url=reader.opt_text("prometheusUrl", rule=PROMETHEUS_URL),
        alerting=_alerting(reader.section("alerting")),
        grafana_url=grafana_url.rstrip("/"),
        runbook_url=reader.text("runbookUrl", MonitoringSettings.runbook_url, rule=RUNBOOK_URL),
    )
    reader.finish()
    return monitoring


def _alerting(reader: Reader) -> tuple[tuple[str, Receiver], ...]:
    found = tuple(
        (severity, reader.choice(severity, "none", RECEIVERS))
        for severity in ("critical", "warning", "info")
    )
    reader.finish()
    return found


ES_VERSION = Rule(
    lambda value: bool(re.fullmatch(r"(8|9)\.\d+\.\d+", value)),
    "an Elasticsearch version ECK 3.5 runs, such as 9.1.0 (8.x or 9.x)",
)


def _broker(reader: Reader, version: str, rule: Rule, resources: Resources) -> BrokerSettings:
    """`webapp:rabbitmq` / `webapp:elasticsearch`: one or three nodes on volumes, the callers."""
    enabled = reader.flag("enabled", False)
    replicas = reader.integer("replicas", 1, minimum=1, maximum=7)
    if replicas % 2 == 0:
        reader.problem("replicas", replicas, "an odd count (1, 3, 5, 7): a quorum needs a majority")
    clients = []
    for index, client in enumerate(reader.sequence("clients")):
        if client not in catalogue.APP_SERVICES:
            reader.problem(
                f"clients[{index}]",
                client,
                f"a catalogued service ({', '.join(catalogue.APP_SERVICES)})",
            )
        else:
            clients.append(client)
    broker = BrokerSettings(
        enabled=enabled,
        replicas=replicas,
        version=reader.text("version", version, rule=rule),
        storage_size=reader.text("storageSize", "10Gi", rule=STORAGE),
        storage_class=_storage_class(reader),
        clients=tuple(sorted(set(clients))),
        resources=parse_resources(reader.section("resources"), resources),
    )
    if enabled and not broker.clients:
        reader.problem("clients", [], "at least one catalogued service that connects to it")
    reader.finish()
    return broker


def _mesh(reader: Reader) -> MeshSettings:
    mesh = MeshSettings(
        enabled=reader.flag("enabled", False),
        namespace=reader.text("namespace", "istio-system", rule=DNS_LABEL),
        mtls=reader.choice("mtls", "strict", MTLS_MODES),
    )
    reader.finish()
    return mesh


def check_delivery(settings: Settings, problems: list[str]) -> None:
    """What progressive delivery, KEDA and the mesh need from the rest of the stack."""
    queries = [
        f"webapp:services.{name}.delivery ({service.delivery}: its analysis)"
        for name, service in settings.services.items()
        if service.progressive
    ] + [
        f"webapp:services.{name}.autoscaler (keda: its load trigger)"
        for name, service in settings.services.items()
        if service.autoscaling and service.autoscaling.load_threshold is not None
    ]
    if queries and settings.prometheus_url is None:
        problems.append(
            f"{'; '.join(queries)} query Prometheus, and this stack has none: turn "
            "webapp:monitoring.enabled on (the program installs kube-prometheus-stack), or set "
            "webapp:monitoring.prometheusUrl to the Prometheus that scrapes the namespace"
        )
    for name, service in settings.services.items():
        trigger = catalogue.LOAD_TRIGGERS.get(name)
        scaling = service.autoscaling
        if not (trigger and trigger.pods and scaling and scaling.load_threshold is not None):
            continue
        if settings.metrics.published(name) is None and not settings.mesh.enabled:
            problems.append(
                f"webapp:services.{name}.autoscaler: keda scales {name} on its requests, and "
                f"nothing counts them: webapp:metrics.requests.{name} is none and "
                "webapp:mesh.enabled is off; name the metrics its image publishes "
                f"({', '.join(PRESETS)}), turn the mesh on, or use autoscaler hpa"
            )
    mesh = settings.mesh
    if mesh.enabled and settings.routing.mode != "gateway":
        problems.append(
            f"webapp:mesh.enabled: true needs webapp:routing.mode gateway, not "
            f"{settings.routing.mode}: with mTLS STRICT only proxies in the mesh reach the pods, "
            "and the Envoy Gateway proxies join it; an ingress controller outside it would be "
            "refused"
        )
    if mesh.enabled and settings.routing.shared_gateway:
        problems.append(
            "webapp:mesh.enabled: true on a stack that uses another stack's Gateway "
            f"(webapp:routing.sharedGateway {settings.routing.shared_gateway}): that Gateway's "
            "proxies join the mesh only with the host stack's mesh; turn it on there"
        )


RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
"""Kubernetes' own namespaces: a default-deny NetworkPolicy, a quota and the `restricted` Pod
Security label on one of them break the cluster (CoreDNS, kube-proxy, the CNI run there)."""
ADDON_NAMESPACES = (
    "cert-manager",
    "external-secrets",
    "reloader",
    "argo-rollouts",
    "keda",
    "envoy-gateway-system",
    "rabbitmq-system",
    "elastic-system",
)
"""Where the add-ons this program installs run (`components/platform/addons.py`: each release in
the namespace named after it; `tests/config/test_namespaces.py` keeps the two in step)."""


def namespace_problem(namespace: str, others: Mapping[str, str]) -> Optional[str]:
    """Why the app namespace may not be `namespace`, or None. `others` maps the config key of
    every other namespace this stack uses (monitoring, the mesh, the ingress controller) to its
    value. Pure, so the tests call it directly."""
    if namespace in RESERVED_NAMESPACES:
        return "a Kubernetes system namespace"
    if namespace in ADDON_NAMESPACES:
        return "the namespace of an add-on this program installs"
    for key, other in others.items():
        if other == namespace:
            return f"also {key}"
    return None


def check_namespaces(settings: Settings, problems: list[str]) -> None:
    """The app namespace gets a default-deny NetworkPolicy, a quota and the `restricted` Pod
    Security label, and is deleted with the stack: it must be this stack's alone."""
    others = {
        "webapp:monitoring.namespace": settings.monitoring.namespace,
        "webapp:mesh.namespace": settings.mesh.namespace,
        "webapp:routing.controllerNamespace": settings.routing.controller_namespace,
    }
    why = namespace_problem(settings.namespace, others)
    if why:
        problems.append(
            f"webapp:namespace: {settings.namespace!r} is not allowed ({why}); expected a "
            f"namespace of this stack's own, such as webapp-{settings.stack}, that is none of "
            f"{', '.join(RESERVED_NAMESPACES + ADDON_NAMESPACES)} nor another namespace this "
            "stack uses"
        )
    shared = settings.routing.shared_gateway
    if shared is not None and shared == settings.namespace:
        problems.append(
            f"webapp:routing.sharedGateway: {shared!r} is not allowed (it is this stack's own "
            "namespace, so no stack would declare the Gateway); expected the namespace of the "
            "stack that hosts the branches' Gateway, such as webapp-staging"
        )


DOCUMENTATION_DOMAINS = ("example.com", "example.net", "example.org", "example")
"""Names reserved for documentation (RFC 2606): the shipped stack files' placeholders."""


def _placeholder_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return any(host == name or host.endswith(f".{name}") for name in DOCUMENTATION_DOMAINS)


def check_placeholders(settings: Settings, problems: list[str]) -> None:
    """Production runs for real only with its own hostname, ACME contact, images and runbook
    address: the shipped file's `example.com` ones would publish nothing (a certificate for a
    domain nobody owns, an image pull that fails) after creating the database, and the alerts
    would link nowhere."""
    if settings.environment != "production":
        return
    why = "is a placeholder (example.com and its kin are reserved for documentation, RFC 2606)"
    if _placeholder_host(settings.domain):
        problems.append(
            f"webapp:domain: {settings.domain!r} {why}; production needs its real hostname "
            "before its first `pulumi up`"
        )
    email = settings.routing.acme_email
    if email and _placeholder_host(email.rpartition("@")[2]):
        problems.append(
            f"webapp:routing.acmeEmail: {email!r} {why}; set an address that receives "
            "Let's Encrypt's expiry notices"
        )
    runbooks = settings.monitoring.runbook_url
    if settings.monitoring.enabled and runbooks == MonitoringSettings.runbook_url:
        problems.append(
            f"webapp:monitoring.runbookUrl: {runbooks!r} is the shipped placeholder; set this "
            "repository's README.md address so that every alert's runbook link opens"
        )
    images = {f"services.{name}.image": svc.image for name, svc in settings.services.items()}
    if settings.scheduler.enabled:
        images["scheduler.image"] = settings.scheduler.image
    for key, image in sorted(images.items()):
        registry = image.split("/", 1)[0] if "/" in image else ""
        if registry and _placeholder_host(registry.split(":", 1)[0]):
            problems.append(
                f"webapp:{key}: {image!r} {why}; set the release image from your registry"
            )


def check_alerting(settings: Settings, problems: list[str]) -> None:
    """A receiver needs a real endpoint in `webapp:credentials.alerting` (with monitoring off
    the receivers are kept and unused: turning monitoring off is one key)."""
    wanted = [severity for severity, receiver in settings.monitoring.alerting if receiver != "none"]
    if not wanted:
        return
    keys = ", ".join(f"webapp:monitoring.alerting.{severity}" for severity in wanted)
    if settings.credentials.alerting.source == "generated":
        problems.append(
            f"{keys}: the receivers' endpoints come from webapp:credentials.alerting, which is "
            "generated placeholders; set it to store (operators write the Slack or webhook URL "
            "or PagerDuty routing key of each severity into the store) or to Pulumi secrets "
            "(pulumi config set --secret --path 'webapp:credentials.alerting.critical' <value>)"
        )


def _quota(reader: Reader, profile: Profile) -> QuotaSettings:
    default = profile.quota
    quota = QuotaSettings(
        requests_cpu=reader.text("requestsCpu", default.requests_cpu, rule=CPU),
        requests_memory=reader.text("requestsMemory", default.requests_memory, rule=MEMORY),
        limits_cpu=reader.text("limitsCpu", default.limits_cpu, rule=CPU),
        limits_memory=reader.text("limitsMemory", default.limits_memory, rule=MEMORY),
        pods=reader.integer("pods", default.pods, minimum=1, maximum=10000),
        persistent_volume_claims=reader.integer(
            "persistentVolumeClaims", default.persistent_volume_claims, minimum=0, maximum=1000
        ),
        requests_storage=reader.text("requestsStorage", default.requests_storage, rule=MEMORY),
    )
    reader.finish()
    return quota


def _namespace_provided(reader: Reader, environment: Environment) -> bool:
    """`webapp:namespaceProvided`: never in production (its namespace is protected and guarded
    by the program's deletion RBAC, which it can only declare on a namespace it owns)."""
    provided = reader.flag("namespaceProvided", False)
    if provided and environment == "production":
        reader.report(
            "webapp:namespaceProvided: true is not allowed in production; production's namespace "
            "is the program's own (protected, with its deletion guard)"
        )
    return provided


def _deleters(reader: Reader, environment: Environment) -> tuple[Subject, ...]:
    """`webapp:namespaceDeleters`: who may delete the namespace (required in production)."""
    deleters = parse_subjects(reader, "namespaceDeleters")
    if environment == "production" and not deleters and not reader.has("namespaceDeleters"):
        reader.report(
            "webapp:namespaceDeleters: missing; production needs the identity allowed to delete "
            "the namespace, e.g. [{kind: Group, name: webapp-deprovisioners}]"
        )
    return deleters


def _project_values(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The `webapp:` keys of the decoded config, without the project prefix."""
    values: dict[str, Any] = {}
    for full_key, value in raw.items():
        project, _, key = full_key.partition(":")
        if project == NAMESPACE:
            values[key] = value
    return values


def _namespace(reader: Reader, stack: str) -> str:
    default = f"webapp-{stack}" if q.is_dns_label(f"webapp-{stack}") else "webapp"
    return reader.text("namespace", default, rule=DNS_LABEL)


def _domain(reader: Reader) -> str:
    domain = reader.opt_text("domain", rule=HOSTNAME)
    if domain is None and not reader.has("domain"):
        reader.report("webapp:domain: missing; set the public hostname, e.g. app.example.com")
    return domain or "invalid.example"


def _webhook_url(reader: Reader, secret_keys: Collection[str]) -> Optional[str]:
    """`webapp:broadcasterWebhookUrl`: a URL that often carries a token, so a Pulumi secret."""
    url = reader.opt_text("broadcasterWebhookUrl")
    key = reader.key("broadcasterWebhookUrl")
    problem = webhook_url_problem(url) if url else None
    if problem:
        reader.report(f"{key}: the URL (not shown) {problem}; expected {WEBHOOK_ALLOWED}")
        return None
    if url is not None and key not in secret_keys:
        reader.report(
            f"{key}: set in plain text (not shown); webhook URLs carry tokens, set it with "
            f"pulumi config set --secret {key} <url>"
        )
    return url


def _read(reader: Reader, stack: str, secret_keys: Collection[str]) -> Settings:
    """Every section, in the order the problems are reported (keyword arguments evaluate in
    order)."""
    environment = _environment(reader, stack)
    profile = PROFILES[environment]
    cloud = reader.choice("cloud", "none", CLOUDS)
    namespace = _namespace(reader, stack)
    domain = _domain(reader)
    settings = Settings(
        stack=stack,
        environment=environment,
        cloud=cloud,
        namespace=namespace,
        domain=domain,
        log_level=reader.choice("logLevel", profile.log_level, LOG_LEVELS),
        kubernetes=_kubernetes(reader.section("kubernetes")),
        services=parse_services(
            reader.section("services"), profile, environment, release_images(reader, environment)
        ),
        scheduler=_scheduler(reader.section("scheduler")),
        database=_database(reader.section("database"), cloud, profile),
        redis=_redis(reader.section("redis"), environment, profile),
        nats=_nats(reader.section("nats"), environment, profile),
        routing=parse_routing(reader.section("routing"), profile, environment),
        addons=_addons(reader.section("addons")),
        monitoring=_monitoring(reader.section("monitoring"), profile, domain),
        quota=_quota(reader.section("quota"), profile),
        namespace_deleters=_deleters(reader, environment),
        namespace_provided=_namespace_provided(reader, environment),
        protect=reader.flag("protect", profile.protect),
        smtp_host=reader.text("smtpHost", "smtp.example.com", rule=HOSTNAME),
        broadcaster_webhook_url=_webhook_url(reader, secret_keys),
        credentials=parse_credentials(reader, stack, environment, cloud, secret_keys),
        image_pull_policy=reader.choice("imagePullPolicy", "IfNotPresent", PULL_POLICIES),
        secret_rotation=parse_rotation(reader),
        mesh=_mesh(reader.section("mesh")),
        rabbitmq=_broker(
            reader.section("rabbitmq"), RABBITMQ_IMAGE, IMAGE, DATA_RESOURCES_PRODUCTION
        ),
        elasticsearch=_broker(
            reader.section("elasticsearch"),
            ELASTICSEARCH_VERSION,
            ES_VERSION,
            ELASTICSEARCH_RESOURCES,
        ),
        metrics=parse_metrics(reader.section("metrics")),
        aws=parse_aws(reader.section("aws"), environment, required=cloud == "aws"),
        azure=parse_azure(
            reader.section("azure"), environment, stack, namespace, required=cloud == "azure"
        ),
    )
    reader.finish(KNOWN_TOP_LEVEL)
    return settings


def _with_pull_policy(settings: Settings) -> Settings:
    """Every workload's settings carry the stack's pull policy (read once, at the top)."""
    policy = settings.image_pull_policy
    return dataclasses.replace(
        settings,
        services={
            name: dataclasses.replace(service, image_pull_policy=policy)
            for name, service in settings.services.items()
        },
        scheduler=dataclasses.replace(settings.scheduler, image_pull_policy=policy),
        database=dataclasses.replace(settings.database, image_pull_policy=policy),
        redis=dataclasses.replace(settings.redis, image_pull_policy=policy),
        nats=dataclasses.replace(settings.nats, image_pull_policy=policy),
    )


def parse_settings(
    raw: Mapping[str, Any],
    stack: str,
    consulted: Optional[set[str]] = None,
    secret_keys: Collection[str] = (),
    check_data_lock: bool = True,
    refuse_placeholders: bool = False,
) -> Settings:
    """Parse decoded `webapp:*` config for `stack`. Raises SettingsError listing every problem.

    `consulted`, when given, receives every dotted key the parser reads (for the config reference).
    `secret_keys` are the full config keys (`webapp:credentials`) the runtime holds as secrets.
    `check_data_lock=False` skips the data lock (`config.lock`): only `make lock`, which writes
    it, and tests of other settings turn it off.
    `refuse_placeholders`: a production stack must not carry the shipped `example.com`
    placeholders (`check_placeholders`); `__main__.py` asks for it on every real preview and up,
    the offline tools (which render the shipped templates) do not.
    """
    problems: list[str] = []
    reader = Reader(_project_values(raw), f"{NAMESPACE}:", problems, consulted)
    recorded = reader.value(LOCK_KEY)
    settings = _with_pull_policy(_read(reader, stack, secret_keys))
    check_capacity(settings, problems)
    check_federated_credentials(settings, problems)
    check_namespaces(settings, problems)
    check_alerting(settings, problems)
    check_delivery(settings, problems)
    if refuse_placeholders:
        check_placeholders(settings, problems)
    if recorded is not None and not isinstance(recorded, Mapping):
        reader.problem(LOCK_KEY, recorded, "a mapping of setting -> value (`make lock`)")
    elif check_data_lock and not problems:
        # Compared only with a config that is otherwise valid: the values it holds are real.
        check_lock(settings, recorded, problems)
    if problems:
        raise SettingsError(problems)
    return settings
