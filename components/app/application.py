"""WebApp: the whole reference application on one cluster, composed from the other components.

The service catalogue below is the contract of seed 000/001: workload names, ports, health paths,
routes and who calls whom. Network policies on both sides of every connection are derived from
`calls`, so a new dependency is declared once and opened exactly.

Creates (parented to the component):
- `kubernetes.Provider` from the configured kubeconfig context (never the ambient context)
- ClusterAddons (cert-manager, Envoy Gateway + GatewayClass, monitoring namespace)
- NamespaceBaseline
- the stack's secret store (`stores.create_store`: generated, AWS or Azure) with the cloud's provider
- InClusterPostgres (database mode `in-cluster`), InClusterRedis, InClusterNats
- one HttpService per application service, and the Scheduler CronJob
- EdgeRouting (Gateway API or Ingress)
- Monitoring (alerts, dashboards) and PrometheusStack when monitoring is on
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure
import pulumi_kubernetes as k8s

from components.app.stores import create_store
from components.config.settings import STANDIN_IMAGE, Settings
from components.data.nats import CLIENT_PORT as NATS_PORT
from components.data.nats import InClusterNats, InClusterNatsArgs
from components.data.postgres import PORT as POSTGRES_PORT
from components.data.postgres import InClusterPostgres, InClusterPostgresArgs
from components.data.redis import PORT as REDIS_PORT
from components.data.redis import InClusterRedis, InClusterRedisArgs
from components.kube import objects as kx
from components.platform.addons import GATEWAY_CLASS, ClusterAddons, ClusterAddonsArgs, PrometheusStack, PrometheusStackArgs
from components.platform.edge import EdgeRouting, EdgeRoutingArgs, Route
from components.platform.monitoring import Monitoring, MonitoringArgs
from components.platform.namespace import NamespaceBaseline, NamespaceBaselineArgs
from components.secrets import catalogue as cat
from components.secrets.access import NO_ACCESS, SECRET_READING_SERVICES, SecretAccess
from components.workloads.http_service import HttpService, HttpServiceArgs, Probes
from components.workloads.nginx import Upstream, nginx_conf
from components.workloads.scheduler import Scheduler, SchedulerArgs

DATA_PORTS = {"postgres": POSTGRES_PORT, "redis": REDIS_PORT, "nats": NATS_PORT}


@dataclass(frozen=True, kw_only=True)
class AppService:
    """Fixed facts of one application service (what config may not change)."""

    name: str
    component: str
    port: int
    probes: Probes
    metrics_port: Optional[int] = None
    route: Optional[str] = None
    """Public path prefix; None for internal services."""
    websocket: bool = False
    calls: tuple[str, ...] = ()
    """In-namespace services it connects to (app services or postgres/redis/nats)."""
    internet_ports: tuple[int, ...] = ()
    """Ports it may reach outside the cluster (SMTP, OAuth providers, webhooks)."""


CATALOGUE: tuple[AppService, ...] = (
    AppService(name="frontend", component="web", port=8080, route="/",
               probes=Probes(startup="/healthz", liveness="/healthz", readiness="/healthz"),
               calls=("api", "websocket", "auth")),
    AppService(name="api", component="backend", port=8080, metrics_port=9091, route="/api",
               probes=Probes(startup="/health/startup", liveness="/health/live", readiness="/health/ready"),
               calls=("postgres", "redis", "nats"), internet_ports=(587,)),
    AppService(name="websocket", component="realtime", port=3002, route="/ws", websocket=True,
               probes=Probes(startup="/health", liveness="/health", readiness="/health"),
               calls=("redis", "nats")),
    AppService(name="auth", component="auth", port=3003, route="/auth",
               probes=Probes(startup="/health", liveness="/health", readiness="/health"),
               calls=("postgres", "redis"), internet_ports=(443,)),
    AppService(name="broadcaster", component="messaging", port=8002, metrics_port=7777,
               probes=Probes(startup="/healthz", liveness="/healthz", readiness="/health"),
               calls=("nats", "broadcaster"), internet_ports=(443,)),
)
SCHEDULER_CALLS = ("api",)


def needs_external_secrets(s: Settings) -> bool:
    """External Secrets Operator delivers the Secrets on AWS, and on Azure unless the CSI driver does."""
    return s.cloud == "aws" or (s.cloud == "azure" and s.azure is not None and s.azure.delivery == "external-secrets")


def callers_of(target: str) -> tuple[str, ...]:
    """App names that connect to `target`, derived from the catalogue's `calls`."""
    found = [s.name for s in CATALOGUE if target in s.calls]
    if target in SCHEDULER_CALLS:
        found.append("scheduler")
    return tuple(found)


def port_of(name: str) -> int:
    if name in DATA_PORTS:
        return DATA_PORTS[name]
    return next(s.port for s in CATALOGUE if s.name == name)


def service_env(service: AppService, settings: Settings) -> tuple[dict[str, str], dict[str, cat.SecretRef]]:
    """Plain and secret environment of each service (seed 000 names; secrets by reference only)."""
    env_name = {"dev": "Development", "staging": "Staging", "production": "Production"}[settings.environment]
    nats_url = f"nats://nats:{NATS_PORT}"
    origin = f"https://{settings.domain}"
    plain: dict[str, str] = {}
    secret: dict[str, cat.SecretRef] = {}
    if service.name == "api":
        plain = {"ASPNETCORE_ENVIRONMENT": env_name, "ASPNETCORE_URLS": f"http://+:{service.port}",
                 "Logging__LogLevel__Default": settings.log_level, "Metrics__Port": str(service.metrics_port),
                 "Email__SmtpHost": settings.smtp_host, "Nats__Url": nats_url, "Cors__AllowedOrigins": origin}
        secret = {
            "ConnectionStrings__DefaultConnection": cat.SecretRef(secret=cat.DATABASE, key="connection-string"),
            "Database__Host": cat.SecretRef(secret=cat.DATABASE, key="host"),
            "Database__Port": cat.SecretRef(secret=cat.DATABASE, key="port"),
            "Database__Name": cat.SecretRef(secret=cat.DATABASE, key="dbname"),
            "Database__Username": cat.SecretRef(secret=cat.DATABASE, key="username"),
            "Database__Password": cat.SecretRef(secret=cat.DATABASE, key="password"),
            "Redis__ConnectionString": cat.SecretRef(secret=cat.REDIS, key="connection-string"),
            "JwtSettings__SecretKey": cat.SecretRef(secret=cat.JWT, key="secret-key"),
            "Email__SmtpUsername": cat.SecretRef(secret=cat.SMTP, key="username"),
            "Email__SmtpPassword": cat.SecretRef(secret=cat.SMTP, key="password"),
        }
    elif service.name in ("websocket", "auth", "broadcaster"):
        node_env = "development" if settings.environment == "dev" else "production"
        plain = {"PORT": str(service.port), "NODE_ENV": node_env, "LOG_LEVEL": settings.log_level.lower(),
                 "NATS_URL": nats_url, "CORS_ORIGIN": origin}
        if service.name == "websocket":
            # Socket.io behind a proxy: websocket transport first, polling as fallback, sticky-free.
            plain.update({"SOCKET_PATH": "/ws/socket.io", "SOCKET_TRANSPORTS": "websocket,polling",
                          "TRUST_PROXY": "true"})
            secret = {"REDIS_URL": cat.SecretRef(secret=cat.REDIS, key="url")}
        elif service.name == "auth":
            plain.update({"PUBLIC_URL": origin, "OAUTH_CALLBACK_BASE": f"{origin}/auth"})
            secret = {"JWT_SECRET": cat.SecretRef(secret=cat.JWT, key="secret-key"),
                      "DATABASE_URL": cat.SecretRef(secret=cat.DATABASE, key="url"),
                      "REDIS_URL": cat.SecretRef(secret=cat.REDIS, key="url")}
            for provider in ("google", "github", "microsoft"):
                upper = provider.upper()
                secret[f"{upper}_CLIENT_ID"] = cat.SecretRef(secret=cat.OAUTH, key=f"{provider}-client-id")
                secret[f"{upper}_CLIENT_SECRET"] = cat.SecretRef(secret=cat.OAUTH, key=f"{provider}-client-secret")
        else:
            plain.update({"METRICS_PORT": str(service.metrics_port), "NATS_SUBJECT": "todos.events",
                          "NATS_QUEUE_GROUP": "broadcaster-workers"})
            secret = {"WEBHOOK_URL": cat.SecretRef(secret=cat.BROADCASTER, key="webhook-url")}
    if settings.services[service.name].image == STANDIN_IMAGE:
        plain["WHOAMI_PORT_NUMBER"] = str(service.port)
    return plain, secret


@dataclass(frozen=True, kw_only=True)
class WebAppArgs:
    settings: Settings


class WebApp(pulumi.ComponentResource):
    url: pulumi.Output[str]
    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: WebAppArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("webapp:app:WebApp", name, None, opts)
        s = args.settings
        self.provider = k8s.Provider(
            f"{name}-k8s", context=s.kubernetes.context, kubeconfig=s.kubernetes.kubeconfig,
            # Refuse to fall back to the ambient cluster if the context is missing or empty.
            enable_server_side_apply=True, delete_unreachable=False,
            opts=pulumi.ResourceOptions(parent=self))
        providers: dict[str, pulumi.ProviderResource] = {"kubernetes": self.provider}
        if s.cloud == "aws":
            assert s.aws is not None
            providers["aws"] = aws.Provider(
                f"{name}-aws", region=s.aws.region, allowed_account_ids=[s.aws.account_id],
                # Every AWS resource says which stack owns it.
                default_tags=aws.ProviderDefaultTagsArgs(tags={"app": "webapp", "stack": s.stack, **dict(s.aws.tags)}),
                opts=pulumi.ResourceOptions(parent=self))
        if s.cloud == "azure":
            assert s.azure is not None
            providers["azure-native"] = azure.Provider(
                f"{name}-azure", subscription_id=s.azure.subscription_id, tenant_id=s.azure.tenant_id,
                location=s.azure.location, opts=pulumi.ResourceOptions(parent=self))
        base = pulumi.ResourceOptions(parent=self, providers=providers)
        monitoring = s.monitoring.enabled
        mon_ns = s.monitoring.namespace if monitoring else None

        addons = ClusterAddons(f"{name}-addons", ClusterAddonsArgs(
            instance=s.stack, addons=s.addons, gateway=s.routing.mode == "gateway", monitoring=monitoring,
            monitoring_namespace=s.monitoring.namespace, external_secrets=needs_external_secrets(s),
            high_availability=s.is_production), opts=base)
        baseline = NamespaceBaseline(f"{name}-namespace", NamespaceBaselineArgs(
            namespace=s.namespace, instance=s.stack, environment=s.environment, quota=s.quota,
            deleters=s.namespace_deleters, protect=s.protect), opts=base)
        in_ns = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[baseline.namespace]))
        crds = addons.crd_providers

        secrets_deps = [baseline.namespace] + ([addons.monitoring_namespace] if addons.monitoring_namespace else [])
        secrets_opts = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=secrets_deps))
        store = create_store(name, s, addons, secrets_opts)
        access = store.secret_access
        readers: dict[str, k8s.core.v1.ServiceAccount] = {}

        if s.database.mode == "in-cluster":
            postgres = InClusterPostgres(f"{name}-postgres", InClusterPostgresArgs(
                namespace=s.namespace, instance=s.stack, settings=s.database, clients=callers_of("postgres"),
                secret_access=access), opts=in_ns)
            readers.update(postgres.service_accounts)
        redis = InClusterRedis(f"{name}-redis", InClusterRedisArgs(
            namespace=s.namespace, instance=s.stack, settings=s.redis, clients=callers_of("redis"),
            secret_access=access), opts=in_ns)
        readers.update(redis.service_accounts)
        prometheus_crds: list[pulumi.Resource] = []
        if monitoring and s.addons.monitoring_stack == "install":
            stack = PrometheusStack(f"{name}-prometheus", PrometheusStackArgs(
                monitoring=s.monitoring, namespace=s.monitoring.namespace, high_availability=s.is_production,
                depends_on=store.grafana_ready, grafana_values=store.grafana_values), opts=base)
            prometheus_crds = [stack.release]
        InClusterNats(f"{name}-nats", InClusterNatsArgs(
            namespace=s.namespace, instance=s.stack, settings=s.nats, clients=callers_of("nats"),
            monitoring_namespace=mon_ns, service_monitor=monitoring, crd_dependencies=prometheus_crds), opts=in_ns)

        gateway_ns = s.routing.controller_namespace
        for svc in CATALOGUE:
            service = self._service(name, svc, s, gateway_ns, mon_ns, prometheus_crds, access, in_ns)
            if svc.name in SECRET_READING_SERVICES:
                readers[f"{s.namespace}-{svc.name}"] = service.service_account
        if store.federate is not None:
            store.federate(readers)
        Scheduler(f"{name}-scheduler", SchedulerArgs(
            namespace=s.namespace, instance=s.stack, settings=s.scheduler,
            api_url=f"http://api:{port_of('api')}", api_port=port_of("api")), opts=in_ns)

        edge = EdgeRouting(f"{name}-edge", EdgeRoutingArgs(
            namespace=s.namespace, instance=s.stack, domain=s.domain, routing=s.routing,
            routes=tuple(Route(path=svc.route, service=svc.name, port=svc.port, websocket=svc.websocket)
                         for svc in sorted(CATALOGUE, key=lambda x: -len(x.route or "")) if svc.route),
            gateway_class=GATEWAY_CLASS, crd_dependencies=crds), opts=in_ns)
        if monitoring:
            Monitoring(f"{name}-monitoring", MonitoringArgs(
                namespace=s.namespace, instance=s.stack, services=tuple(svc.name for svc in CATALOGUE),
                crd_dependencies=prometheus_crds), opts=in_ns)

        self.url = edge.url
        self.namespace = baseline.namespace_name
        self.secret_names = pulumi.Output.from_input([spec.name for spec in cat.APP_SECRETS])
        self.store_outputs = store.outputs
        self.register_outputs({"url": self.url, "namespace": self.namespace, "secret_names": self.secret_names,
                               **self.store_outputs})

    def _egress(self, target: str, s: Settings) -> kx.Peer:
        if target == "postgres" and s.database.mode == "managed":
            # The managed database lives in the VPC/VNet, not in the cluster.
            network = s.aws.vpc_cidr if s.cloud == "aws" and s.aws else s.azure.vnet_cidr if s.azure else None
            assert network is not None, "a managed database needs a cloud"
            return kx.Peer(cidr=network, ports=(POSTGRES_PORT,))
        return kx.Peer(app=target, ports=(port_of(target),))

    def _service(self, name: str, svc: AppService, s: Settings, gateway_ns: str, mon_ns: Optional[str],
                 prometheus_crds: list[pulumi.Resource], access: SecretAccess, opts: pulumi.ResourceOptions) -> HttpService:
        callers: list[kx.Peer] = [kx.Peer(app=c, ports=(svc.port,)) for c in callers_of(svc.name)]
        if svc.route:
            callers.append(kx.Peer(namespace=gateway_ns, ports=(svc.port,)))
        if mon_ns and svc.metrics_port:
            callers.append(kx.Peer(namespace=mon_ns, ports=(svc.metrics_port,)))
        egress = [self._egress(target, s) for target in svc.calls]
        if svc.internet_ports:
            egress.append(kx.internet(svc.internet_ports))
        plain, secret = service_env(svc, s)
        files: dict[str, str] = {}
        files_path = "/etc/webapp"
        writable = ("/tmp",)
        if svc.name == "frontend":
            files = {"nginx.conf": nginx_conf(
                namespace=s.namespace, dns_ip=s.kubernetes.cluster_dns_ip,
                upstreams=tuple(Upstream(path=f"{t.route}/" if t.route != "/" else "/", host=t.name, port=t.port,
                                         websocket=t.websocket)
                                for t in CATALOGUE if t.name in svc.calls and t.route),
                websocket_timeout_seconds=s.routing.websocket_timeout_seconds)}
            files_path = "/etc/nginx"
        return HttpService(f"{name}-{svc.name}", HttpServiceArgs(
            app=svc.name, namespace=s.namespace, instance=s.stack, component=svc.component, settings=s.services[svc.name],
            port=svc.port, probes=svc.probes, metrics_port=svc.metrics_port, env=plain, secret_env=secret,
            files=files, files_path=files_path, callers=tuple(callers), egress=tuple(egress),
            writable_paths=writable, monitoring=mon_ns is not None, crd_dependencies=prometheus_crds,
            secret_access=access if svc.name in SECRET_READING_SERVICES else NO_ACCESS,
        ), opts=opts)
