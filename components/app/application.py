"""WebApp: the whole reference application on one cluster, composed from the other components.

The services and their connections come from the service catalogue (`config/catalogue.py`).
Network policies on both sides of every connection are derived from its `calls`, so a new
dependency is declared once and opened exactly.

Creates (parented to the component):
- `kubernetes.Provider` from the configured kubeconfig context (never the ambient context), and
  the AWS or Azure provider of the stack's cloud
- ClusterAddons (cert-manager, Envoy Gateway + GatewayClass, monitoring namespace)
- NamespaceBaseline
- the stack's secret store (`app.stores.create_store`: generated, AWS or Azure)
- InClusterPostgres (database mode `in-cluster`), InClusterRedis, InClusterNats
- one HttpService per catalogued service, and the Scheduler CronJob
- SecretSync, with the CSI driver when alerts are routed (it keeps the receivers' Secret synced)
- EdgeRouting (Gateway API or Ingress)
- Mesh (Istio mTLS and AuthorizationPolicies mirroring the NetworkPolicies) when the mesh is on
- Monitoring (alerts, dashboards) and PrometheusStack when monitoring is on
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.app.environment import service_env
from components.app.stores import create_store
from components.aws.provider import stack_provider as aws_provider
from components.aws.rds import rds_identifier
from components.azure.monitor import AddonScrape
from components.azure.postgres import server_id
from components.azure.provider import stack_provider as azure_provider
from components.config.catalogue import CATALOGUE, LOAD_TRIGGERS, SCHEDULER_CALLS, AppService
from components.config.settings import Settings
from components.data.brokers import (
    AMQP_PORT,
    ELASTICSEARCH,
    HTTP_PORT,
    RABBITMQ,
    BrokerArgs,
    InClusterElasticsearch,
    InClusterRabbitmq,
)
from components.data.database_roles import READERS as ROLES_READERS
from components.data.database_roles import ROLES, DatabaseRoles, DatabaseRolesArgs
from components.data.nats import CLIENT_PORT as NATS_PORT
from components.data.nats import READERS as NATS_READERS
from components.data.nats import InClusterNats, InClusterNatsArgs
from components.data.postgres import PORT as POSTGRES_PORT
from components.data.postgres import READERS as POSTGRES_READERS
from components.data.postgres import InClusterPostgres, InClusterPostgresArgs
from components.data.redis import PORT as REDIS_PORT
from components.data.redis import READERS as REDIS_READERS
from components.data.redis import InClusterRedis, InClusterRedisArgs
from components.kube import objects as kx
from components.platform.addons import (
    ECK_NAMESPACE,
    GATEWAY_API_PLUGIN_NAME,
    GATEWAY_CLASS,
    ClusterAddons,
    ClusterAddonsArgs,
    PrometheusStack,
    PrometheusStackArgs,
)
from components.platform.alerts import AlertLinks
from components.platform.dashboards import DashboardContext
from components.platform.dashboards.requests import RequestSignal, resolve
from components.platform.edge import (
    EdgeRouting,
    EdgeRoutingArgs,
    Route,
    canary_ingress,
    route_clusters,
)
from components.platform.mesh import Mesh, MeshArgs
from components.platform.monitoring import (
    ARGO_ROLLOUTS,
    CERT_MANAGER,
    EXTERNAL_SECRETS,
    Monitoring,
    MonitoringArgs,
    ScrapeTarget,
    envoy_target,
)
from components.platform.namespace import (
    NamespaceBaseline,
    NamespaceBaselineArgs,
    stack_namespace_labels,
)
from components.platform.review_access import ReviewAccess, ReviewAccessArgs
from components.secrets import catalogue as cat
from components.secrets.store import SecretAccess, SecretStore
from components.workloads import traffic as tr
from components.workloads.http_service import HttpService, HttpServiceArgs
from components.workloads.nginx import Upstream, nginx_conf
from components.workloads.release_gate import ANYWHERE
from components.workloads.scheduler import Scheduler, SchedulerArgs
from components.workloads.secret_sync import NAME as SECRET_SYNC
from components.workloads.secret_sync import SecretSync, SecretSyncArgs

DATA_PORTS = {"postgres": POSTGRES_PORT, "redis": REDIS_PORT, "nats": NATS_PORT}


def callers_of(target: str) -> tuple[str, ...]:
    """App names that connect to `target`, derived from the catalogue's `calls`."""
    found = [service.name for service in CATALOGUE if target in service.calls]
    if target in SCHEDULER_CALLS:
        found.append("scheduler")
    return tuple(found)


def gateway_proxy_pods(gateway_namespace: str) -> tuple[tuple[str, str], ...]:
    """The labels Envoy Gateway puts on the proxy pods of the Gateway `webapp` in
    `gateway_namespace`: `OwningGatewayNameLabel` and `OwningGatewayNamespaceLabel`
    (envoyproxy/gateway v1.7.0, internal/gatewayapi/translator.go), which the controller sets on
    the proxy Deployment and its pods, so another Gateway's proxies in the shared controller
    namespace are not admitted."""
    return (
        ("gateway.envoyproxy.io/owning-gateway-name", GATEWAY_NAME),
        ("gateway.envoyproxy.io/owning-gateway-namespace", gateway_namespace),
    )


GATEWAY_NAME = "webapp"
"""The Gateway every stack routes through (its own, or a branch's shared one)."""


def managed_prometheus(settings: Settings) -> bool:
    """Whether Azure Monitor's managed Prometheus agent scrapes the stack's pods."""
    return (
        settings.cloud == "azure"
        and settings.azure is not None
        and settings.azure.managed_prometheus
    )


def port_of(name: str) -> int:
    if name in DATA_PORTS:
        return DATA_PORTS[name]
    return next(service.port for service in CATALOGUE if service.name == name)


def routes(canary: Collection[str] = ()) -> tuple[Route, ...]:
    """The public routes of the catalogue, longest prefix first; the services in `canary` are
    split at the edge by Argo Rollouts (its Gateway API plugin, or ingress-nginx's canary)."""
    return tuple(
        Route(
            path=svc.route,
            service=svc.name,
            port=svc.port,
            websocket=svc.websocket,
            canary=svc.name in canary,
        )
        for svc in sorted(CATALOGUE, key=lambda route: -len(route.route or ""))
        if svc.route
    )


def traffic_routing(settings: Settings, svc: AppService) -> tr.Routing:
    """How the service's canary traffic is split: Istio in the mesh; outside it, the HTTPRoute
    (Gateway API plugin) or the Ingress (ingress-nginx's canary) of its public path; an unrouted
    service by the ratio of its pods."""
    if settings.services[svc.name].delivery != "canary":
        return tr.Routing(router="none")
    if settings.mesh.enabled:
        return tr.Routing(router="istio")
    if not svc.route:
        return tr.Routing(router="none")
    router: tr.TrafficRouter = "gateway-api" if settings.routing.mode == "gateway" else "nginx"
    if router == "nginx":
        # An Ingress of its own (`platform.edge`): the controller's canary Ingress copies whole
        # rules of the stable one, so a shared Ingress would carry every service's paths.
        route = canary_ingress(svc.name)
    else:
        route = "webapp-websocket" if svc.websocket else "webapp"
    return tr.Routing(
        router=router, route=route, namespace=settings.namespace, plugin=GATEWAY_API_PLUGIN_NAME
    )


def api_server_network(settings: Settings) -> str:
    """Where the API server answers the pods: `kubernetes.apiServerCidr`; else on AWS the VPC
    (EKS's `kubernetes` endpoints are the control plane's network interfaces in the cluster's
    subnets, whatever the public endpoint setting); else anywhere."""
    if settings.kubernetes.api_server_cidr:
        return settings.kubernetes.api_server_cidr
    if settings.cloud == "aws" and settings.aws is not None and settings.aws.vpc_cidr:
        return settings.aws.vpc_cidr
    return ANYWHERE


def edge_canaries(settings: Settings) -> tuple[str, ...]:
    """The services split at the edge: their HTTPRoute backends weighed by the Gateway API
    plugin, or their own Ingress copied into ingress-nginx's canary."""
    return tuple(
        svc.name
        for svc in CATALOGUE
        if traffic_routing(settings, svc).router in ("gateway-api", "nginx")
    )


def request_signals(settings: Settings, clusters: Mapping[str, str]) -> tuple[RequestSignal, ...]:
    """Where each service's requests are counted (`dashboards.requests.resolve`): its image's
    metrics contract, else its sidecars, else the stack's own Gateway's route to it."""
    own_gateway = settings.routing.mode == "gateway" and not settings.routing.shared_gateway
    found = (
        resolve(
            service.name,
            settings.metrics.published(service.name),
            settings.mesh.enabled,
            clusters.get(service.name) if own_gateway else None,
        )
        for service in CATALOGUE
    )
    return tuple(signal for signal in found if signal is not None)


@dataclass(frozen=True, kw_only=True)
class WebAppArgs:
    settings: Settings
    """The whole validated stack settings: the composition reads them all and hands each
    component only what it reads.
    """


class WebApp(pulumi.ComponentResource):
    url: pulumi.Output[str]
    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: WebAppArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("webapp:app:WebApp", name, None, opts)
        self._name, self._settings = name, args.settings
        settings = args.settings
        base = pulumi.ResourceOptions(parent=self, providers=self._create_providers())
        self._monitoring_namespace = (
            settings.monitoring.namespace if settings.monitoring.enabled else None
        )
        addons, baseline = self._platform(base)
        # In the mesh, what runs pods here also waits for istiod: a pod created before the
        # injector's webhook runs gets no sidecar, and mTLS STRICT would refuse its callers until
        # it was restarted. (The store does not: its cloud resources, RDS first, start at once.)
        in_namespace = pulumi.ResourceOptions.merge(
            base, pulumi.ResourceOptions(depends_on=[baseline.namespace, *addons.istio])
        )
        store = self._store(addons, baseline, base)
        # Every grant, then the store's seal, before the first workload: each workload is created
        # only once what it needs to become Ready exists (`SecretStore.wait_for`).
        self._readers = self._secret_readers(store)
        for account in self._readers:
            store.grant_read(namespace=settings.namespace, name=account)
        store.seal()
        prometheus_crds = self._prometheus(store, base)
        self._ingress: dict[str, tuple[kx.Peer, ...]] = {}
        """Per workload, what its NetworkPolicy admits (the mesh mirrors it)."""
        self._data_services(store, prometheus_crds, in_namespace)
        self._services(store, prometheus_crds, in_namespace)
        sync: list[pulumi.Resource] = []
        if SECRET_SYNC in self._readers:
            sync.append(self._secret_sync(store, in_namespace))
        self._brokers(store, addons, sync, in_namespace)
        Scheduler(
            f"{name}-scheduler",
            SchedulerArgs(
                namespace=settings.namespace,
                instance=settings.stack,
                settings=settings.scheduler,
                api_url=f"http://api:{port_of('api')}",
                api_port=port_of("api"),
            ),
            opts=in_namespace,
        )
        edge = self._edge(addons, prometheus_crds, in_namespace)
        if settings.mesh.enabled:
            Mesh(
                f"{name}-mesh",
                MeshArgs(
                    namespace=settings.namespace,
                    instance=settings.stack,
                    ingress=self._ingress,
                    plaintext_namespace=self._monitoring_namespace,
                    mesh_namespace=settings.mesh.namespace,
                    crd_dependencies=self._delivery_providers,
                    monitoring_dependencies=list(prometheus_crds),
                    strict=settings.mesh.mtls == "strict",
                ),
                opts=in_namespace,
            )
        self.url = edge.url
        self.namespace = baseline.namespace_name
        self.secret_names = pulumi.Output.from_input(
            [
                spec.name
                for spec in cat.app_secrets(
                    settings.rabbitmq.enabled, settings.elasticsearch.enabled
                )
            ]
        )
        self.store_outputs = dict(store.outputs)
        self.register_outputs(
            {
                "url": self.url,
                "namespace": self.namespace,
                "secret_names": self.secret_names,
                **self.store_outputs,
            }
        )

    def _secret_sync(self, store: SecretStore, opts: pulumi.ResourceOptions) -> SecretSync:
        settings = self._settings
        return SecretSync(
            f"{self._name}-secret-sync",
            SecretSyncArgs(
                namespace=settings.namespace,
                instance=settings.stack,
                secrets=self._readers[SECRET_SYNC],
                access=store.access(self._readers[SECRET_SYNC]),
                wait_for=self._wait(store, SECRET_SYNC),
            ),
            opts=opts,
        )

    def _brokers(
        self,
        store: SecretStore,
        addons: ClusterAddons,
        sync: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions,
    ) -> None:
        """RabbitMQ and Elasticsearch where the stack runs them, each once its Secret exists
        (synced by the SecretSync pod with the CSI driver) and its operator runs."""
        settings = self._settings
        brokers = (
            (
                settings.rabbitmq,
                InClusterRabbitmq,
                cat.RABBITMQ,
                RABBITMQ,
                addons.rabbitmq_operator,
            ),
            (
                settings.elasticsearch,
                InClusterElasticsearch,
                cat.ELASTICSEARCH,
                ELASTICSEARCH,
                addons.eck,
            ),
        )
        for broker, component, secret, suffix, operator in brokers:
            if not broker.enabled:
                continue
            wait = (
                list(sync)
                if store.syncs_on_mount
                else store.wait_for([secret.name], namespace=settings.namespace, name=suffix)
            )
            component(
                f"{self._name}-{suffix}",
                BrokerArgs(
                    namespace=settings.namespace,
                    instance=settings.stack,
                    settings=broker,
                    wait_for=wait,
                    crd_dependencies=[operator] if operator is not None else [],
                    operator_namespace=ECK_NAMESPACE,
                    protect=settings.protect,
                    adopt=self._adopt,
                ),
                opts=opts,
            )

    def _platform(self, base: pulumi.ResourceOptions) -> tuple[ClusterAddons, NamespaceBaseline]:
        """The cluster add-ons and the application namespace's baseline."""
        settings, name = self._settings, self._name
        addons = ClusterAddons(
            f"{name}-addons",
            ClusterAddonsArgs(
                instance=settings.stack,
                addons=settings.addons,
                gateway=settings.routing.mode == "gateway",
                monitoring=settings.monitoring.enabled,
                monitoring_namespace=settings.monitoring.namespace,
                external_secrets=settings.uses_external_secrets,
                high_availability=settings.is_production,
                protect=settings.protect,
                rollouts=settings.progressive,
                keda=settings.uses_keda,
                mesh=settings.mesh.enabled,
                mesh_namespace=settings.mesh.namespace,
                rabbitmq=settings.rabbitmq.enabled,
                elasticsearch=settings.elasticsearch.enabled,
                adopt=self._adopt,
            ),
            opts=base,
        )
        self._delivery_providers = addons.delivery_providers
        self._certificate_providers = [addons.cert_manager] if addons.cert_manager else []
        baseline = NamespaceBaseline(
            f"{name}-namespace",
            NamespaceBaselineArgs(
                namespace=settings.namespace,
                instance=settings.stack,
                environment=settings.environment,
                quota=settings.quota,
                deleters=settings.namespace_deleters,
                protect=settings.protect,
                adopt=self._adopt,
                labels=stack_namespace_labels(settings),
                provided=settings.namespace_provided,
            ),
            opts=base,
        )
        return addons, baseline

    def _edge(
        self,
        addons: ClusterAddons,
        prometheus_crds: Sequence[pulumi.Resource],
        in_namespace: pulumi.ResourceOptions,
    ) -> EdgeRouting:
        """Public routing, and the alerts and dashboards when monitoring is on."""
        settings, name = self._settings, self._name
        edge = EdgeRouting(
            f"{name}-edge",
            EdgeRoutingArgs(
                namespace=settings.namespace,
                instance=settings.stack,
                domain=settings.domain,
                routing=settings.routing,
                routes=routes(edge_canaries(settings)),
                gateway_class=GATEWAY_CLASS,
                crd_dependencies=addons.crd_providers,
                mesh=settings.mesh.enabled,
            ),
            opts=in_namespace,
        )
        if settings.routing.branches is not None:
            ReviewAccess(
                f"{name}-review-access",
                ReviewAccessArgs(instance=settings.stack, admins=settings.routing.branches.admins),
                opts=in_namespace,
            )
        if settings.monitoring.enabled:
            Monitoring(
                f"{name}-monitoring",
                MonitoringArgs(
                    namespace=settings.namespace,
                    instance=settings.stack,
                    dashboards=self._dashboard_context(),
                    links=AlertLinks(
                        grafana_url=settings.monitoring.grafana_url,
                        runbook_url=settings.monitoring.runbook_url,
                    ),
                    scrape_targets=self._scrape_targets(),
                    receivers=settings.monitoring.receivers,
                    receiver_secret=cat.ALERTING.name,
                    crd_dependencies=list(prometheus_crds),
                ),
                opts=in_namespace,
            )
        return edge

    def _dashboard_context(self) -> DashboardContext:
        settings = self._settings
        database, resource, region = "in-cluster", "", ""
        managed = settings.database.mode == "managed"
        if managed and settings.cloud == "aws" and settings.aws is not None:
            database, resource, region = "rds", rds_identifier(settings.stack), settings.aws.region
        elif managed and settings.cloud == "azure" and settings.azure is not None:
            database, resource = "flexible-server", server_id(settings.azure, settings.stack)
        clusters = route_clusters(settings.namespace, routes())
        return DashboardContext(
            namespace=settings.namespace,
            monitoring_namespace=settings.monitoring.namespace,
            services=tuple(service.name for service in CATALOGUE),
            rollouts=tuple(name for name, svc in settings.services.items() if svc.progressive),
            requests=request_signals(settings, clusters),
            native_sidecars=settings.mesh.enabled,
            external_secrets=settings.uses_external_secrets,
            route_clusters=clusters,
            database=database,
            database_resource=resource,
            region=region,
        )

    def _scrape_targets(self) -> tuple[ScrapeTarget, ...]:
        """What publishes the dashboards' metrics outside the namespace, where this program runs
        it: the Envoy proxies of its own Gateway, and the add-ons it installs."""
        settings = self._settings
        targets: list[ScrapeTarget] = []
        if settings.routing.mode == "gateway" and not settings.routing.shared_gateway:
            targets.append(envoy_target(settings.namespace, settings.routing.controller_namespace))
        if settings.addons.cert_manager == "install":
            targets.append(CERT_MANAGER)
        if settings.uses_external_secrets and settings.addons.external_secrets == "install":
            targets.append(EXTERNAL_SECRETS)
        if settings.progressive and settings.addons.argo_rollouts == "install":
            targets.append(ARGO_ROLLOUTS)
        return tuple(targets)

    def _create_providers(self) -> dict[str, pulumi.ProviderResource]:
        """The Kubernetes provider, and the stack's cloud provider pinned to its account or
        subscription.
        """
        settings, name = self._settings, self._name
        parent = pulumi.ResourceOptions(parent=self)
        providers: dict[str, pulumi.ProviderResource] = {
            "kubernetes": k8s.Provider(
                f"{name}-k8s",
                context=settings.kubernetes.context,
                kubeconfig=settings.kubernetes.kubeconfig,
                # Refuse to fall back to the ambient cluster if the context is missing or empty.
                enable_server_side_apply=True,
                delete_unreachable=False,
                opts=parent,
            )
        }
        # The same cluster, for the objects the program retains and so may find again (after a
        # destroy, or a service switched off and on): created by upsert, where the main provider
        # refuses an existing object (`components.kube.lifecycle`).
        self._adopt = k8s.Provider(
            f"{name}-k8s-adopt",
            context=settings.kubernetes.context,
            kubeconfig=settings.kubernetes.kubeconfig,
            enable_server_side_apply=True,
            delete_unreachable=False,
            upsert_existing_objects=True,
            opts=parent,
        )
        if settings.cloud == "aws":
            assert settings.aws is not None
            providers["aws"] = aws_provider(name, settings.stack, settings.aws, parent)
        if settings.cloud == "azure":
            assert settings.azure is not None
            providers["azure-native"] = azure_provider(name, settings.azure, parent)
        return providers

    def _store(
        self, addons: ClusterAddons, baseline: NamespaceBaseline, base: pulumi.ResourceOptions
    ) -> SecretStore:
        """The secret store waits for the namespaces its Secrets live in."""
        depends: list[pulumi.Resource] = [baseline.namespace]
        if addons.monitoring_namespace:
            depends.append(addons.monitoring_namespace)
        # Grafana's admin Secret is needed only where this program installs Grafana.
        grafana_namespace = (
            self._settings.monitoring.namespace if addons.monitoring_namespace else None
        )
        return create_store(
            self._name,
            self._settings,
            grafana_namespace,
            addons.secret_operator,
            pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=depends)),
            scrape_addons=tuple(
                AddonScrape(
                    name=target.name,
                    namespace=target.namespace,
                    selector=target.selector,
                    port=target.port,
                    path=target.path,
                    honor_labels=target.honor_labels,
                    pod_labels=target.pod_labels,
                )
                for target in self._scrape_targets()
            ),
        )

    def _prometheus(
        self, store: SecretStore, base: pulumi.ResourceOptions
    ) -> list[pulumi.Resource]:
        """The monitoring stack, when this program installs it; returns what installs its CRDs."""
        settings = self._settings
        if not (settings.monitoring.enabled and settings.addons.monitoring_stack == "install"):
            return []
        stack = PrometheusStack(
            f"{self._name}-prometheus",
            PrometheusStackArgs(
                monitoring=settings.monitoring,
                namespace=settings.monitoring.namespace,
                high_availability=settings.is_production,
                depends_on=list(store.grafana.ready),
                grafana_values=dict(store.grafana.values),
            ),
            opts=base,
        )
        return [stack.release]

    def _data_services(
        self,
        store: SecretStore,
        prometheus_crds: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions,
    ) -> None:
        """PostgreSQL (in-cluster mode), Redis and NATS."""
        settings, name = self._settings, self._name
        if settings.database.mode == "in-cluster":
            postgres = InClusterPostgres(
                f"{name}-postgres",
                InClusterPostgresArgs(
                    namespace=settings.namespace,
                    instance=settings.stack,
                    settings=settings.database,
                    clients=(*callers_of("postgres"), ROLES),
                    secret_access=self._access(store, POSTGRES_READERS),
                    wait_for=self._waits(store, list(POSTGRES_READERS)),
                    protect=settings.protect,
                    monitoring_namespace=self._monitoring_namespace,
                    service_monitor=settings.monitoring.enabled,
                    crd_dependencies=list(prometheus_crds),
                    adopt=self._adopt,
                ),
                opts=opts,
            )
            self._ingress.update(postgres.ingress)
        self._database_roles(store, opts)
        redis = InClusterRedis(
            f"{name}-redis",
            InClusterRedisArgs(
                namespace=settings.namespace,
                instance=settings.stack,
                settings=settings.redis,
                clients=callers_of("redis"),
                secret_access=self._access(store, REDIS_READERS),
                wait_for=self._waits(store, list(REDIS_READERS)),
                protect=settings.protect,
            ),
            opts=opts,
        )
        self._ingress.update(redis.ingress)
        nats = InClusterNats(
            f"{name}-nats",
            InClusterNatsArgs(
                namespace=settings.namespace,
                instance=settings.stack,
                settings=settings.nats,
                clients=callers_of("nats"),
                monitoring_namespace=self._monitoring_namespace,
                managed_prometheus=managed_prometheus(settings),
                service_monitor=settings.monitoring.enabled,
                crd_dependencies=list(prometheus_crds),
                certificate_dependencies=self._certificate_providers,
                secret_access=self._access(store, NATS_READERS),
                wait_for=self._waits(store, list(NATS_READERS)),
                protect=settings.protect,
            ),
            opts=opts,
        )
        self._ingress.update(nats.ingress)

    def _database_roles(self, store: SecretStore, opts: pulumi.ResourceOptions) -> None:
        """The applications' login roles, set by a Job once the database answers; api and auth
        read the Secret written after it (`data.database_roles`)."""
        settings = self._settings
        managed = store.managed_database
        host = managed.host if managed else f"postgres.{settings.namespace}.svc.cluster.local"
        DatabaseRoles(
            f"{self._name}-database-roles",
            DatabaseRolesArgs(
                namespace=settings.namespace,
                instance=settings.stack,
                username=settings.database.username,
                database_name=settings.database.name,
                image=settings.database.image,
                image_pull_policy=settings.database.image_pull_policy,
                host=host,
                managed=managed is not None,
                egress=tuple(self._egress("postgres", store)),
                rotation=settings.secret_rotation,
                secret_access=self._access(store, ROLES_READERS),
                # Not the database itself: the Job's pod starts while the database is created
                # and waits until it answers (`data.database_roles`).
                wait_for=tuple(self._wait(store, ROLES)),
                deadline=store.database_create_timeout,
            ),
            opts=opts,
        )

    def _secret_readers(self, store: SecretStore) -> dict[str, tuple[str, ...]]:
        """Every ServiceAccount whose pods read catalogued Secrets -> those Secrets (with the CSI
        driver, the receivers' endpoints too: a pod must mount them for the operator to read)."""
        secret_env = {svc.name: service_env(svc, self._settings)[1] for svc in CATALOGUE}
        program = {spec.name for spec in cat.PROGRAM_SECRETS}
        # What the program writes itself (not the store): read by name, never waited for, and
        # what sets a service's longer first await (`_services`).
        self._program_reads = {
            name: tuple(sorted({ref.secret.name for ref in refs.values()} & program))
            for name, refs in secret_env.items()
        }
        readers = {
            name: tuple(sorted({ref.secret.name for ref in refs.values()} - program))
            for name, refs in secret_env.items()
            if {ref.secret.name for ref in refs.values()} - program
        }
        readers.update(ROLES_READERS)
        if self._settings.database.mode == "in-cluster":
            readers.update(POSTGRES_READERS)
        readers.update(REDIS_READERS)
        readers.update(NATS_READERS)
        if store.syncs_on_mount:
            # What only a controller reads (Alertmanager's operator, the brokers' operators) is
            # synced by the SecretSync pod's mount.
            settings = self._settings
            synced = [
                spec.name
                for spec, used in (
                    (cat.ALERTING, settings.monitoring.routes_alerts),
                    (cat.RABBITMQ, settings.rabbitmq.enabled),
                    (cat.ELASTICSEARCH, settings.elasticsearch.enabled),
                )
                if used
            ]
            if synced:
                readers[SECRET_SYNC] = tuple(synced)
        return readers

    def _wait(self, store: SecretStore, account: str) -> list[pulumi.Resource]:
        """What the workload running as `account` waits for: what the store needs to deliver
        the Secrets it reads."""
        return store.wait_for(
            self._readers[account], namespace=self._settings.namespace, name=account
        )

    @staticmethod
    def _access(store: SecretStore, readers: Mapping[str, Sequence[str]]) -> SecretAccess:
        """How a data service's pods are wired: one access for all its ServiceAccounts, which
        read the same Secrets."""
        return store.access(sorted({secret for secrets in readers.values() for secret in secrets}))

    def _waits(
        self, store: SecretStore, accounts: Sequence[str]
    ) -> dict[str, list[pulumi.Resource]]:
        return {account: self._wait(store, account) for account in accounts}

    def _services(
        self,
        store: SecretStore,
        prometheus_crds: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions,
    ) -> None:
        """The catalogue's services, each created once the Secrets it reads are delivered.

        A service whose readiness checks the database (api and auth) reads its login role's
        Secret (`webapp-database-app`), which the program writes once the roles Job has set the
        roles, and that Job once the database answers. The service waits for what the Job waits
        for (the store's delivery of the admin's Secret), not for that Secret: its pods are
        created and pull their image while the database comes up, the kubelet starts their
        containers once the Secret exists (it retries a pod whose Secret is missing every 10
        seconds), and the provider's await of its rollout lasts until the readiness probe
        reaches the database; a managed one sets the store's longer first await
        (`SecretStore.database_create_timeout`). Nothing else waits for the database."""
        for svc in CATALOGUE:
            reads = self._readers.get(svc.name, ())
            wait = self._wait(store, svc.name) if reads else []
            program = self._program_reads.get(svc.name, ())
            if cat.DATABASE_APP.name in program:
                # What the roles Job waits for: the admin's Secret delivered (after RDS, whose
                # Secret needs the instance; not after a Flexible Server or in-cluster one).
                wait = [*wait, *self._wait(store, ROLES)]
            timeout = store.database_create_timeout if cat.DATABASE_APP.name in program else None
            service = self._service(svc, store, prometheus_crds, opts, wait, timeout)
            self._ingress.update(service.ingress)

    def _egress(self, target: str, store: SecretStore) -> list[kx.Peer]:
        if target == "postgres" and store.database_networks:
            # The managed database lives in the VPC/VNet's database subnets, not in the cluster.
            return [kx.Peer(cidr=cidr, ports=(POSTGRES_PORT,)) for cidr in store.database_networks]
        return [kx.Peer(app=target, ports=(port_of(target),))]

    def _network(
        self, svc: AppService, store: SecretStore
    ) -> tuple[tuple[kx.Peer, ...], tuple[kx.Peer, ...]]:
        """Who may call the service, and what it may call, from the catalogue."""
        callers: list[kx.Peer] = [
            kx.Peer(app=caller, ports=(svc.port,)) for caller in callers_of(svc.name)
        ]
        if svc.route:
            callers.append(self._proxies((svc.port,)))
        if svc.metrics_port:
            callers.extend(self._scrapers((svc.metrics_port,)))
        egress = [peer for target in svc.calls for peer in self._egress(target, store)]
        settings = self._settings
        if settings.rabbitmq.enabled and svc.name in settings.rabbitmq.clients:
            egress.append(kx.Peer(app=RABBITMQ, ports=(AMQP_PORT,)))
        if settings.elasticsearch.enabled and svc.name in settings.elasticsearch.clients:
            egress.append(kx.Peer(app=ELASTICSEARCH, ports=(HTTP_PORT,)))
        if svc.internet_ports:
            egress.append(kx.internet(svc.internet_ports))
        return tuple(callers), tuple(egress)

    def _proxies(self, ports: tuple[int, ...]) -> kx.Peer:
        """The routing proxies that serve the public routes."""
        routing = self._settings.routing
        if routing.mode != "gateway":
            # ingress mode: the cluster's own ingress-nginx-family controller, whose pod labels
            # this program does not know (each distribution labels its pods its own way).
            return kx.Peer(namespace=routing.controller_namespace, ports=ports)
        return kx.Peer(
            namespace=routing.controller_namespace,
            pods=gateway_proxy_pods(routing.shared_gateway or self._settings.namespace),
            ports=ports,
        )

    def _scrapers(self, ports: tuple[int, ...]) -> list[kx.Peer]:
        """Who scrapes a metrics port: Prometheus, and Azure Monitor's agent where the stack
        turns managed Prometheus on (it scrapes the annotated pods, `azure/monitor.py`)."""
        settings = self._settings
        found = []
        if self._monitoring_namespace:
            found.append(kx.prometheus(self._monitoring_namespace, ports))
        if managed_prometheus(settings):
            found.append(kx.ama_metrics(ports))
        return found

    def _files(self, svc: AppService) -> tuple[dict[str, str], str]:
        """Config files mounted into the service, and where (the frontend's nginx.conf)."""
        settings = self._settings
        if svc.runtime != "nginx":
            return {}, "/etc/webapp"
        upstreams = tuple(
            Upstream(
                path=f"{target.route}/" if target.route != "/" else "/",
                host=target.name,
                port=target.port,
                websocket=target.websocket,
            )
            for target in CATALOGUE
            if target.name in svc.calls and target.route
        )
        return {
            "nginx.conf": nginx_conf(
                namespace=settings.namespace,
                dns_ip=settings.kubernetes.cluster_dns_ip,
                upstreams=upstreams,
                websocket_timeout_seconds=settings.routing.websocket_timeout_seconds,
                mesh=settings.mesh.enabled,
            )
        }, "/etc/nginx"

    def _service(
        self,
        svc: AppService,
        store: SecretStore,
        prometheus_crds: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions,
        wait_for: Sequence[pulumi.Resource],
        create_timeout: Optional[str],
    ) -> HttpService:
        settings = self._settings
        callers, egress = self._network(svc, store)
        plain, secret = service_env(svc, settings)
        files, files_path = self._files(svc)
        return HttpService(
            f"{self._name}-{svc.name}",
            HttpServiceArgs(
                app=svc.name,
                namespace=settings.namespace,
                instance=settings.stack,
                component=svc.component,
                settings=settings.services[svc.name],
                port=svc.port,
                probes=svc.probes,
                metrics_port=svc.metrics_port,
                env=plain,
                secret_env=secret,
                files=files,
                files_path=files_path,
                callers=callers,
                egress=egress,
                writable_paths=("/tmp",),
                monitoring=self._monitoring_namespace is not None,
                crd_dependencies=list(prometheus_crds),
                secret_access=store.access(self._readers.get(svc.name, ())),
                wait_for=wait_for,
                create_timeout=create_timeout,
                routing=traffic_routing(settings, svc),
                mesh=settings.mesh.enabled,
                published=settings.metrics.published(svc.name),
                api_server=api_server_network(settings),
                prometheus_url=settings.prometheus_url,
                load_trigger=LOAD_TRIGGERS.get(svc.name),
                delivery_dependencies=self._delivery_providers,
            ),
            opts=opts,
        )
