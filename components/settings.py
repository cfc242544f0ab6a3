"""Stack settings: every `webapp:*` config key parsed once into frozen, validated dataclasses.

Pure module (no Pulumi import): `parse_settings(raw, stack)` takes the decoded config mapping
(`{"webapp:cloud": "none", "webapp:services": {...}}`) and returns `Settings` or raises
`SettingsError` listing *every* problem, each naming the key, the bad value and what is allowed.
`__main__.py` calls it before declaring any resource, so bad config declares nothing.

Per-environment defaults (the old Kustomize overlays) live in `PROFILES`; a stack file only states
what differs from its environment's profile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from . import quantities as q

NAMESPACE = "webapp"
ENVIRONMENTS = ("dev", "staging", "production")
CLOUDS = ("none", "aws", "azure")
LOG_LEVELS = ("Trace", "Debug", "Information", "Warning", "Error", "Critical")
APP_SERVICES = ("frontend", "api", "websocket", "auth", "broadcaster")
DATABASE_MODES = ("in-cluster", "managed")
ROUTING_MODES = ("gateway", "ingress")
ISSUERS = ("selfsigned", "acme")
ADDON_MODES = ("install", "present")
SUBJECT_KINDS = ("User", "Group", "ServiceAccount")
# Clouds whose stores and databases have landed. Until then a stack may not select them.
IMPLEMENTED_CLOUDS = ("none",)
LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"

# Public stand-in images that answer the application's ports and health paths on a plain cluster
# (traefik/whoami answers 200 on every path; the port comes from WHOAMI_PORT_NUMBER). Replace them
# by setting `webapp:services.<name>.image`.
STANDIN_IMAGE = "traefik/whoami:v1.11.0"
FRONTEND_IMAGE = "nginxinc/nginx-unprivileged:1.29-alpine"


class SettingsError(Exception):
    """Raised with every configuration problem found; nothing has been declared yet."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__(
            f"{len(self.problems)} configuration problem(s):\n"
            + "\n".join(f"  - {p}" for p in self.problems)
        )


# --------------------------------------------------------------------------------------------
# Settings dataclasses
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Resources:
    """Container requests and limits (Kubernetes quantities)."""

    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str

    def as_dict(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


@dataclass(frozen=True, kw_only=True)
class Autoscaling:
    """HPA bounds; targets are 70% CPU / 80% memory (seed 000/003)."""

    min_replicas: int
    max_replicas: int
    cpu_percent: int = 70
    memory_percent: int = 80


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """One application service. `autoscaling` set means the HPA owns the replica count."""

    name: str
    image: str
    replicas: int
    autoscaling: Optional[Autoscaling]
    resources: Resources
    env: tuple[tuple[str, str], ...] = ()

    @property
    def max_replicas(self) -> int:
        return self.autoscaling.max_replicas if self.autoscaling else self.replicas

    @property
    def min_replicas(self) -> int:
        return self.autoscaling.min_replicas if self.autoscaling else self.replicas


@dataclass(frozen=True, kw_only=True)
class SchedulerSettings:
    """The todo-generator CronJob (seed 001 `todo-cron`)."""

    enabled: bool
    image: str
    schedule: str
    resources: Resources


@dataclass(frozen=True, kw_only=True)
class DataServiceSettings:
    """An in-cluster StatefulSet (NATS, Redis)."""

    image: str
    replicas: int
    persistence: bool
    storage_size: str
    storage_class: Optional[str]
    resources: Resources


@dataclass(frozen=True, kw_only=True)
class BackupSettings:
    schedule: str
    retention_days: int
    storage_size: str


@dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    """`mode: in-cluster` runs PostgreSQL as a StatefulSet; `managed` uses the cloud's service."""

    mode: str
    name: str
    username: str
    image: str
    storage_size: str
    storage_class: Optional[str]
    resources: Resources
    backup: BackupSettings


@dataclass(frozen=True, kw_only=True)
class QuotaSettings:
    requests_cpu: str
    requests_memory: str
    limits_cpu: str
    limits_memory: str
    pods: int
    persistent_volume_claims: int
    requests_storage: str


@dataclass(frozen=True, kw_only=True)
class RoutingSettings:
    """Edge routing. `gateway` = Gateway API via Envoy Gateway; `ingress` = NGINX-family Ingress."""

    mode: str
    ingress_class: str
    issuer: str
    acme_email: Optional[str]
    acme_server: str
    rate_limit_per_minute: int
    websocket_timeout_seconds: int


@dataclass(frozen=True, kw_only=True)
class AddonSettings:
    """Per cluster add-on: `install` (this program installs it) or `present` (already there)."""

    cert_manager: str
    gateway: str
    monitoring_stack: str


@dataclass(frozen=True, kw_only=True)
class MonitoringSettings:
    enabled: bool
    retention: str
    storage_size: str
    storage_class: Optional[str]


@dataclass(frozen=True, kw_only=True)
class KubernetesSettings:
    """Which cluster: an explicit kubeconfig context, never the ambient one."""

    context: str
    kubeconfig: Optional[str]
    cluster_dns_ip: str


@dataclass(frozen=True, kw_only=True)
class Subject:
    """An RBAC subject (the namespace's deprovisioning identity)."""

    kind: str
    name: str
    namespace: Optional[str] = None


@dataclass(frozen=True, kw_only=True)
class Settings:
    stack: str
    environment: str
    cloud: str
    namespace: str
    domain: str
    log_level: str
    kubernetes: KubernetesSettings
    services: Mapping[str, ServiceSettings]
    scheduler: SchedulerSettings
    database: DatabaseSettings
    redis: DataServiceSettings
    nats: DataServiceSettings
    routing: RoutingSettings
    addons: AddonSettings
    monitoring: MonitoringSettings
    quota: QuotaSettings
    namespace_deleters: tuple[Subject, ...]
    protect: bool
    smtp_host: str
    broadcaster_webhook_url: Optional[str] = field(default=None, repr=False)

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


# --------------------------------------------------------------------------------------------
# Environment profiles: the defaults each overlay used to carry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Profile:
    replicas: int
    autoscaling: Optional[tuple[int, int]]
    api_max_replicas: Optional[int]
    log_level: str
    app_resources: Resources
    nats_replicas: int
    nats_persistence: bool
    redis_persistence: bool
    database_storage: str
    database_resources: Resources
    monitoring: bool
    issuer: str
    quota: QuotaSettings
    protect: bool


PROFILES: Mapping[str, Profile] = {
    "dev": Profile(
        replicas=1, autoscaling=None, api_max_replicas=None, log_level="Debug",
        app_resources=Resources(cpu_request="50m", memory_request="64Mi", cpu_limit="250m", memory_limit="256Mi"),
        nats_replicas=1, nats_persistence=False, redis_persistence=False, database_storage="2Gi",
        database_resources=Resources(cpu_request="100m", memory_request="256Mi", cpu_limit="500m", memory_limit="512Mi"),
        monitoring=False, issuer="selfsigned", protect=False,
        quota=QuotaSettings(requests_cpu="4", requests_memory="8Gi", limits_cpu="8", limits_memory="16Gi",
                            pods=30, persistent_volume_claims=10, requests_storage="50Gi"),
    ),
    "staging": Profile(
        replicas=2, autoscaling=None, api_max_replicas=None, log_level="Information",
        app_resources=Resources(cpu_request="100m", memory_request="128Mi", cpu_limit="500m", memory_limit="512Mi"),
        nats_replicas=1, nats_persistence=True, redis_persistence=True, database_storage="10Gi",
        database_resources=Resources(cpu_request="250m", memory_request="512Mi", cpu_limit="1", memory_limit="1Gi"),
        monitoring=True, issuer="acme", protect=False,
        quota=QuotaSettings(requests_cpu="8", requests_memory="16Gi", limits_cpu="16", limits_memory="32Gi",
                            pods=40, persistent_volume_claims=15, requests_storage="200Gi"),
    ),
    "production": Profile(
        replicas=3, autoscaling=(3, 10), api_max_replicas=15, log_level="Warning",
        app_resources=Resources(cpu_request="250m", memory_request="256Mi", cpu_limit="1", memory_limit="1Gi"),
        nats_replicas=3, nats_persistence=True, redis_persistence=True, database_storage="50Gi",
        database_resources=Resources(cpu_request="500m", memory_request="1Gi", cpu_limit="2", memory_limit="4Gi"),
        monitoring=True, issuer="acme", protect=True,
        quota=QuotaSettings(requests_cpu="24", requests_memory="48Gi", limits_cpu="80", limits_memory="96Gi",
                            pods=100, persistent_volume_claims=20, requests_storage="500Gi"),
    ),
}

_DATA_RESOURCES = Resources(cpu_request="50m", memory_request="128Mi", cpu_limit="500m", memory_limit="512Mi")
_DATA_RESOURCES_PRODUCTION = Resources(cpu_request="500m", memory_request="512Mi", cpu_limit="1", memory_limit="1Gi")


# --------------------------------------------------------------------------------------------
# Reader: typed access to a config mapping that records every problem and every unknown key
# --------------------------------------------------------------------------------------------

_MISSING = object()


class _Reader:
    def __init__(self, data: Mapping[str, Any], path: str, problems: list[str]):
        self._data = data
        self._path = path
        self._problems = problems
        self._seen: set[str] = set()

    def key(self, name: str) -> str:
        sep = "" if self._path.endswith(":") else "."
        return f"{self._path}{sep}{name}"

    def problem(self, name: str, value: Any, allowed: str) -> None:
        self._problems.append(f"{self.key(name)}: {value!r} is not allowed; expected {allowed}")

    def _raw(self, name: str) -> Any:
        self._seen.add(name)
        return self._data.get(name, _MISSING)

    def has(self, name: str) -> bool:
        """Whether the key is set (a null value counts as unset)."""
        return self._data.get(name) is not None

    def text(self, name: str, default: str, *, allowed: Optional[Sequence[str]] = None,
             check: Optional[Callable[[str], bool]] = None, expected: str = "a string") -> str:
        found = self.opt_text(name, allowed=allowed, check=check, expected=expected)
        return default if found is None else found

    def opt_text(self, name: str, *, allowed: Optional[Sequence[str]] = None,
                 check: Optional[Callable[[str], bool]] = None, expected: str = "a string") -> Optional[str]:
        default = None
        value = self._raw(name)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, str) or value == "":
            self.problem(name, value, expected if not allowed else f"one of {', '.join(allowed)}")
            return default
        if allowed is not None and value not in allowed:
            self.problem(name, value, f"one of {', '.join(allowed)}")
            return default
        if check is not None and not check(value):
            self.problem(name, value, expected)
            return default
        return value

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        value = self._raw(name)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            self.problem(name, value, f"a whole number from {minimum} to {maximum}")
            return default
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            self.problem(name, value, "true or false")
            return default
        return value

    def section(self, name: str) -> "_Reader":
        value = self._raw(name)
        if value is _MISSING or value is None:
            value = {}
        elif not isinstance(value, Mapping):
            self.problem(name, value, "an object")
            value = {}
        return _Reader(value, self.key(name), self._problems)

    def items(self) -> list[tuple[str, Any]]:
        return list(self._data.items())

    def sequence(self, name: str) -> list[Any]:
        value = self._raw(name)
        if value is _MISSING or value is None:
            return []
        if not isinstance(value, list):
            self.problem(name, value, "a list")
            return []
        return value

    def finish(self, known: Sequence[str] = ()) -> None:
        """Report keys nobody read: a typo must not be silently ignored."""
        for name in self._data:
            if name not in self._seen and name not in known:
                self._problems.append(
                    f"{self.key(name)}: unknown key; allowed keys here are "
                    f"{', '.join(sorted(self._seen | set(known))) or 'none'}"
                )


def _resources(r: _Reader, default: Resources) -> Resources:
    cpu = {"check": q.is_cpu, "expected": "a CPU quantity such as 250m or 1"}
    mem = {"check": q.is_memory, "expected": "a memory quantity such as 256Mi or 1Gi"}
    req, lim = r.section("requests"), r.section("limits")
    res = Resources(
        cpu_request=req.text("cpu", default.cpu_request, **cpu),
        memory_request=req.text("memory", default.memory_request, **mem),
        cpu_limit=lim.text("cpu", default.cpu_limit, **cpu),
        memory_limit=lim.text("memory", default.memory_limit, **mem),
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


def _default_image(name: str) -> str:
    return FRONTEND_IMAGE if name == "frontend" else STANDIN_IMAGE


def _service(r: _Reader, name: str, profile: Profile, environment: str) -> ServiceSettings:
    image = r.text("image", _default_image(name), check=q.is_image,
                  expected="an image reference such as registry.example.com/webapp-api:1.2.3")
    if environment == "production" and q.image_tag(image) == "latest" and "@sha256:" not in image:
        r.problem("image", image, "a pinned tag or digest in production (not latest)")
    replicas = r.integer("replicas", profile.replicas, minimum=1, maximum=100)
    autoscaling: Optional[Autoscaling] = None
    default_bounds = profile.autoscaling
    if default_bounds and name == "api" and profile.api_max_replicas:
        default_bounds = (default_bounds[0], profile.api_max_replicas)
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


def _storage_class(r: _Reader) -> Optional[str]:
    return r.opt_text("storageClass", check=q.is_dns_label, expected="a StorageClass name (DNS-1123 label)")


def _data_service(r: _Reader, image: str, replicas: int, persistence: bool, size: str,
                  resources: Resources, max_replicas: int) -> DataServiceSettings:
    settings = DataServiceSettings(
        image=r.text("image", image, check=q.is_image, expected="an image reference"),
        replicas=r.integer("replicas", replicas, minimum=1, maximum=max_replicas),
        persistence=r.flag("persistence", persistence),
        storage_size=r.text("storageSize", size, check=q.is_memory, expected="a storage quantity such as 10Gi"),
        storage_class=_storage_class(r),
        resources=_resources(r.section("resources"), resources),
    )
    r.finish()
    return settings


def _subject(r: _Reader, index: int, value: Any) -> Optional[Subject]:
    key = f"{r.key('namespaceDeleters')}[{index}]"
    if not isinstance(value, Mapping):
        r._problems.append(f"{key}: {value!r} is not allowed; expected an object with kind and name")
        return None
    sub = _Reader(value, key, r._problems)
    kind = sub.opt_text("kind", allowed=SUBJECT_KINDS)
    name = sub.opt_text("name", expected="a user, group or service account name")
    namespace = sub.opt_text("namespace", check=q.is_dns_label, expected="a namespace name")
    sub.finish()
    if kind is None or name is None:
        if kind is None and "kind" not in value:
            r._problems.append(f"{key}.kind: missing; expected one of {', '.join(SUBJECT_KINDS)}")
        if name is None and "name" not in value:
            r._problems.append(f"{key}.name: missing; expected a name")
        return None
    if kind == "ServiceAccount" and namespace is None:
        r._problems.append(f"{key}.namespace: missing; a ServiceAccount subject needs its namespace")
        return None
    return Subject(kind=kind, name=name, namespace=namespace)


def _check_capacity(settings: Settings, problems: list[str]) -> None:
    """The ResourceQuota must admit every workload at its maximum scale, or scaling stalls."""
    workloads: list[tuple[int, Resources]] = [(s.max_replicas, s.resources) for s in settings.services.values()]
    workloads.append((settings.nats.replicas, settings.nats.resources))
    workloads.append((1, settings.redis.resources))
    if settings.database.mode == "in-cluster":
        workloads.append((1, settings.database.resources))
    if settings.scheduler.enabled:
        workloads.append((1, settings.scheduler.resources))
    try:
        pods = sum(n for n, _ in workloads)
        cpu = sum(n * q.cpu_millis(r.cpu_request) for n, r in workloads)
        mem = sum(n * q.memory_bytes(r.memory_request) for n, r in workloads)
    except ValueError:
        return  # a bad quantity was already reported
    quota = settings.quota
    if q.is_cpu(quota.requests_cpu) and q.cpu_millis(quota.requests_cpu) < cpu:
        problems.append(f"webapp:quota.requestsCpu: {quota.requests_cpu!r} is below what the workloads request "
                        f"at maximum scale ({cpu}m); raise it or lower maxReplicas/requests")
    if q.is_memory(quota.requests_memory) and q.memory_bytes(quota.requests_memory) < mem:
        problems.append(f"webapp:quota.requestsMemory: {quota.requests_memory!r} is below what the workloads request "
                        f"at maximum scale ({mem // 2**20}Mi); raise it or lower maxReplicas/requests")
    # +2: the backup Job and one rolling-update surge pod.
    if quota.pods < pods + 2:
        problems.append(f"webapp:quota.pods: {quota.pods} is below the pods needed at maximum scale ({pods + 2})")


KNOWN_TOP_LEVEL = (
    "cloud", "environment", "namespace", "domain", "logLevel", "kubernetes", "services", "scheduler",
    "database", "redis", "nats", "routing", "addons", "monitoring", "quota", "namespaceDeleters",
    "protect", "smtpHost", "broadcasterWebhookUrl",
    # Read by the cloud components (issues 3 and 4); accepted here so one stack file can carry both.
    "aws", "azure",
)


def parse_settings(raw: Mapping[str, Any], stack: str) -> Settings:
    """Parse decoded `webapp:*` config for `stack`. Raises SettingsError listing every problem."""
    problems: list[str] = []
    data: dict[str, Any] = {}
    for full_key, value in raw.items():
        project, _, key = full_key.partition(":")
        if project == NAMESPACE:
            data[key] = value
    r = _Reader(data, f"{NAMESPACE}:", problems)

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
                      check=q.is_dns_label, expected="a DNS-1123 label of at most 63 characters")
    domain = r.opt_text("domain", check=q.is_hostname, expected="a hostname such as app.example.com")
    if domain is None and not r.has("domain"):
        problems.append("webapp:domain: missing; set the public hostname, e.g. app.example.com")
    log_level = r.text("logLevel", profile.log_level, allowed=LOG_LEVELS)

    k = r.section("kubernetes")
    kubernetes = KubernetesSettings(
        context=k.opt_text("context", expected="a kubeconfig context name") or "",
        kubeconfig=k.opt_text("kubeconfig", expected="a path to a kubeconfig file"),
        cluster_dns_ip=k.text("clusterDnsIp", "10.96.0.10", check=q.is_ip, expected="an IP address"),
    )
    if not kubernetes.context and not k.has("context"):
        problems.append("webapp:kubernetes.context: missing; name the kubeconfig context to deploy to "
                        "(the ambient context is never used)")
    k.finish()

    svc_reader = r.section("services")
    services = {name: _service(svc_reader.section(name), name, profile, environment) for name in APP_SERVICES}
    svc_reader.finish()

    s = r.section("scheduler")
    scheduler = SchedulerSettings(
        enabled=s.flag("enabled", True),
        image=s.text("image", "curlimages/curl:8.17.0", check=q.is_image, expected="an image reference"),
        schedule=s.text("schedule", "0 * * * *", check=q.is_cron, expected="a five-field cron expression"),
        resources=_resources(s.section("resources"), Resources(cpu_request="10m", memory_request="16Mi",
                                                           cpu_limit="100m", memory_limit="64Mi")),
    )
    s.finish()

    d = r.section("database")
    b = d.section("backup")
    backup = BackupSettings(
        schedule=b.text("schedule", "0 2 * * *", check=q.is_cron, expected="a five-field cron expression"),
        retention_days=b.integer("retentionDays", 7, minimum=1, maximum=365),
        storage_size=b.text("storageSize", "10Gi", check=q.is_memory, expected="a storage quantity"),
    )
    b.finish()
    ident = {"check": lambda v: bool(re.match(r"^[a-z_][a-z0-9_]{0,62}$", v)),
             "expected": "a PostgreSQL identifier (lower case, digits, underscore; at most 63)"}
    database = DatabaseSettings(
        mode=d.text("mode", "in-cluster", allowed=DATABASE_MODES),
        name=d.text("name", "webapp", **ident),
        username=d.text("username", "webapp", **ident),
        image=d.text("image", "postgres:16.10-alpine", check=q.is_image, expected="an image reference"),
        storage_size=d.text("storageSize", profile.database_storage, check=q.is_memory, expected="a storage quantity"),
        storage_class=_storage_class(d),
        resources=_resources(d.section("resources"), profile.database_resources),
        backup=backup,
    )
    if database.mode == "managed" and cloud == "none":
        d.problem("mode", "managed", "in-cluster when webapp:cloud is none (a managed database needs aws or azure)")
    d.finish()

    data_res = _DATA_RESOURCES_PRODUCTION if environment == "production" else _DATA_RESOURCES
    redis = _data_service(r.section("redis"), "redis:7.4.6-alpine", 1, profile.redis_persistence, "5Gi", data_res, 1)
    nats = _data_service(r.section("nats"), "nats:2.11.8-alpine", profile.nats_replicas, profile.nats_persistence,
                         "10Gi", data_res, 7)
    if nats.replicas == 2:
        problems.append("webapp:nats.replicas: 2 is not allowed; expected 1 or an odd number of at least 3 "
                        "(a two-node NATS cluster cannot keep a JetStream quorum)")

    ro = r.section("routing")
    routing = RoutingSettings(
        mode=ro.text("mode", "gateway", allowed=ROUTING_MODES),
        ingress_class=ro.text("ingressClassName", "nginx", check=q.is_dns_label, expected="an IngressClass name"),
        issuer=ro.text("issuer", profile.issuer, allowed=ISSUERS),
        acme_email=ro.opt_text("acmeEmail", check=q.is_email, expected="an e-mail address"),
        acme_server=ro.text("acmeServer", LETSENCRYPT, check=lambda v: v.startswith("https://"),
                           expected="an https:// ACME directory URL"),
        rate_limit_per_minute=ro.integer("rateLimitPerMinute", 100, minimum=1, maximum=100000),
        websocket_timeout_seconds=ro.integer("websocketTimeoutSeconds", 3600, minimum=60, maximum=86400),
    )
    if routing.issuer == "acme" and routing.acme_email is None and not ro.has("acmeEmail"):
        problems.append("webapp:routing.acmeEmail: missing; the acme issuer needs a contact e-mail "
                        "(or set webapp:routing.issuer to selfsigned)")
    ro.finish()

    a = r.section("addons")
    addons = AddonSettings(
        cert_manager=a.text("certManager", "install", allowed=ADDON_MODES),
        gateway=a.text("gateway", "install", allowed=ADDON_MODES),
        monitoring_stack=a.text("monitoringStack", "install", allowed=ADDON_MODES),
    )
    a.finish()

    m = r.section("monitoring")
    monitoring = MonitoringSettings(
        enabled=m.flag("enabled", profile.monitoring),
        retention=m.text("retention", "30d", check=q.is_duration, expected="a duration such as 30d"),
        storage_size=m.text("storageSize", "50Gi", check=q.is_memory, expected="a storage quantity"),
        storage_class=_storage_class(m),
    )
    m.finish()

    qr = r.section("quota")
    pq = profile.quota
    cpu = {"check": q.is_cpu, "expected": "a CPU quantity"}
    mem = {"check": q.is_memory, "expected": "a memory quantity"}
    quota = QuotaSettings(
        requests_cpu=qr.text("requestsCpu", pq.requests_cpu, **cpu),
        requests_memory=qr.text("requestsMemory", pq.requests_memory, **mem),
        limits_cpu=qr.text("limitsCpu", pq.limits_cpu, **cpu),
        limits_memory=qr.text("limitsMemory", pq.limits_memory, **mem),
        pods=qr.integer("pods", pq.pods, minimum=1, maximum=10000),
        persistent_volume_claims=qr.integer("persistentVolumeClaims", pq.persistent_volume_claims, minimum=0, maximum=1000),
        requests_storage=qr.text("requestsStorage", pq.requests_storage, **mem),
    )
    qr.finish()

    deleters = tuple(
        sub for i, v in enumerate(r.sequence("namespaceDeleters")) if (sub := _subject(r, i, v)) is not None
    )
    if environment == "production" and not deleters and not r.has("namespaceDeleters"):
        problems.append("webapp:namespaceDeleters: missing; production needs the identity allowed to delete the "
                        "namespace, e.g. [{kind: Group, name: webapp-deprovisioners}]")

    protect = r.flag("protect", profile.protect)
    smtp_host = r.text("smtpHost", "smtp.example.com", check=q.is_hostname, expected="a hostname")
    webhook = r.opt_text("broadcasterWebhookUrl", check=lambda v: v.startswith(("https://", "http://")),
                    expected="an http(s):// URL (set it as a secret)")
    r.finish(KNOWN_TOP_LEVEL)

    settings = Settings(
        stack=stack, environment=environment, cloud=cloud or "none", namespace=namespace or "webapp",
        domain=domain or "invalid.example", log_level=log_level, kubernetes=kubernetes,
        services=services, scheduler=scheduler, database=database, redis=redis, nats=nats, routing=routing,
        addons=addons, monitoring=monitoring, quota=quota, namespace_deleters=deleters, protect=protect,
        smtp_host=smtp_host, broadcaster_webhook_url=webhook,
    )
    _check_capacity(settings, problems)
    if problems:
        raise SettingsError(problems)
    return settings
