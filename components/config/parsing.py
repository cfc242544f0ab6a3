"""Parse the stack's `webapp:*` config into `Settings` (pure; no Pulumi import).

`parse_settings(raw, stack)` takes the decoded config mapping
(`{"webapp:cloud": "none", "webapp:services": {...}}`) and returns `Settings`, or raises
`SettingsError` listing *every* problem, each naming the key, the bad value and what is allowed.
`__main__.py` calls it before declaring any resource, so bad config declares nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional

from components.config import catalogue
from components.config import quantities as q
from components.config.aws import parse_aws
from components.config.azure import MAX_FEDERATED_CREDENTIALS, key_vault_readers, parse_azure
from components.config.reader import CPU, CRON, DNS_LABEL, HOSTNAME, IDENTIFIER, IMAGE, MEMORY, STORAGE, Reader, Rule
from components.config.settings import (
    ADDON_MODES,
    CLOUDS,
    DATA_RESOURCES,
    DATA_RESOURCES_PRODUCTION,
    DATABASE_MODES,
    ENVIRONMENTS,
    IMPLEMENTED_CLOUDS,
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
    DatabaseSettings,
    DataServiceSettings,
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


def _resources(r: Reader, default: Resources) -> Resources:
    req, lim = r.section("requests"), r.section("limits")
    res = Resources(
        cpu_request=req.text("cpu", default.cpu_request, rule=CPU),
        memory_request=req.text("memory", default.memory_request, rule=MEMORY),
        cpu_limit=lim.text("cpu", default.cpu_limit, rule=CPU),
        memory_limit=lim.text("memory", default.memory_limit, rule=MEMORY),
    )
    req.finish()
    lim.finish()
    r.finish()
    if q.is_cpu(res.cpu_request) and q.is_cpu(res.cpu_limit) and q.cpu_millis(res.cpu_request) > q.cpu_millis(res.cpu_limit):
        r.problem("requests.cpu", res.cpu_request, f"at most limits.cpu ({res.cpu_limit})")
    if (q.is_memory(res.memory_request) and q.is_memory(res.memory_limit)
            and q.memory_bytes(res.memory_request) > q.memory_bytes(res.memory_limit)):
        r.problem("requests.memory", res.memory_request, f"at most limits.memory ({res.memory_limit})")
    return res


def _service(r: Reader, name: str, profile: Profile, environment: str) -> ServiceSettings:
    contract = catalogue.service(name)
    image = r.text("image", contract.default_image, rule=IMAGE)
    if environment == "production" and q.image_tag(image) == "latest" and "@sha256:" not in image:
        r.problem("image", image, "a pinned tag or digest in production (not latest)")
    replicas = r.integer("replicas", profile.replicas, minimum=1, maximum=100)
    autoscaling: Optional[Autoscaling] = None
    default_bounds = profile.autoscaling
    if default_bounds and environment == "production" and contract.production_max_replicas:
        default_bounds = (default_bounds[0], contract.production_max_replicas)
    enabled = r.flag("autoscaling", default_bounds is not None)
    low = r.integer("minReplicas", default_bounds[0] if default_bounds else replicas, minimum=1, maximum=100)
    high = r.integer("maxReplicas", default_bounds[1] if default_bounds else max(replicas, 3), minimum=1, maximum=200)
    if enabled:
        if high < low:
            r.problem("maxReplicas", high, f"at least minReplicas ({low})")
        autoscaling = Autoscaling(min_replicas=low, max_replicas=max(low, high))
    resources = _resources(r.section("resources"), profile.app_resources)
    env_reader = r.section("env")
    env: list[tuple[str, str]] = []
    for key, value in env_reader.items():
        if not q.is_env_name(key):
            env_reader.problem(key, key, "an environment variable name ([A-Za-z_][A-Za-z0-9_.]*)")
        elif not isinstance(value, (str, int, float, bool)):
            env_reader.problem(key, value, "a plain string value (secrets go in the secret store)")
        else:
            env.append((key, str(value).lower() if isinstance(value, bool) else str(value)))
    r.finish()
    return ServiceSettings(name=name, image=image, replicas=replicas, autoscaling=autoscaling,
                           resources=resources, env=tuple(sorted(env)))


def _storage_class(r: Reader) -> Optional[str]:
    return r.opt_text("storageClass", rule=Rule(q.is_dns_label, "a StorageClass name (DNS-1123 label)"))


def _data_service(r: Reader, image: str, replicas: int, persistence: bool, size: str,
                  resources: Resources, max_replicas: int) -> DataServiceSettings:
    settings = DataServiceSettings(
        image=r.text("image", image, rule=IMAGE),
        replicas=r.integer("replicas", replicas, minimum=1, maximum=max_replicas),
        persistence=r.flag("persistence", persistence),
        storage_size=r.text("storageSize", size, rule=STORAGE),
        storage_class=_storage_class(r),
        resources=_resources(r.section("resources"), resources),
    )
    r.finish()
    return settings


def _subject(r: Reader, index: int, value: Any) -> Optional[Subject]:
    key = f"{r.key('namespaceDeleters')}[{index}]"
    if not isinstance(value, Mapping):
        r.report(f"{key}: {value!r} is not allowed; expected an object with kind and name")
        return None
    sub = r.nested(value, key)
    kind = sub.opt_text("kind", allowed=SUBJECT_KINDS)
    name = sub.opt_text("name", rule=Rule(lambda v: True, "a user, group or service account name"))
    namespace = sub.opt_text("namespace", rule=Rule(q.is_dns_label, "a namespace name"))
    sub.finish()
    if kind is None or name is None:
        if kind is None and "kind" not in value:
            r.report(f"{key}.kind: missing; expected one of {', '.join(SUBJECT_KINDS)}")
        if name is None and "name" not in value:
            r.report(f"{key}.name: missing; expected a name")
        return None
    if kind == "ServiceAccount" and namespace is None:
        r.report(f"{key}.namespace: missing; a ServiceAccount subject needs its namespace")
        return None
    return Subject(kind=kind, name=name, namespace=namespace)


# Fixed sizes of the pods config does not size (kept equal to what the components declare).
EXPORTER = Resources(cpu_request="10m", memory_request="16Mi", cpu_limit="100m", memory_limit="64Mi")
BACKUP_JOB = Resources(cpu_request="50m", memory_request="64Mi", cpu_limit="500m", memory_limit="256Mi")


def _check_capacity(settings: Settings, problems: list[str]) -> None:
    """The ResourceQuota must admit every workload at its maximum scale, or scaling and rollouts stall.

    Counted: each service at maxReplicas plus one rolling-update surge pod (`pulumi up` may roll
    them all at once), NATS with its exporter sidecar, Redis, PostgreSQL and its backup Job, and
    the scheduler Job.
    """
    pods: list[tuple[int, tuple[Resources, ...]]] = [(s.max_replicas + 1, (s.resources,)) for s in settings.services.values()]
    pods.append((settings.nats.replicas, (settings.nats.resources, EXPORTER)))
    pods.append((1, (settings.redis.resources,)))
    if settings.database.mode == "in-cluster":
        pods += [(1, (settings.database.resources,)), (1, (BACKUP_JOB,))]
    if settings.scheduler.enabled:
        pods.append((1, (settings.scheduler.resources,)))
    quota = settings.quota
    try:
        need = {
            "requestsCpu": (sum(n * q.cpu_millis(r.cpu_request) for n, rs in pods for r in rs), q.cpu_millis(quota.requests_cpu)),
            "limitsCpu": (sum(n * q.cpu_millis(r.cpu_limit) for n, rs in pods for r in rs), q.cpu_millis(quota.limits_cpu)),
            "requestsMemory": (sum(n * q.memory_bytes(r.memory_request) for n, rs in pods for r in rs),
                               q.memory_bytes(quota.requests_memory)),
            "limitsMemory": (sum(n * q.memory_bytes(r.memory_limit) for n, rs in pods for r in rs),
                             q.memory_bytes(quota.limits_memory)),
        }
    except ValueError:
        return  # a bad quantity was already reported
    values = {"requestsCpu": quota.requests_cpu, "limitsCpu": quota.limits_cpu,
              "requestsMemory": quota.requests_memory, "limitsMemory": quota.limits_memory}
    for key, (needed, have) in need.items():
        if have < needed:
            amount = f"{needed}m CPU" if key.endswith("Cpu") else f"{-(-needed // 2**20)}Mi"
            problems.append(f"webapp:quota.{key}: {values[key]!r} is below what the workloads need at maximum "
                            f"scale ({amount}); raise it or lower maxReplicas/resources")
    count = sum(n for n, _ in pods)
    if quota.pods < count:
        problems.append(f"webapp:quota.pods: {quota.pods} is below the pods needed at maximum scale ({count})")


WEBHOOK_URL = Rule(lambda v: v.startswith(("https://", "http://")), "an http(s):// URL (set it as a secret)")
ACME_SERVER = Rule(lambda v: v.startswith("https://"), "an https:// ACME directory URL")

KNOWN_TOP_LEVEL = (
    "cloud", "environment", "namespace", "domain", "logLevel", "kubernetes", "services", "scheduler",
    "database", "redis", "nats", "routing", "addons", "monitoring", "quota", "namespaceDeleters",
    "protect", "smtpHost", "broadcasterWebhookUrl",
)


def parse_settings(raw: Mapping[str, Any], stack: str, consulted: Optional[set[str]] = None) -> Settings:
    """Parse decoded `webapp:*` config for `stack`. Raises SettingsError listing every problem.

    `consulted`, when given, receives every dotted key the parser reads (for the config reference).
    """
    problems: list[str] = []
    data: dict[str, Any] = {}
    for full_key, value in raw.items():
        project, _, key = full_key.partition(":")
        if project == NAMESPACE:
            data[key] = value
    r = Reader(data, f"{NAMESPACE}:", problems, consulted)

    default_env = stack if stack in ENVIRONMENTS else None
    environment = r.opt_text("environment", allowed=ENVIRONMENTS) or default_env
    if environment is None:
        if not r.has("environment"):
            problems.append(f"webapp:environment: missing for stack {stack!r}; set one of {', '.join(ENVIRONMENTS)} "
                            "(it picks the sizing profile)")
        environment = "dev"
    profile = PROFILES[environment]

    cloud = r.text("cloud", "none", allowed=CLOUDS)
    if cloud not in IMPLEMENTED_CLOUDS:
        problems.append(f"webapp:cloud: {cloud!r} is not available yet; use none until the {cloud} secret store "
                        "and database components land")
    namespace = r.text("namespace", f"webapp-{stack}" if q.is_dns_label(f"webapp-{stack}") else "webapp",
                      rule=DNS_LABEL)
    domain = r.opt_text("domain", rule=HOSTNAME)
    if domain is None and not r.has("domain"):
        problems.append("webapp:domain: missing; set the public hostname, e.g. app.example.com")
    log_level = r.text("logLevel", profile.log_level, allowed=LOG_LEVELS)

    k = r.section("kubernetes")
    kubernetes = KubernetesSettings(
        context=k.opt_text("context") or "",
        kubeconfig=k.opt_text("kubeconfig"),
        cluster_dns_ip=k.text("clusterDnsIp", "10.96.0.10", rule=Rule(q.is_ip, "an IP address")),
    )
    if not kubernetes.context and not k.has("context"):
        problems.append("webapp:kubernetes.context: missing; name the kubeconfig context to deploy to "
                        "(the ambient context is never used)")
    k.finish()

    svc_reader = r.section("services")
    services = {name: _service(svc_reader.section(name), name, profile, environment) for name in catalogue.APP_SERVICES}
    svc_reader.finish()

    s = r.section("scheduler")
    scheduler = SchedulerSettings(
        enabled=s.flag("enabled", True),
        image=s.text("image", "curlimages/curl:8.17.0", rule=IMAGE),
        schedule=s.text("schedule", "0 * * * *", rule=CRON),
        resources=_resources(s.section("resources"), Resources(cpu_request="10m", memory_request="16Mi",
                                                           cpu_limit="100m", memory_limit="64Mi")),
    )
    s.finish()

    d = r.section("database")
    b = d.section("backup")
    backup = BackupSettings(
        schedule=b.text("schedule", "0 2 * * *", rule=CRON),
        retention_days=b.integer("retentionDays", 7, minimum=1, maximum=365),
        storage_size=b.text("storageSize", "10Gi", rule=STORAGE),
    )
    b.finish()
    database = DatabaseSettings(
        mode=d.text("mode", "in-cluster" if cloud == "none" else "managed", allowed=DATABASE_MODES),
        name=d.text("name", "webapp", rule=IDENTIFIER),
        username=d.text("username", "webapp", rule=IDENTIFIER),
        image=d.text("image", "postgres:16.10-alpine", rule=IMAGE),
        storage_size=d.text("storageSize", profile.database_storage, rule=STORAGE),
        storage_class=_storage_class(d),
        resources=_resources(d.section("resources"), profile.database_resources),
        backup=backup,
    )
    if database.mode == "managed" and cloud == "none":
        d.problem("mode", "managed", "in-cluster when webapp:cloud is none (a managed database needs aws or azure)")
    d.finish()

    data_res = DATA_RESOURCES_PRODUCTION if environment == "production" else DATA_RESOURCES
    redis = _data_service(r.section("redis"), "redis:7.4.6-alpine", 1, profile.redis_persistence, "5Gi", data_res, 1)
    nats = _data_service(r.section("nats"), "nats:2.11.8-alpine", profile.nats_replicas, profile.nats_persistence,
                         "10Gi", data_res, 7)
    if nats.replicas == 2:
        problems.append("webapp:nats.replicas: 2 is not allowed; expected 1 or an odd number of at least 3 "
                        "(a two-node NATS cluster cannot keep a JetStream quorum)")

    ro = r.section("routing")
    routing = RoutingSettings(
        mode=ro.text("mode", "gateway", allowed=ROUTING_MODES),
        ingress_class=ro.text("ingressClassName", "nginx", rule=Rule(q.is_dns_label, "an IngressClass name")),
        issuer=ro.text("issuer", profile.issuer, allowed=ISSUERS),
        acme_email=ro.opt_text("acmeEmail", rule=Rule(q.is_email, "an e-mail address")),
        acme_server=ro.text("acmeServer", LETSENCRYPT, rule=ACME_SERVER),
        rate_limit_per_minute=ro.integer("rateLimitPerMinute", 100, minimum=1, maximum=100000),
        websocket_timeout_seconds=ro.integer("websocketTimeoutSeconds", 3600, minimum=60, maximum=86400),
        controller_namespace="",
    )
    controller_default = "envoy-gateway-system" if routing.mode == "gateway" else "ingress-nginx"
    routing = dataclasses.replace(routing, controller_namespace=ro.text(
        "controllerNamespace", controller_default, rule=DNS_LABEL))
    if routing.issuer == "acme" and routing.acme_email is None and not ro.has("acmeEmail"):
        problems.append("webapp:routing.acmeEmail: missing; the acme issuer needs a contact e-mail "
                        "(or set webapp:routing.issuer to selfsigned)")
    ro.finish()

    a = r.section("addons")
    addons = AddonSettings(
        cert_manager=a.text("certManager", "install", allowed=ADDON_MODES),
        gateway=a.text("gateway", "install", allowed=ADDON_MODES),
        monitoring_stack=a.text("monitoringStack", "install", allowed=ADDON_MODES),
        external_secrets=a.text("externalSecrets", "install", allowed=ADDON_MODES),
    )
    a.finish()

    m = r.section("monitoring")
    monitoring = MonitoringSettings(
        enabled=m.flag("enabled", profile.monitoring),
        namespace=m.text("namespace", "monitoring", rule=DNS_LABEL),
        retention=m.text("retention", "30d", rule=Rule(q.is_duration, "a duration such as 30d")),
        storage_size=m.text("storageSize", "50Gi", rule=STORAGE),
        storage_class=_storage_class(m),
    )
    m.finish()

    qr = r.section("quota")
    pq = profile.quota
    quota = QuotaSettings(
        requests_cpu=qr.text("requestsCpu", pq.requests_cpu, rule=CPU),
        requests_memory=qr.text("requestsMemory", pq.requests_memory, rule=MEMORY),
        limits_cpu=qr.text("limitsCpu", pq.limits_cpu, rule=CPU),
        limits_memory=qr.text("limitsMemory", pq.limits_memory, rule=MEMORY),
        pods=qr.integer("pods", pq.pods, minimum=1, maximum=10000),
        persistent_volume_claims=qr.integer("persistentVolumeClaims", pq.persistent_volume_claims, minimum=0, maximum=1000),
        requests_storage=qr.text("requestsStorage", pq.requests_storage, rule=MEMORY),
    )
    qr.finish()

    deleters = tuple(
        sub for i, v in enumerate(r.sequence("namespaceDeleters")) if (sub := _subject(r, i, v)) is not None
    )
    if environment == "production" and not deleters and not r.has("namespaceDeleters"):
        problems.append("webapp:namespaceDeleters: missing; production needs the identity allowed to delete the "
                        "namespace, e.g. [{kind: Group, name: webapp-deprovisioners}]")

    protect = r.flag("protect", profile.protect)
    smtp_host = r.text("smtpHost", "smtp.example.com", rule=HOSTNAME)
    webhook = r.opt_text("broadcasterWebhookUrl", rule=WEBHOOK_URL)
    aws = parse_aws(r.section("aws"), environment, required=cloud == "aws")
    azure = parse_azure(r.section("azure"), environment, stack, namespace, required=cloud == "azure")
    r.finish(KNOWN_TOP_LEVEL)

    settings = Settings(
        stack=stack, environment=environment, cloud=cloud or "none", namespace=namespace or "webapp",
        domain=domain or "invalid.example", log_level=log_level, kubernetes=kubernetes,
        services=services, scheduler=scheduler, database=database, redis=redis, nats=nats, routing=routing,
        addons=addons, monitoring=monitoring, quota=quota, namespace_deleters=deleters, protect=protect,
        smtp_host=smtp_host, broadcaster_webhook_url=webhook, aws=aws, azure=azure,
    )
    _check_capacity(settings, problems)
    if settings.azure is not None and cloud == "azure":
        readers = key_vault_readers(settings)
        if len(readers) > MAX_FEDERATED_CREDENTIALS:
            problems.append(f"webapp:azure.secretDelivery: {settings.azure.delivery!r} needs {len(readers)} federated credentials "
                            f"on one managed identity, more than the {MAX_FEDERATED_CREDENTIALS} Azure allows; use "
                            "external-secrets (one credential) or fewer workloads reading Key Vault")
    if problems:
        raise SettingsError(problems)
    return settings
