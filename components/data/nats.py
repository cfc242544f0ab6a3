"""InClusterNats: the NATS message bus as a StatefulSet with a Prometheus exporter sidecar (seed
001).

Creates (parented to the component):
- ConfigMap `nats` with nats.conf (checked by `nats-server -t` in the tests)
- Services `nats` (client 4222), `nats-headless` (4222/6222/8222, for clustering) and
  `nats-metrics` (7777, Prometheus annotations)
- StatefulSet `nats`: server + `prometheus-nats-exporter` sidecar; one replica in dev, a cluster
  of 3 (or 5, 7) in production; a volume per replica where the stack asks for it (`persistence`)

Delivery is at-most-once, and JetStream is off (`JETSTREAM`): the applications use core NATS only
(api publishes `todos.events`, the broadcaster takes them in a core queue group, the websocket
service subscribes), so no stream would hold anything for them, and an event published while no
subscriber listens is gone. Readiness is the server's plain messaging (`READY_PATH`), so a member
stays in the Service while it accepts clients, whatever the others do.
- ServiceAccount `nats` (no API token)
- PodDisruptionBudget when clustered; NetworkPolicy admitting clients on 4222, the peers on 6222
  and the monitoring namespace on 7777 (the exporter; the server's own monitoring port 8222, which
  NATS cannot put behind a login, is read only inside the pod)

Authentication: every client is a user of its own (`catalogue.NATS_USERS`: a user per service that
calls NATS, with publish and subscribe permissions limited to its subjects; two users per client,
`<user>` and `<user>_b`, one per generation of its password, so a rotation never refuses a client:
`config.rotation`); nothing connects anonymously. The passwords come from the catalogued Secret
`webapp-nats` by reference: nats-server resolves `$NATS_<USER>_PASSWORD_<A|B>` from the
environment, so neither the ConfigMap nor the pod spec holds one. The routes between cluster
members authenticate by mutual TLS, with a certificate cert-manager issues from the stack's route
CA (`data.nats_tls`, mounted read-only at `ROUTE_TLS_DIR`): any member's certificate signed by
that CA is accepted, so a renewed certificate never refuses a route (no route password: nats-server
takes a single route user, which could not rotate without splitting the cluster).
- NatsRouteTls (`data.nats_tls`) when clustered: the route CA, its Issuers and the members'
  Certificate, which the StatefulSet waits for
- ServiceMonitor on the metrics Service when monitoring is on
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.config.capacity import EXPORTER
from components.config.catalogue import NATS_USERS, NatsPermissions
from components.config.quantities import image_tag, memory_bytes
from components.config.rotation import GENERATIONS, Generation, nats_username
from components.config.settings import DataServiceSettings
from components.data.nats_tls import ROUTE_SECRET, NatsRouteTls, NatsRouteTlsArgs
from components.kube import objects as kx
from components.secrets.catalogue import NATS
from components.secrets.store import NO_ACCESS, SecretAccess

CLIENT_PORT, CLUSTER_PORT, MONITOR_PORT, METRICS_PORT = 4222, 6222, 8222, 7777
APP_PROTOCOLS = {"client": "tcp", "cluster": "tcp", "monitor": "http", "metrics": "http"}
"""Each Service port's protocol, declared: NATS speaks first (the server sends INFO, the client
waits), so a port Istio had to sniff would hang until the sniffing times out and then fail
(istio 1.30.3 `pkg/config/kube/conversion.go`: without `appProtocol` or a protocol prefix in
the name, the port is sniffed)."""
NATS_UID = 10001
"""nats-server and its exporter need no user of the image: any UID above the host's (10000+)."""
EXPORTER_IMAGE = "natsio/prometheus-nats-exporter:0.17.3"
ROUTE_TLS_DIR = "/etc/nats-route-tls"
"""Where the members' route certificate (`nats_tls.ROUTE_SECRET`) is mounted."""
READERS: Mapping[str, tuple[str, ...]] = {"nats": (NATS.name,)}
"""The ServiceAccounts whose pods read Secrets, and which Secrets."""
JETSTREAM = False
"""JetStream stays off: no application uses it (README "NATS delivery"). Turning it on means
streams declared with the cluster's replication, the clients' `$JS.API` permissions, consumers
in the applications, and `max_mem_store` (JetStream otherwise sizes its memory store from the
node's memory, not the container's), not just this flag."""
READY_PATH = "/healthz?js-server-only=true"
"""The probes' check: the server accepts client connections, and nothing more (nats-server v2.11.8
`server/monitor.go` `healthz`, lines 3411-3428: `js-server-only` returns after
`readyForConnections`, before any JetStream, meta-leader or stream check). A member whose peers
are down, or that cannot route to them, still serves its clients core NATS."""
MEMORY_LIMIT_SHARE = 0.9
"""GOMEMLIMIT as a share of the container's memory limit: the Go runtime collects harder near it
instead of growing into the OOM kill (https://pkg.go.dev/runtime, "GOMEMLIMIT")."""


def password_variable(user: str, generation: Generation = "a") -> str:
    """The environment variable holding a user's password of `generation` (nats-server resolves
    `$<name>`)."""
    return f"NATS_{user.upper().replace('-', '_')}_PASSWORD_{generation.upper()}"


def route_urls(namespace: str, replicas: int) -> list[str]:
    """Each member's route URL, by its name under the headless Service (no credentials: the routes
    authenticate by certificate)."""
    return [
        f"nats://nats-{index}.nats-headless.{namespace}.svc.cluster.local:{CLUSTER_PORT}"
        for index in range(replicas)
    ]


def cluster_block(namespace: str, replicas: int) -> list[str]:
    """The `cluster` block: routes over mutual TLS (nats-server v2.11.8 `server/opts.go`
    `getTLSConfig`: cluster TLS always requires and verifies the peer's certificate against
    `ca_file`, as server and as client; `verify: true` says so here too)."""
    return [
        "cluster {",
        "  name: webapp",
        f"  listen: 0.0.0.0:{CLUSTER_PORT}",
        "  tls {",
        f'    cert_file: "{ROUTE_TLS_DIR}/tls.crt"',
        f'    key_file: "{ROUTE_TLS_DIR}/tls.key"',
        f'    ca_file: "{ROUTE_TLS_DIR}/ca.crt"',
        "    verify: true",
        "  }",
        "  routes: [",
        *(f"    {url}" for url in route_urls(namespace, replicas)),
        "  ]",
        "}",
    ]


def _users(users: Mapping[str, NatsPermissions]) -> list[str]:
    """The `authorization` block: per client one user per generation (`config.rotation`: a client
    on either is accepted while pods roll), each allowed exactly the client's subjects."""

    def allow(subjects: tuple[str, ...]) -> str:
        return "{allow: " + json.dumps(list(subjects)) + "}" if subjects else '{deny: [">"]}'

    lines = ["authorization {", "  users = ["]
    for user, permissions in users.items():
        publish, subscribe = allow(permissions.publish), allow(permissions.subscribe)
        lines += [
            f"    {{user: {nats_username(user, generation)}, "
            f"password: ${password_variable(user, generation)}, permissions: "
            f"{{publish: {publish}, subscribe: {subscribe}}}}}"
            for generation in GENERATIONS
        ]
    return [*lines, "  ]", "}"]


def nats_conf(
    namespace: str,
    replicas: int,
    persistence: bool,
    storage_size: str,
    users: Mapping[str, NatsPermissions] = NATS_USERS,
) -> str:
    """Server config. nats-server resolves `$POD_NAME` and the passwords from the environment at
    start (`server_env`)."""
    lines = [
        "server_name: $POD_NAME",
        f"listen: 0.0.0.0:{CLIENT_PORT}",
        f"http: 0.0.0.0:{MONITOR_PORT}",
        "max_payload: 1MB",
        "lame_duck_duration: 30s",
        "lame_duck_grace_period: 10s",
        "pid_file: /tmp/nats.pid",
        *_users(users),
    ]
    # No `jetstream` block: JetStream is off (`JETSTREAM`), whatever `persistence` says.
    del persistence, storage_size
    if replicas > 1:
        lines += cluster_block(namespace, replicas)
    return "\n".join(lines) + "\n"


def server_env(users: Sequence[str] = tuple(NATS_USERS)) -> list[k8s.core.v1.EnvVarArgs]:
    """The server's environment: its pod name and every password by reference to `webapp-nats`."""

    def secret(variable: str, key: str) -> k8s.core.v1.EnvVarArgs:
        return k8s.core.v1.EnvVarArgs(
            name=variable,
            value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=NATS.name, key=key)
            ),
        )

    pod_name = k8s.core.v1.EnvVarSourceArgs(
        field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="metadata.name")
    )
    return [
        k8s.core.v1.EnvVarArgs(name="POD_NAME", value_from=pod_name),
        *(
            secret(password_variable(user, generation), f"{user}-password-{generation}")
            for user in users
            for generation in GENERATIONS
        ),
    ]


@dataclass(frozen=True, kw_only=True)
class InClusterNatsArgs:
    namespace: str
    """The application namespace (created by NamespaceBaseline)."""
    instance: str
    """The stack name: `app.kubernetes.io/instance`, and part of the names of cloud resources."""
    settings: DataServiceSettings
    """The validated settings of this data service (image, replicas, storage, resources)."""
    clients: tuple[str, ...]
    """App names allowed to connect (NetworkPolicy ingress, on the service's port only)."""
    monitoring_namespace: Optional[str] = None
    """Namespace allowed to scrape 7777/8222; None when monitoring is off."""
    managed_prometheus: bool = False
    """Azure Monitor's managed Prometheus agent scrapes the exporter (its pods are annotated for
    it): it is admitted on 7777 too. Default off."""
    service_monitor: bool = False
    """Create a ServiceMonitor (needs the Prometheus operator CRDs). Default off."""
    crd_dependencies: Sequence[pulumi.Resource] = ()
    """What installs the CRDs this component's custom resources need, when this program installs
    it (waited for). Default: nothing.
    """
    secret_access: SecretAccess = NO_ACCESS
    """How the pods reach the secret store themselves (Azure CSI); plain secretKeyRefs by
    default."""
    certificate_dependencies: Sequence[pulumi.Resource] = ()
    """What installs cert-manager's CRDs (the route certificates' Issuers and Certificates, when
    clustered), when this program installs it (waited for). Default: nothing."""
    wait_for: Mapping[str, Sequence[pulumi.Resource]] = field(default_factory=dict)
    """ServiceAccount name (`READERS`) -> what its workload waits for before it is created (the
    store's `wait_for`: the Secrets it reads, or what mounts them). Default: nothing."""
    protect: bool = False
    """Pulumi `protect` on the StatefulSet when it keeps data (production). Default off."""


def _server_container(
    settings: DataServiceSettings,
    env: list[k8s.core.v1.EnvVarArgs],
    csi: list[k8s.core.v1.VolumeMountArgs],
) -> k8s.core.v1.ContainerArgs:
    """nats-server: health checks of its plain messaging (`READY_PATH`), a Go memory limit under
    the container's, lame-duck drain before the pod stops."""
    healthz = k8s.core.v1.HTTPGetActionArgs(path=READY_PATH, port="monitor")
    memory_limit = int(memory_bytes(settings.resources.memory_limit) * MEMORY_LIMIT_SHARE)
    ports = (("client", CLIENT_PORT), ("cluster", CLUSTER_PORT), ("monitor", MONITOR_PORT))
    return k8s.core.v1.ContainerArgs(
        name="nats",
        image=settings.image,
        image_pull_policy=settings.image_pull_policy,
        args=["--config", "/etc/nats/nats.conf"],
        env=[*env, k8s.core.v1.EnvVarArgs(name="GOMEMLIMIT", value=str(memory_limit))],
        ports=[
            k8s.core.v1.ContainerPortArgs(name=port_name, container_port=port)
            for port_name, port in ports
        ],
        resources=kx.resources(settings.resources.as_dict()),
        security_context=kx.container_security(NATS_UID),
        startup_probe=k8s.core.v1.ProbeArgs(
            http_get=healthz, period_seconds=5, failure_threshold=60
        ),
        liveness_probe=k8s.core.v1.ProbeArgs(
            http_get=healthz, period_seconds=30, failure_threshold=3
        ),
        readiness_probe=k8s.core.v1.ProbeArgs(
            http_get=healthz, period_seconds=10, failure_threshold=3
        ),
        # Lame-duck mode drains clients to the other replicas before the pod stops.
        lifecycle=k8s.core.v1.LifecycleArgs(
            pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                exec_=k8s.core.v1.ExecActionArgs(command=["nats-server", "-sl=ldm=/tmp/nats.pid"])
            )
        ),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="config", mount_path="/etc/nats", read_only=True),
            k8s.core.v1.VolumeMountArgs(name="data", mount_path="/data"),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            *csi,
        ],
    )


def _exporter_container(settings: DataServiceSettings) -> k8s.core.v1.ContainerArgs:
    """prometheus-nats-exporter: reads the server's monitoring port, serves 7777."""
    return k8s.core.v1.ContainerArgs(
        name="nats-exporter",
        image=EXPORTER_IMAGE,
        image_pull_policy=settings.image_pull_policy,
        args=[
            "-varz",
            "-connz",
            "-routez",
            "-subz",
            "-port",
            str(METRICS_PORT),
            f"http://localhost:{MONITOR_PORT}",
        ],
        ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=METRICS_PORT)],
        # The size the quota check counts for it (`config.capacity`).
        resources=kx.resources(EXPORTER.as_dict()),
        security_context=kx.container_security(NATS_UID),
        liveness_probe=k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path="/metrics", port="metrics"),
            period_seconds=30,
            failure_threshold=3,
        ),
        # Ready once it listens: not on a scrape of the server, so an exporter that cannot read
        # the server (or answers slowly) never takes the NATS member out of its Services.
        readiness_probe=k8s.core.v1.ProbeArgs(
            tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="metrics"),
            period_seconds=10,
            failure_threshold=3,
        ),
    )


def _route_tls(
    clustered: bool,
) -> tuple[list[k8s.core.v1.VolumeArgs], list[k8s.core.v1.VolumeMountArgs]]:
    """The route certificate's Secret, mounted read-only at `ROUTE_TLS_DIR` when clustered (the
    key readable by the pod's group only: `pod_security` makes it the NATS user's)."""
    if not clustered:
        return [], []
    volume = k8s.core.v1.VolumeArgs(
        name="route-tls",
        secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=ROUTE_SECRET, default_mode=0o440),
    )
    mount = k8s.core.v1.VolumeMountArgs(name="route-tls", mount_path=ROUTE_TLS_DIR, read_only=True)
    return [volume], [mount]


def _volumes(persistence: bool, csi: list[k8s.core.v1.VolumeArgs]) -> list[k8s.core.v1.VolumeArgs]:
    """Config, /tmp, and /data as an emptyDir when the stack keeps no volume."""
    volumes = [
        k8s.core.v1.VolumeArgs(
            name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name="nats")
        ),
        k8s.core.v1.VolumeArgs(
            name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="16Mi")
        ),
    ]
    volumes += csi
    if not persistence:
        volumes.append(
            k8s.core.v1.VolumeArgs(
                name="data", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi")
            )
        )
    return volumes


class InClusterNats(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(
        self, name: str, args: InClusterNatsArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:data:InClusterNats", name, None, opts)
        self._name, self._args, self._opts = name, args, opts
        settings = args.settings
        self._workload_labels = kx.labels(
            "nats", args.instance, "messaging", image_tag(settings.image)
        )
        self._labels = kx.without_version(self._workload_labels)
        self._selector = kx.selector("nats", args.instance)
        self._child = kx.child_options(self, opts)
        conf = nats_conf(
            args.namespace, settings.replicas, settings.persistence, settings.storage_size
        )
        k8s.core.v1.ConfigMap(
            f"{name}-config", metadata=self._metadata(), data={"nats.conf": conf}, opts=self._child
        )
        client, headless = self._create_services()
        # Clustered: the routes' certificate, which the StatefulSet waits for (`data.nats_tls`).
        self._route_tls = (
            NatsRouteTls(
                f"{name}-route-tls",
                NatsRouteTlsArgs(
                    namespace=args.namespace,
                    instance=args.instance,
                    labels=self._labels,
                    crd_dependencies=args.certificate_dependencies,
                ),
                opts=self._child,
            )
            if settings.replicas > 1
            else None
        )
        # Its own ServiceAccount, without an API token: NATS never calls the Kubernetes API.
        account = kx.service_account(
            f"{name}-sa",
            "nats",
            args.namespace,
            self._labels,
            self._child,
            args.secret_access.service_account_annotations,
        )
        self._create_stateful_set(headless, conf, account)
        if settings.replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata=self._metadata(),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._selector),
                ),
                opts=self._child,
            )
        self._create_network_policy()
        if args.service_monitor:
            self._create_service_monitor()
        self.url = pulumi.Output.concat(
            "nats://",
            client.metadata.name,
            ".",
            args.namespace,
            ".svc.cluster.local:",
            str(CLIENT_PORT),
        )
        self.register_outputs({"url": self.url})

    def _metadata(
        self, name: str = "nats", annotations: Optional[dict[str, str]] = None
    ) -> k8s.meta.v1.ObjectMetaArgs:
        return kx.metadata(name, self._args.namespace, self._labels, annotations)

    def _service(
        self,
        suffix: str,
        service_name: str,
        ports: list[tuple[str, int]],
        headless: bool = False,
        annotations: Optional[dict[str, str]] = None,
    ) -> k8s.core.v1.Service:
        return k8s.core.v1.Service(
            f"{self._name}-{suffix}",
            metadata=self._metadata(service_name, annotations),
            spec=k8s.core.v1.ServiceSpecArgs(
                cluster_ip="None" if headless else None,
                publish_not_ready_addresses=True if headless else None,
                selector=self._selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name=port_name,
                        port=port,
                        target_port=port_name,
                        app_protocol=APP_PROTOCOLS[port_name],
                    )
                    for port_name, port in ports
                ],
            ),
            opts=self._child,
        )

    def _create_services(self) -> tuple[k8s.core.v1.Service, k8s.core.v1.Service]:
        """`nats` for clients, `nats-headless` for the peers, `nats-metrics` for Prometheus."""
        client = self._service("service", "nats", [("client", CLIENT_PORT)])
        headless = self._service(
            "headless",
            "nats-headless",
            [("client", CLIENT_PORT), ("cluster", CLUSTER_PORT), ("monitor", MONITOR_PORT)],
            headless=True,
        )
        self._service(
            "metrics",
            "nats-metrics",
            [("metrics", METRICS_PORT)],
            annotations={
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(METRICS_PORT),
                "prometheus.io/path": "/metrics",
            },
        )
        return client, headless

    def _create_stateful_set(
        self, headless: k8s.core.v1.Service, conf: str, account: k8s.core.v1.ServiceAccount
    ) -> None:
        args, settings = self._args, self._args.settings
        csi_volumes, csi_mounts = args.secret_access.volumes()
        tls_volumes, tls_mounts = _route_tls(self._route_tls is not None)
        reload = [*READERS["nats"], ROUTE_SECRET] if self._route_tls else READERS["nats"]
        certificate = [self._route_tls.certificate] if self._route_tls else []
        pod = k8s.core.v1.PodSpecArgs(
            service_account_name="nats",
            automount_service_account_token=False,
            enable_service_links=False,
            share_process_namespace=False,
            security_context=kx.pod_security(NATS_UID),
            termination_grace_period_seconds=60,
            topology_spread_constraints=kx.spread(
                "nats", args.instance, settings.replicas, revision_label="controller-revision-hash"
            ),
            containers=[
                _server_container(settings, server_env(), [*csi_mounts, *tls_mounts]),
                _exporter_container(settings),
            ],
            volumes=_volumes(settings.persistence, [*csi_volumes, *tls_volumes]),
        )
        annotations = {
            "checksum/config": kx.checksum(conf),
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(METRICS_PORT),
        }
        claims = [
            kx.claim_template("data", settings.storage_size, settings.storage_class, self._selector)
        ]
        stateful_set = k8s.apps.v1.StatefulSet(
            f"{self._name}-statefulset",
            # Passwords and the route certificate apply at start: a changed `webapp-nats` or a
            # renewed `nats-route-tls` rolls the members one by one (the StatefulSet controller
            # waits for each to be Ready again; it does not consult the PDB, which guards
            # drains), in lame-duck mode, so clients move over; old and new certificates share
            # the CA, so no route is refused meanwhile.
            metadata=kx.metadata(
                "nats", self._args.namespace, self._workload_labels, kx.reload_on(reload)
            ),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name=headless.metadata.name,
                replicas=settings.replicas,
                pod_management_policy="Parallel",
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._selector),
                persistent_volume_claim_retention_policy=kx.RETAIN_CLAIMS,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**self._workload_labels, **dict(args.secret_access.pod_labels)},
                        annotations=annotations,
                    ),
                    spec=pod,
                ),
                volume_claim_templates=claims if settings.persistence else None,
            ),
            # Pods run as this account: created first, no pod is refused for lack of it; and after
            # the Secret its passwords come from, and the route certificate once issued (a pod
            # would otherwise wait in ContainerCreating for its Secret volume).
            opts=kx.stateful_set_options(
                self._child,
                [account, *args.wait_for.get("nats", ()), *certificate],
                args.protect and settings.persistence,
            ),
        )
        if settings.persistence:
            kx.grow_claims(
                f"{self._name}-claim",
                stateful_set,
                [f"data-nats-{index}" for index in range(settings.replicas)],
                args.namespace,
                settings.storage_size,
                self._child,
            )

    def _create_network_policy(self) -> None:
        """Clients on 4222, the peers on 6222, Prometheus (and Azure Monitor's agent) on 7777 (the
        exporter)."""
        args = self._args
        ingress = [kx.Peer(app=caller, ports=(CLIENT_PORT,)) for caller in args.clients]
        ingress.append(kx.Peer(app="nats", ports=(CLUSTER_PORT,)))
        egress = [kx.Peer(app="nats", ports=(CLUSTER_PORT,))] if args.settings.replicas > 1 else []
        if args.monitoring_namespace:
            ingress.append(kx.prometheus(args.monitoring_namespace, (METRICS_PORT,)))
        if args.managed_prometheus:
            ingress.append(kx.ama_metrics((METRICS_PORT,)))
        self.ingress: dict[str, tuple[kx.Peer, ...]] = {"nats": tuple(ingress)}
        """What the NetworkPolicy admits (the mesh's AuthorizationPolicy mirrors it)."""
        k8s.networking.v1.NetworkPolicy(
            f"{self._name}-netpol",
            metadata=self._metadata(),
            spec=kx.network_policy_spec("nats", args.instance, ingress, egress),
            opts=self._child,
        )

    def _create_service_monitor(self) -> None:
        args = self._args
        kx.service_monitor(
            f"{self._name}-servicemonitor",
            "nats",
            args.instance,
            args.namespace,
            self._labels,
            kx.child_options(self, self._opts, args.crd_dependencies),
        )
