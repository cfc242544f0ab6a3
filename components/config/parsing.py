"""Parse the stack's `webapp:*` config into `Settings` (pure; no Pulumi import).

`parse_settings(raw, stack)` takes the decoded config mapping
(`{"webapp:cloud": "none", "webapp:services": {...}}`) and returns `Settings`, or raises
`SettingsError` listing *every* problem, each naming the key, the bad value and what is allowed.
`__main__.py` calls it before declaring any resource, so bad config declares nothing.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Optional

from components.config import catalogue
from components.config import quantities as q
from components.config.aws import parse_aws
from components.config.azure import MAX_FEDERATED_CREDENTIALS, key_vault_readers, parse_azure
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
from components.config.settings import (
    ADDON_MODES,
    CLOUDS,
    DATA_RESOURCES,
    DATA_RESOURCES_PRODUCTION,
    DATABASE_MODES,
    ENVIRONMENTS,
    ISSUERS,
    LETSENCRYPT,
    LOG_LEVELS,
    NAMESPACE,
    PROFILES,
    ROUTING_MODES,
    SUBJECT_KINDS,
    AddonSettings,
    Autoscaling,
    BackupSettings,
    Cloud,
    DatabaseMode,
    DatabaseSettings,
    DataServiceSettings,
    Environment,
    KubernetesSettings,
    MonitoringSettings,
    Profile,
    QuotaSettings,
    Resources,
    RoutingSettings,
    SchedulerSettings,
    ServiceSettings,
    Settings,
    SettingsError,
    Subject,
)


def _resources(reader: Reader, default: Resources) -> Resources:
    req, lim = reader.section("requests"), reader.section("limits")
    res = Resources(
        cpu_request=req.text("cpu", default.cpu_request, rule=CPU),
        memory_request=req.text("memory", default.memory_request, rule=MEMORY),
        cpu_limit=lim.text("cpu", default.cpu_limit, rule=CPU),
        memory_limit=lim.text("memory", default.memory_limit, rule=MEMORY),
    )
    req.finish()
    lim.finish()
    reader.finish()
    if (
        q.is_cpu(res.cpu_request)
        and q.is_cpu(res.cpu_limit)
        and q.cpu_millis(res.cpu_request) > q.cpu_millis(res.cpu_limit)
    ):
        reader.problem("requests.cpu", res.cpu_request, f"at most limits.cpu ({res.cpu_limit})")
    if (
        q.is_memory(res.memory_request)
        and q.is_memory(res.memory_limit)
        and q.memory_bytes(res.memory_request) > q.memory_bytes(res.memory_limit)
    ):
        reader.problem(
            "requests.memory", res.memory_request, f"at most limits.memory ({res.memory_limit})"
        )
    return res


SECRET_LIKE = re.compile(
    r"PASSWORD|PASSWD|SECRET|TOKEN|APIKEY|PRIVATEKEY|CREDENTIAL|CONNECTIONSTRING|DSN", re.I
)
"""Variable names that hold secrets by convention (separators removed before matching)."""
STANDIN_ENV = "WHOAMI_PORT_NUMBER"


def _check_env_name(reader: Reader, contract: catalogue.AppService, key: str) -> bool:
    """Whether `env.<key>` may be set; the problem is reported otherwise (never the value: it may
    be a secret that must not reach a terminal or a CI log)."""
    where = reader.key(key)
    owned = {**catalogue.RUNTIME_ENV[contract.runtime], **contract.env}
    if key in contract.secret_env:
        ref = contract.secret_env[key]
        reader.report(
            f"{where}: {key} is read from Secret {ref.secret} (key {ref.key}); it cannot be set "
            "in env, where it would be a plain-text ConfigMap value"
        )
    elif key in owned or key == STANDIN_ENV:
        template = owned.get(key, "the stand-in's port")
        reader.report(
            f"{where}: {key} is set by the program ({template}), which keeps the port, probes, "
            "Service and NetworkPolicy in step; remove it from env"
        )
    elif SECRET_LIKE.search(re.sub(r"[_.]", "", key)):
        reader.report(
            f"{where}: {key} looks like a secret, and env becomes a plain-text ConfigMap; keep "
            "the value in the secret store and read it by reference (a SecretEnv in "
            "components/config/catalogue.py)"
        )
    else:
        return True
    return False


def _env(reader: Reader, contract: catalogue.AppService) -> tuple[tuple[str, str], ...]:
    """`webapp:services.<name>.env`: plain, non-secret variables the program does not own."""
    env: list[tuple[str, str]] = []
    for key, value in reader.items():
        if not q.is_env_name(key):
            reader.problem(key, key, "an environment variable name ([A-Za-z_][A-Za-z0-9_.]*)")
        elif not _check_env_name(reader, contract, key):
            continue
        elif not isinstance(value, (str, int, float, bool)):
            reader.problem(key, value, "a plain string value (secrets go in the secret store)")
        else:
            env.append((key, str(value).lower() if isinstance(value, bool) else str(value)))
    return tuple(sorted(env))


def _image(reader: Reader, contract: catalogue.AppService, release_images: bool) -> str:
    image = reader.text("image", contract.default_image, rule=IMAGE)
    if release_images and not reader.has("image"):
        reader.report(
            f"{reader.key('image')}: missing; this stack runs release images only and the "
            f"default {contract.default_image} is a public stand-in; set it with "
            f"pulumi config set --path '{reader.key('image')}' <registry>/<image>:<tag>"
        )
    return image


def _autoscaling(
    reader: Reader, contract: catalogue.AppService, profile: Profile, environment: str
) -> tuple[int, Optional[Autoscaling]]:
    """`replicas` for a fixed count, or `minReplicas`/`maxReplicas` under the HPA; a key the
    other mode would ignore is an error."""
    replicas = reader.integer("replicas", profile.replicas, minimum=1, maximum=100)
    default_bounds = profile.autoscaling
    if default_bounds and environment == "production" and contract.production_max_replicas:
        default_bounds = (default_bounds[0], contract.production_max_replicas)
    enabled = reader.flag("autoscaling", default_bounds is not None)
    low = reader.integer(
        "minReplicas", default_bounds[0] if default_bounds else replicas, minimum=1, maximum=100
    )
    high = reader.integer(
        "maxReplicas",
        default_bounds[1] if default_bounds else max(replicas, 3),
        minimum=1,
        maximum=200,
    )
    if enabled and reader.has("replicas"):
        reader.report(
            f"{reader.key('replicas')}: {replicas} would be ignored while autoscaling is on (the "
            "HPA owns the count); set minReplicas/maxReplicas, or autoscaling: false for a "
            "fixed count"
        )
    for bound in ("minReplicas", "maxReplicas"):
        if not enabled and reader.has(bound):
            reader.report(
                f"{reader.key(bound)}: would be ignored while autoscaling is off; set replicas, "
                "or autoscaling: true"
            )
    if not enabled:
        return replicas, None
    if high < low:
        reader.problem("maxReplicas", high, f"at least minReplicas ({low})")
    return replicas, Autoscaling(min_replicas=low, max_replicas=max(low, high))


def _service(
    reader: Reader, name: str, profile: Profile, environment: str, release_images: bool
) -> ServiceSettings:
    contract = catalogue.service(name)
    image = _image(reader, contract, release_images)
    if environment == "production" and q.image_tag(image) == "latest" and "@sha256:" not in image:
        reader.problem("image", image, "a pinned tag or digest in production (not latest)")
    replicas, autoscaling = _autoscaling(reader, contract, profile, environment)
    resources = _resources(reader.section("resources"), profile.app_resources)
    env = _env(reader.section("env"), contract)
    reader.finish()
    return ServiceSettings(
        name=name,
        image=image,
        replicas=replicas,
        autoscaling=autoscaling,
        resources=resources,
        env=env,
    )


def _storage_class(reader: Reader) -> Optional[str]:
    return reader.opt_text(
        "storageClass", rule=Rule(q.is_dns_label, "a StorageClass name (DNS-1123 label)")
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
        resources=_resources(reader.section("resources"), resources),
    )
    reader.finish()
    return settings


def _subject(reader: Reader, index: int, value: Any) -> Optional[Subject]:
    key = f"{reader.key('namespaceDeleters')}[{index}]"
    if not isinstance(value, Mapping):
        reader.report(f"{key}: {value!r} is not allowed; expected an object with kind and name")
        return None
    sub = reader.nested(value, key)
    kind = sub.opt_choice("kind", SUBJECT_KINDS)
    name = sub.opt_text(
        "name", rule=Rule(lambda value: True, "a user, group or service account name")
    )
    namespace = sub.opt_text("namespace", rule=Rule(q.is_dns_label, "a namespace name"))
    sub.finish()
    if kind is None or name is None:
        if kind is None and "kind" not in value:
            reader.report(f"{key}.kind: missing; expected one of {', '.join(SUBJECT_KINDS)}")
        if name is None and "name" not in value:
            reader.report(f"{key}.name: missing; expected a name")
        return None
    if kind == "ServiceAccount" and namespace is None:
        reader.report(f"{key}.namespace: missing; a ServiceAccount subject needs its namespace")
        return None
    return Subject(kind=kind, name=name, namespace=namespace)


# Fixed sizes of the pods config does not size (kept equal to what the components declare).
EXPORTER = Resources(
    cpu_request="10m", memory_request="16Mi", cpu_limit="100m", memory_limit="64Mi"
)
BACKUP_JOB = Resources(
    cpu_request="50m", memory_request="64Mi", cpu_limit="500m", memory_limit="256Mi"
)


def _capacity_needed(settings: Settings) -> list[tuple[int, tuple[Resources, ...]]]:
    """(pod count, container sizes) of every pod the stack can run at once.

    Counted: each service at maxReplicas plus one rolling-update surge pod (`pulumi up` may roll
    them all at once), NATS with its exporter sidecar, Redis, PostgreSQL and its backup Job, and
    the scheduler Job.
    """
    pods: list[tuple[int, tuple[Resources, ...]]] = [
        (service.max_replicas + 1, (service.resources,)) for service in settings.services.values()
    ]
    pods.append((settings.nats.replicas, (settings.nats.resources, EXPORTER)))
    pods.append((1, (settings.redis.resources,)))
    if settings.database.mode == "in-cluster":
        pods += [(1, (settings.database.resources,)), (1, (BACKUP_JOB,))]
    if settings.scheduler.enabled:
        pods.append((1, (settings.scheduler.resources,)))
    return pods


def _check_capacity(settings: Settings, problems: list[str]) -> None:
    """The ResourceQuota must admit every workload at its maximum scale, or scaling and rollouts
    stall (`_capacity_needed` says what is counted).
    """
    pods = _capacity_needed(settings)
    quota = settings.quota

    def total(size: Callable[[Resources], int]) -> int:
        return sum(
            count * size(container) for count, containers in pods for container in containers
        )

    try:
        need = {
            "requestsCpu": (
                total(lambda size: q.cpu_millis(size.cpu_request)),
                q.cpu_millis(quota.requests_cpu),
            ),
            "limitsCpu": (
                total(lambda size: q.cpu_millis(size.cpu_limit)),
                q.cpu_millis(quota.limits_cpu),
            ),
            "requestsMemory": (
                total(lambda size: q.memory_bytes(size.memory_request)),
                q.memory_bytes(quota.requests_memory),
            ),
            "limitsMemory": (
                total(lambda size: q.memory_bytes(size.memory_limit)),
                q.memory_bytes(quota.limits_memory),
            ),
        }
    except ValueError:
        return  # a bad quantity was already reported
    configured = {
        "requestsCpu": quota.requests_cpu,
        "limitsCpu": quota.limits_cpu,
        "requestsMemory": quota.requests_memory,
        "limitsMemory": quota.limits_memory,
    }
    for key, (needed, have) in need.items():
        if have < needed:
            amount = f"{needed}m CPU" if key.endswith("Cpu") else f"{-(-needed // 2**20)}Mi"
            problems.append(
                f"webapp:quota.{key}: {configured[key]!r} is below what the workloads need at "
                f"maximum scale ({amount}); raise it or lower maxReplicas/resources"
            )
    pod_count = sum(count for count, _ in pods)
    if quota.pods < pod_count:
        problems.append(
            f"webapp:quota.pods: {quota.pods} is below the pods needed at maximum scale "
            f"({pod_count})"
        )


def _check_federated_credentials(settings: Settings, problems: list[str]) -> None:
    """With the CSI driver every reading ServiceAccount needs a credential on one identity."""
    if settings.azure is None or settings.cloud != "azure":
        return
    readers = key_vault_readers(settings)
    if len(readers) > MAX_FEDERATED_CREDENTIALS:
        problems.append(
            f"webapp:azure.secretDelivery: {settings.azure.delivery!r} needs {len(readers)} "
            f"federated credentials on one managed identity, more than the "
            f"{MAX_FEDERATED_CREDENTIALS} Azure allows; use external-secrets (one credential) or "
            "fewer workloads reading Key Vault"
        )


WEBHOOK_URL = Rule(
    lambda value: value.startswith(("https://", "http://")),
    "an http(s):// URL (set it as a secret)",
)
ACME_SERVER = Rule(lambda value: value.startswith("https://"), "an https:// ACME directory URL")

KNOWN_TOP_LEVEL = (
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
    "protect",
    "smtpHost",
    "broadcasterWebhookUrl",
    "requireReleaseImages",
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
            "clusterDnsIp", "10.96.0.10", rule=Rule(q.is_ip, "an IP address")
        ),
    )
    if not kubernetes.context and not reader.has("context"):
        reader.report(
            "webapp:kubernetes.context: missing; name the kubeconfig context to deploy to "
            "(the ambient context is never used)"
        )
    reader.finish()
    return kubernetes


def _services(
    reader: Reader, profile: Profile, environment: Environment, release_images: bool
) -> dict[str, ServiceSettings]:
    """One `webapp:services.<name>` section per catalogued service."""
    services = {
        name: _service(reader.section(name), name, profile, environment, release_images)
        for name in catalogue.APP_SERVICES
    }
    reader.finish()
    return services


def _scheduler(reader: Reader) -> SchedulerSettings:
    scheduler = SchedulerSettings(
        enabled=reader.flag("enabled", True),
        image=reader.text("image", "curlimages/curl:8.17.0", rule=IMAGE),
        schedule=reader.text("schedule", "0 * * * *", rule=CRON),
        resources=_resources(
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
        resources=_resources(reader.section("resources"), profile.database_resources),
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


def _routing(reader: Reader, profile: Profile, environment: Environment) -> RoutingSettings:
    mode = reader.choice("mode", "gateway", ROUTING_MODES)
    ingress_class = reader.text(
        "ingressClassName", "nginx", rule=Rule(q.is_dns_label, "an IngressClass name")
    )
    issuer = reader.choice("issuer", profile.issuer, ISSUERS)
    acme_email = reader.opt_text("acmeEmail", rule=Rule(q.is_email, "an e-mail address"))
    routing = RoutingSettings(
        mode=mode,
        ingress_class=ingress_class,
        issuer=issuer,
        acme_email=acme_email,
        acme_server=reader.text("acmeServer", LETSENCRYPT, rule=ACME_SERVER),
        rate_limit_per_minute=reader.integer("rateLimitPerMinute", 100, minimum=1, maximum=100000),
        websocket_timeout_seconds=reader.integer(
            "websocketTimeoutSeconds", 3600, minimum=60, maximum=86400
        ),
        controller_namespace=reader.text(
            "controllerNamespace",
            "envoy-gateway-system" if mode == "gateway" else "ingress-nginx",
            rule=DNS_LABEL,
        ),
        proxy_min_replicas=reader.integer(
            "proxyMinReplicas", profile.proxy_replicas[0], minimum=1, maximum=50
        ),
        proxy_max_replicas=reader.integer(
            "proxyMaxReplicas", profile.proxy_replicas[1], minimum=1, maximum=100
        ),
    )
    if routing.proxy_max_replicas < routing.proxy_min_replicas:
        reader.problem(
            "proxyMaxReplicas",
            routing.proxy_max_replicas,
            f"at least proxyMinReplicas ({routing.proxy_min_replicas})",
        )
    if environment == "production" and routing.proxy_min_replicas < 2 and mode == "gateway":
        reader.problem(
            "proxyMinReplicas",
            routing.proxy_min_replicas,
            "at least 2 in production (one Envoy pod would carry all traffic, and every node "
            "drain or rollout would drop connections)",
        )
    if issuer == "acme" and acme_email is None and not reader.has("acmeEmail"):
        reader.report(
            "webapp:routing.acmeEmail: missing; the acme issuer needs a contact e-mail "
            "(or set webapp:routing.issuer to selfsigned)"
        )
    reader.finish()
    return routing


def _addons(reader: Reader) -> AddonSettings:
    addons = AddonSettings(
        cert_manager=reader.choice("certManager", "install", ADDON_MODES),
        gateway=reader.choice("gateway", "install", ADDON_MODES),
        monitoring_stack=reader.choice("monitoringStack", "install", ADDON_MODES),
        external_secrets=reader.choice("externalSecrets", "install", ADDON_MODES),
    )
    reader.finish()
    return addons


def _monitoring(reader: Reader, profile: Profile) -> MonitoringSettings:
    monitoring = MonitoringSettings(
        enabled=reader.flag("enabled", profile.monitoring),
        namespace=reader.text("namespace", "monitoring", rule=DNS_LABEL),
        retention=reader.text(
            "retention", "30d", rule=Rule(q.is_duration, "a duration such as 30d")
        ),
        storage_size=reader.text("storageSize", "50Gi", rule=STORAGE),
        storage_class=_storage_class(reader),
    )
    reader.finish()
    return monitoring


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


def _deleters(reader: Reader, environment: Environment) -> tuple[Subject, ...]:
    """`webapp:namespaceDeleters`: who may delete the namespace (required in production)."""
    deleters = tuple(
        subject
        for index, value in enumerate(reader.sequence("namespaceDeleters"))
        if (subject := _subject(reader, index, value)) is not None
    )
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


def _release_images(reader: Reader, environment: Environment) -> bool:
    """`webapp:requireReleaseImages`: refuse the public stand-in images (always in production)."""
    required = reader.flag("requireReleaseImages", environment == "production")
    if environment == "production" and not required:
        reader.problem(
            "requireReleaseImages", False, "true in production (production never runs a stand-in)"
        )
    return required


def _namespace(reader: Reader, stack: str) -> str:
    default = f"webapp-{stack}" if q.is_dns_label(f"webapp-{stack}") else "webapp"
    return reader.text("namespace", default, rule=DNS_LABEL)


def _domain(reader: Reader) -> str:
    domain = reader.opt_text("domain", rule=HOSTNAME)
    if domain is None and not reader.has("domain"):
        reader.report("webapp:domain: missing; set the public hostname, e.g. app.example.com")
    return domain or "invalid.example"


def _read(reader: Reader, stack: str) -> Settings:
    """Every section, in the order the problems are reported (keyword arguments evaluate in
    order)."""
    environment = _environment(reader, stack)
    profile = PROFILES[environment]
    cloud = reader.choice("cloud", "none", CLOUDS)
    namespace = _namespace(reader, stack)
    settings = Settings(
        stack=stack,
        environment=environment,
        cloud=cloud,
        namespace=namespace,
        domain=_domain(reader),
        log_level=reader.choice("logLevel", profile.log_level, LOG_LEVELS),
        kubernetes=_kubernetes(reader.section("kubernetes")),
        services=_services(
            reader.section("services"), profile, environment, _release_images(reader, environment)
        ),
        scheduler=_scheduler(reader.section("scheduler")),
        database=_database(reader.section("database"), cloud, profile),
        redis=_redis(reader.section("redis"), environment, profile),
        nats=_nats(reader.section("nats"), environment, profile),
        routing=_routing(reader.section("routing"), profile, environment),
        addons=_addons(reader.section("addons")),
        monitoring=_monitoring(reader.section("monitoring"), profile),
        quota=_quota(reader.section("quota"), profile),
        namespace_deleters=_deleters(reader, environment),
        protect=reader.flag("protect", profile.protect),
        smtp_host=reader.text("smtpHost", "smtp.example.com", rule=HOSTNAME),
        broadcaster_webhook_url=reader.opt_text("broadcasterWebhookUrl", rule=WEBHOOK_URL),
        aws=parse_aws(reader.section("aws"), environment, required=cloud == "aws"),
        azure=parse_azure(
            reader.section("azure"), environment, stack, namespace, required=cloud == "azure"
        ),
    )
    reader.finish(KNOWN_TOP_LEVEL)
    return settings


def parse_settings(
    raw: Mapping[str, Any], stack: str, consulted: Optional[set[str]] = None
) -> Settings:
    """Parse decoded `webapp:*` config for `stack`. Raises SettingsError listing every problem.

    `consulted`, when given, receives every dotted key the parser reads (for the config reference).
    """
    problems: list[str] = []
    settings = _read(Reader(_project_values(raw), f"{NAMESPACE}:", problems, consulted), stack)
    _check_capacity(settings, problems)
    _check_federated_credentials(settings, problems)
    if problems:
        raise SettingsError(problems)
    return settings
