"""Stack settings: the frozen, typed dataclasses every component reads, and the per-environment
profiles (the defaults the old Kustomize overlays carried; a stack file states only what differs).

Pure module (no Pulumi import). `components.parsing.parse_settings` builds `Settings` from config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping, Optional, Sequence, get_args

from components.config.aws import AwsSettings
from components.config.azure import AzureSettings
from components.config.credentials import PLACEHOLDERS, CredentialSettings
from components.config.metrics import MetricsSettings
from components.config.rotation import SecretRotation

NAMESPACE = "webapp"

# Modes are Literal types: components compare against them, and mypy (strict equality) rejects a
# comparison with a value the type does not have, so `settings.cloud == "asw"` is a type error.
Environment = Literal["dev", "staging", "production"]
Cloud = Literal["none", "aws", "azure"]
LogLevel = Literal["Trace", "Debug", "Information", "Warning", "Error", "Critical"]
DatabaseMode = Literal["in-cluster", "managed"]
"""`in-cluster` runs PostgreSQL as a StatefulSet; `managed` uses the cloud's service."""
RoutingMode = Literal["gateway", "ingress"]
"""`gateway`: Gateway API through Envoy Gateway; `ingress`: an existing ingress controller."""
Issuer = Literal["selfsigned", "acme"]
AddonMode = Literal["install", "present"]
"""`install`: this program installs the add-on; `present`: the cluster already has it."""
SubjectKind = Literal["User", "Group", "ServiceAccount"]
Delivery = Literal["rolling", "canary", "blue-green"]
"""`rolling`: a Deployment; `canary` / `blue-green`: an Argo Rollout with analysis."""
MtlsMode = Literal["strict", "permissive"]
MTLS_MODES: tuple[MtlsMode, ...] = get_args(MtlsMode)
Autoscaler = Literal["hpa", "keda"]
"""Who scales an autoscaled service: an HPA on CPU/memory, or a KEDA ScaledObject (CPU/memory and
the service's load trigger). Never both: KEDA creates its own HPA for the workload."""
DELIVERIES: tuple[Delivery, ...] = get_args(Delivery)
AUTOSCALERS: tuple[Autoscaler, ...] = get_args(Autoscaler)

ENVIRONMENTS: tuple[Environment, ...] = get_args(Environment)
CLOUDS: tuple[Cloud, ...] = get_args(Cloud)
LOG_LEVELS: tuple[LogLevel, ...] = get_args(LogLevel)
DATABASE_MODES: tuple[DatabaseMode, ...] = get_args(DatabaseMode)
ROUTING_MODES: tuple[RoutingMode, ...] = get_args(RoutingMode)
PullPolicy = Literal["IfNotPresent", "Always"]
Receiver = Literal["none", "slack", "webhook", "pagerduty"]
RECEIVERS: tuple[Receiver, ...] = ("none", "slack", "webhook", "pagerduty")
"""Where Alertmanager sends one severity: nowhere, a Slack incoming webhook, any webhook, or
PagerDuty (Events API v2)."""
PULL_POLICIES: tuple[PullPolicy, ...] = get_args(PullPolicy)
ISSUERS: tuple[Issuer, ...] = get_args(Issuer)
ADDON_MODES: tuple[AddonMode, ...] = get_args(AddonMode)
SUBJECT_KINDS: tuple[SubjectKind, ...] = get_args(SubjectKind)
LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
IN_CLUSTER_PROMETHEUS = "http://kube-prometheus-stack-prometheus.{namespace}.svc.cluster.local:9090"
"""The Service kube-prometheus-stack 79.7.1 names `<fullname>-prometheus` (the release name
`kube-prometheus-stack`, 21 characters, within its 26-character cut; templates/prometheus/
service.yaml), on its default port."""


class SettingsError(Exception):
    """Raised with every configuration problem found; nothing has been declared yet."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__(
            f"{len(self.problems)} configuration problem(s):\n"
            + "\n".join(f"  - {problem}" for problem in self.problems)
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
    """HPA or KEDA bounds; targets are 70% CPU / 80% memory (seed 000/002/003)."""

    min_replicas: int
    max_replicas: int
    cpu_percent: int = 70
    memory_percent: int = 80
    autoscaler: Autoscaler = "hpa"
    load_threshold: Optional[int] = None
    """KEDA only: the per-replica value of the service's load trigger (`catalogue.LOAD_TRIGGERS`)
    above which it scales out; None when the service has no load trigger."""


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """One application service. `autoscaling` set means the HPA owns the replica count."""

    name: str
    image: str
    replicas: int
    autoscaling: Optional[Autoscaling]
    resources: Resources
    env: tuple[tuple[str, str], ...] = ()
    image_pull_policy: PullPolicy = "IfNotPresent"
    """The stack's `webapp:imagePullPolicy`, set on every container of the workload."""
    delivery: Delivery = "rolling"
    """How a new version replaces the running one: a rolling Deployment update, or an Argo
    Rollout canary (traffic steps with analysis) or blue-green (preview, analysis, switch)."""

    @property
    def progressive(self) -> bool:
        """Whether an Argo Rollout runs the pods (canary or blue-green)."""
        return self.delivery != "rolling"

    @property
    def keda(self) -> bool:
        return self.autoscaling is not None and self.autoscaling.autoscaler == "keda"

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
    image_pull_policy: PullPolicy = "IfNotPresent"
    """The stack's `webapp:imagePullPolicy`, set on every container of the workload."""


@dataclass(frozen=True, kw_only=True)
class DataServiceSettings:
    """An in-cluster StatefulSet (NATS, Redis)."""

    image: str
    replicas: int
    persistence: bool
    storage_size: str
    storage_class: Optional[str]
    resources: Resources
    image_pull_policy: PullPolicy = "IfNotPresent"
    """The stack's `webapp:imagePullPolicy`, set on every container of the workload."""


@dataclass(frozen=True, kw_only=True)
class BackupSettings:
    schedule: str
    retention_days: int
    storage_size: str


@dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    """`mode: in-cluster` runs PostgreSQL as a StatefulSet; `managed` uses the cloud's service."""

    mode: DatabaseMode
    name: str
    username: str
    image: str
    storage_size: str
    storage_class: Optional[str]
    resources: Resources
    backup: BackupSettings
    image_pull_policy: PullPolicy = "IfNotPresent"
    """The stack's `webapp:imagePullPolicy`, set on every container of the workload."""


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
class BranchListener:
    """`routing.branches`: this stack's Gateway also serves `*.<domain>` for branch stacks."""

    issuer: Optional[str] = None
    """An existing ClusterIssuer that can issue the wildcard certificate (ACME DNS-01)."""
    secret_name: Optional[str] = None
    """Or an existing TLS Secret in this namespace holding a `*.<domain>` certificate."""
    resource_group: str = ""
    """`resourceGroup`: the Azure resource group the review stacks' cloud resources live in, their
    own and not this stack's, so that the review identity (which runs pull-request code) can write
    there and nowhere else."""
    deployers: tuple[Subject, ...] = ()
    """`deployers`: the review identity as Kubernetes knows it; each review namespace binds it to
    the ClusterRole `webapp-review-deployer` (rights in that namespace only)."""
    admins: tuple[Subject, ...] = ()
    """`admins`: the identity of the base-branch job that creates and deletes review namespaces
    (ClusterRole `webapp-review-admin`); it never runs pull-request code."""


GATEWAY_LABEL = "webapp.io/gateway"
"""Namespace label: the namespace whose Gateway may carry this namespace's routes (branches)."""


@dataclass(frozen=True, kw_only=True)
class RoutingSettings:
    """Edge routing. `gateway` = Gateway API via Envoy Gateway; `ingress` = NGINX-family Ingress."""

    mode: RoutingMode
    ingress_class: str
    issuer: Issuer
    acme_email: Optional[str]
    acme_server: str
    rate_limit_per_minute: int
    websocket_timeout_seconds: int
    controller_namespace: str
    """Namespace of the gateway/ingress controller's proxies, allowed through the NetworkPolicies.
    """
    proxy_min_replicas: int = 1
    """Envoy proxies of the Gateway (gateway mode): at least this many."""
    proxy_max_replicas: int = 1
    """At most this many; above `proxy_min_replicas` an HPA scales them on CPU."""
    branches: Optional[BranchListener] = None
    """Set on the stack that hosts branch environments (staging): a wildcard listener."""
    shared_gateway: Optional[str] = None
    """Set on a branch stack: the namespace whose Gateway `webapp` serves it (no Gateway, proxies,
    load balancer or certificate of its own)."""


@dataclass(frozen=True, kw_only=True)
class AddonSettings:
    """Per cluster add-on: `install` (this program installs it) or `present` (already there)."""

    cert_manager: AddonMode
    gateway: AddonMode
    monitoring_stack: AddonMode
    external_secrets: AddonMode
    reloader: AddonMode = "install"
    """Stakater Reloader: rolls a workload when a Secret it reads changes (rotation)."""
    argo_rollouts: AddonMode = "install"
    """Argo Rollouts with the Gateway API plugin (used when a service is canary or blue-green)."""
    keda: AddonMode = "install"
    """KEDA (used when a service's autoscaler is keda)."""
    istio: AddonMode = "install"
    """Istio base + istiod (used when the mesh is on)."""
    rabbitmq_operator: AddonMode = "install"
    """The RabbitMQ Cluster Operator (used when `rabbitmq.enabled`)."""
    eck: AddonMode = "install"
    """Elastic's ECK operator (used when `elasticsearch.enabled`)."""


@dataclass(frozen=True, kw_only=True)
class MonitoringSettings:
    enabled: bool
    namespace: str
    """Namespace of Prometheus/Grafana (created when the stack is installed by this program)."""
    retention: str
    storage_size: str
    storage_class: Optional[str]
    prometheus_url: Optional[str] = None
    """`monitoring.prometheusUrl`: the Prometheus that Rollout analysis and KEDA query when it is
    not the one this program installs (None: the in-cluster kube-prometheus-stack)."""
    alerting: tuple[tuple[str, Receiver], ...] = (
        ("critical", "none"),
        ("warning", "none"),
        ("info", "none"),
    )
    """`monitoring.alerting.<severity>`: the receiver of each severity (its endpoint is the
    `webapp-alerting` key of the same name). Default: none anywhere."""
    grafana_url: str
    """`monitoring.grafanaUrl`: Grafana's external root URL, https, no trailing slash: alerts link
    their dashboards under it. Default: `https://grafana.<domain>`."""
    runbook_url: str = "https://github.com/OWNER/REPO/blob/main/README.md"
    """`monitoring.runbookUrl`: this repository's README.md as the team reads it, https: alerts
    link their runbook sections in it (`#<alert name, lowercased>`). Default: a placeholder to
    replace with the repository's own address."""

    @property
    def receivers(self) -> dict[str, Receiver]:
        return dict(self.alerting)

    @property
    def routes_alerts(self) -> bool:
        """Whether Alertmanager sends any severity anywhere (monitoring on, a receiver set)."""
        return self.enabled and any(receiver != "none" for _, receiver in self.alerting)


@dataclass(frozen=True, kw_only=True)
class BrokerSettings:
    """An optional stateful service run by its upstream operator (seed 004): RabbitMQ through
    the RabbitMQ Cluster Operator, Elasticsearch through Elastic's ECK. Off by default."""

    enabled: bool = False
    replicas: int = 1
    version: str = ""
    """The RabbitMQ image, or the Elasticsearch version ECK runs."""
    storage_size: str = "10Gi"
    storage_class: Optional[str] = None
    clients: tuple[str, ...] = ()
    """The catalogued services that connect (NetworkPolicy, and the Secret they read)."""
    resources: Optional[Resources] = None


RABBITMQ_IMAGE = "rabbitmq:4.2.6-management"
"""The image the RabbitMQ Cluster Operator v2.22.3 defaults to (cmd/main.go), pinned here."""
ELASTICSEARCH_VERSION = "9.1.0"
"""The Elasticsearch version ECK runs (ECK 3.5.0 supports 8.x and 9.x)."""


@dataclass(frozen=True, kw_only=True)
class MeshSettings:
    """`webapp:mesh`: Istio sidecars in the namespace, mTLS STRICT, AuthorizationPolicies."""

    enabled: bool = False
    namespace: str = "istio-system"
    """Where istiod runs (installed there by this program, or already)."""
    mtls: MtlsMode = "strict"
    """`strict`: mTLS only, and AuthorizationPolicies; `permissive`: plain text still admitted and
    no AuthorizationPolicies, the step for turning the mesh on in a running stack (its pods get
    their sidecars only as they restart; README "The mesh")."""


@dataclass(frozen=True, kw_only=True)
class KubernetesSettings:
    """Which cluster: an explicit kubeconfig context, never the ambient one."""

    context: str
    kubeconfig: Optional[str]
    cluster_dns_ip: str
    api_server_cidr: Optional[str] = None
    """Where the API server answers the pods (`kubernetes.apiServerCidr`): the release gates may
    reach only there. None: the VPC on AWS (EKS's API endpoints are network interfaces in the
    cluster's subnets), anywhere elsewhere."""


@dataclass(frozen=True, kw_only=True)
class Subject:
    """An RBAC subject (the namespace's deprovisioning identity)."""

    kind: SubjectKind
    name: str
    namespace: Optional[str] = None


@dataclass(frozen=True, kw_only=True)
class Settings:
    stack: str
    environment: Environment
    cloud: Cloud
    namespace: str
    domain: str
    log_level: LogLevel
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
    namespace_provided: bool = False
    """`webapp:namespaceProvided`: the namespace exists already, created and labelled by someone
    else (a review stack's, by the review workflow's base-branch job); the program reads it and
    never creates, relabels or deletes it. Default false: the program owns its namespace."""
    protect: bool
    smtp_host: str
    broadcaster_webhook_url: Optional[str] = field(default=None, repr=False)
    credentials: CredentialSettings = PLACEHOLDERS
    image_pull_policy: PullPolicy = "IfNotPresent"
    """`webapp:imagePullPolicy`: every container this program declares pulls with it."""
    mesh: MeshSettings = MeshSettings()
    """`webapp:mesh`: off unless a stack turns it on."""
    rabbitmq: BrokerSettings = BrokerSettings()
    """`webapp:rabbitmq`: off unless a stack turns it on."""
    elasticsearch: BrokerSettings = BrokerSettings()
    """`webapp:elasticsearch`: off unless a stack turns it on."""
    metrics: MetricsSettings = MetricsSettings()
    """`webapp:metrics`: the request metrics each service's image publishes (`config.metrics`)."""
    secret_rotation: SecretRotation = SecretRotation()
    """`webapp:secretRotation`: the two generations of the rotated credentials and the one clients
    use (`config.rotation`)."""
    """Where the external credentials (OAuth, SMTP) come from (`webapp:credentials`)."""
    aws: Optional[AwsSettings] = None
    """The EKS cluster and RDS settings; always parsed when present, required when cloud is aws."""
    azure: Optional[AzureSettings] = None
    """The AKS cluster, Key Vault and Flexible Server settings; parsed when present, required when
    cloud is azure.
    """

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def progressive(self) -> bool:
        """Whether any service is delivered by an Argo Rollout."""
        return any(service.progressive for service in self.services.values())

    @property
    def uses_keda(self) -> bool:
        return any(service.keda for service in self.services.values())

    @property
    def prometheus_url(self) -> Optional[str]:
        """The Prometheus analysis and KEDA query: the configured one, or the in-cluster stack's
        (None when there is neither)."""
        if self.monitoring.prometheus_url:
            return self.monitoring.prometheus_url
        if self.monitoring.enabled and self.addons.monitoring_stack == "install":
            return IN_CLUSTER_PROMETHEUS.format(namespace=self.monitoring.namespace)
        return None

    @property
    def uses_external_secrets(self) -> bool:
        """External Secrets Operator delivers the Secrets on AWS, and on Azure unless the CSI
        driver does."""
        if self.cloud == "aws":
            return True
        return (
            self.cloud == "azure"
            and self.azure is not None
            and self.azure.delivery == "external-secrets"
        )


# --------------------------------------------------------------------------------------------
# Environment profiles: the defaults each overlay used to carry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Profile:
    replicas: int
    autoscaling: Optional[tuple[int, int]]
    log_level: LogLevel
    app_resources: Resources
    nats_replicas: int
    nats_persistence: bool
    redis_persistence: bool
    database_storage: str
    database_resources: Resources
    monitoring: bool
    issuer: Issuer
    proxy_replicas: tuple[int, int]
    """The Gateway's Envoy proxies: (min, max)."""
    quota: QuotaSettings
    protect: bool


PROFILES: Mapping[Environment, Profile] = {
    "dev": Profile(
        replicas=1,
        autoscaling=None,
        log_level="Debug",
        app_resources=Resources(
            cpu_request="50m", memory_request="64Mi", cpu_limit="250m", memory_limit="256Mi"
        ),
        nats_replicas=1,
        nats_persistence=False,
        redis_persistence=False,
        database_storage="2Gi",
        database_resources=Resources(
            cpu_request="100m", memory_request="256Mi", cpu_limit="500m", memory_limit="512Mi"
        ),
        monitoring=False,
        issuer="selfsigned",
        proxy_replicas=(1, 1),
        protect=False,
        quota=QuotaSettings(
            requests_cpu="4",
            requests_memory="8Gi",
            limits_cpu="8",
            limits_memory="16Gi",
            pods=30,
            persistent_volume_claims=10,
            requests_storage="50Gi",
        ),
    ),
    "staging": Profile(
        replicas=2,
        autoscaling=None,
        log_level="Information",
        app_resources=Resources(
            cpu_request="100m", memory_request="128Mi", cpu_limit="500m", memory_limit="512Mi"
        ),
        nats_replicas=1,
        nats_persistence=True,
        redis_persistence=True,
        database_storage="10Gi",
        database_resources=Resources(
            cpu_request="250m", memory_request="512Mi", cpu_limit="1", memory_limit="1Gi"
        ),
        monitoring=True,
        issuer="acme",
        proxy_replicas=(2, 2),
        protect=False,
        quota=QuotaSettings(
            requests_cpu="8",
            requests_memory="16Gi",
            limits_cpu="16",
            limits_memory="32Gi",
            pods=40,
            persistent_volume_claims=15,
            requests_storage="200Gi",
        ),
    ),
    "production": Profile(
        replicas=3,
        autoscaling=(3, 10),
        log_level="Warning",
        app_resources=Resources(
            cpu_request="250m", memory_request="256Mi", cpu_limit="1", memory_limit="1Gi"
        ),
        nats_replicas=3,
        nats_persistence=True,
        redis_persistence=True,
        database_storage="50Gi",
        database_resources=Resources(
            cpu_request="500m", memory_request="1Gi", cpu_limit="2", memory_limit="4Gi"
        ),
        monitoring=True,
        issuer="acme",
        proxy_replicas=(2, 6),
        protect=True,
        # Room for a canary at full weight beside the stable pods at maxReplicas, and a mesh
        # sidecar in every pod (`config.capacity`).
        quota=QuotaSettings(
            requests_cpu="36",
            requests_memory="56Gi",
            limits_cpu="150",
            limits_memory="136Gi",
            pods=120,
            persistent_volume_claims=20,
            requests_storage="500Gi",
        ),
    ),
}

DATA_RESOURCES = Resources(
    cpu_request="50m", memory_request="128Mi", cpu_limit="500m", memory_limit="512Mi"
)
DATA_RESOURCES_PRODUCTION = Resources(
    cpu_request="500m", memory_request="512Mi", cpu_limit="1", memory_limit="1Gi"
)
ELASTICSEARCH_RESOURCES = Resources(
    cpu_request="500m", memory_request="2Gi", cpu_limit="1", memory_limit="2Gi"
)
"""An Elasticsearch node: ECK's default 2Gi (it sizes the heap to half the container's memory)."""
