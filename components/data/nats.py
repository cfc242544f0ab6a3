"""InClusterNats: the NATS message bus as a StatefulSet with a Prometheus exporter sidecar (seed
001).

Creates (parented to the component):
- ConfigMap `nats` with nats.conf (checked by `nats-server -t` in the tests)
- Services `nats` (client 4222), `nats-headless` (4222/6222/8222, for clustering) and
  `nats-metrics` (7777, Prometheus annotations)
- StatefulSet `nats`: server + `prometheus-nats-exporter` sidecar; one replica without persistence
  in dev, a clustered JetStream-enabled set with a volume per replica where the stack asks for it
- ServiceAccount `nats` (no API token)
- PodDisruptionBudget when clustered; NetworkPolicy admitting clients on 4222, the peers on 6222
  and the monitoring namespace on 7777/8222
- ServiceMonitor on the metrics Service when monitoring is on
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.config.quantities import image_tag, memory_bytes
from components.config.settings import DataServiceSettings
from components.kube import objects as kx

CLIENT_PORT, CLUSTER_PORT, MONITOR_PORT, METRICS_PORT = 4222, 6222, 8222, 7777
NATS_UID = 1000
EXPORTER_IMAGE = "natsio/prometheus-nats-exporter:0.17.3"


def nats_conf(namespace: str, replicas: int, persistence: bool, storage_size: str) -> str:
    """Server config. `$POD_NAME` is resolved by nats-server from the environment at start."""
    lines = [
        "server_name: $POD_NAME",
        f"listen: 0.0.0.0:{CLIENT_PORT}",
        f"http: 0.0.0.0:{MONITOR_PORT}",
        "max_payload: 1MB",
        "lame_duck_duration: 30s",
        "lame_duck_grace_period: 10s",
        "pid_file: /tmp/nats.pid",
    ]
    if persistence:
        # Leave 20% of the volume for compaction and metadata.
        max_file = int(memory_bytes(storage_size) * 0.8)
        lines += [
            "jetstream {",
            "  store_dir: /data/jetstream",
            f"  max_file_store: {max_file}",
            "}",
        ]
    if replicas > 1:
        routes = ",\n".join(
            f"    nats://nats-{index}.nats-headless.{namespace}.svc.cluster.local:{CLUSTER_PORT}"
            for index in range(replicas)
        )
        lines += [
            "cluster {",
            "  name: webapp",
            f"  listen: 0.0.0.0:{CLUSTER_PORT}",
            "  routes: [",
            routes,
            "  ]",
            "}",
        ]
    return "\n".join(lines) + "\n"


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
    service_monitor: bool = False
    """Create a ServiceMonitor (needs the Prometheus operator CRDs). Default off."""
    crd_dependencies: Sequence[pulumi.Resource] = ()
    """What installs the CRDs this component's custom resources need, when this program installs
    it (waited for). Default: nothing.
    """


def _server_container(settings: DataServiceSettings) -> k8s.core.v1.ContainerArgs:
    """nats-server: JetStream-aware health checks, lame-duck drain before the pod stops."""
    healthz = k8s.core.v1.HTTPGetActionArgs(path="/healthz", port="monitor")
    jetstream_healthz = k8s.core.v1.HTTPGetActionArgs(
        path="/healthz?js-enabled-only=true", port="monitor"
    )
    pod_name = k8s.core.v1.EnvVarSourceArgs(
        field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="metadata.name")
    )
    ports = (("client", CLIENT_PORT), ("cluster", CLUSTER_PORT), ("monitor", MONITOR_PORT))
    return k8s.core.v1.ContainerArgs(
        name="nats",
        image=settings.image,
        image_pull_policy="IfNotPresent",
        args=["--config", "/etc/nats/nats.conf"],
        env=[k8s.core.v1.EnvVarArgs(name="POD_NAME", value_from=pod_name)],
        ports=[
            k8s.core.v1.ContainerPortArgs(name=port_name, container_port=port)
            for port_name, port in ports
        ],
        resources=kx.resources(settings.resources.as_dict()),
        security_context=kx.container_security(NATS_UID),
        startup_probe=k8s.core.v1.ProbeArgs(
            http_get=jetstream_healthz, period_seconds=5, failure_threshold=60
        ),
        liveness_probe=k8s.core.v1.ProbeArgs(
            http_get=jetstream_healthz, period_seconds=30, failure_threshold=3
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
        ],
    )


def _exporter_container(jetstream: bool) -> k8s.core.v1.ContainerArgs:
    """prometheus-nats-exporter: reads the server's monitoring port, serves 7777."""
    return k8s.core.v1.ContainerArgs(
        name="nats-exporter",
        image=EXPORTER_IMAGE,
        image_pull_policy="IfNotPresent",
        args=[
            "-varz",
            "-connz",
            "-routez",
            "-subz",
            *(["-jsz=all"] if jetstream else []),
            "-port",
            str(METRICS_PORT),
            f"http://localhost:{MONITOR_PORT}",
        ],
        ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=METRICS_PORT)],
        resources=kx.resources(
            {
                "requests": {"cpu": "10m", "memory": "16Mi"},
                "limits": {"cpu": "100m", "memory": "64Mi"},
            }
        ),
        security_context=kx.container_security(NATS_UID),
        liveness_probe=k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path="/metrics", port="metrics"),
            period_seconds=30,
            failure_threshold=3,
        ),
    )


def _volumes(persistence: bool) -> list[k8s.core.v1.VolumeArgs]:
    """Config, /tmp, and /data as an emptyDir when the stack keeps no JetStream volume."""
    volumes = [
        k8s.core.v1.VolumeArgs(
            name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name="nats")
        ),
        k8s.core.v1.VolumeArgs(
            name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="16Mi")
        ),
    ]
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
        self._labels = kx.labels("nats", args.instance, "messaging", image_tag(settings.image))
        self._selector = kx.selector("nats", args.instance)
        self._child = kx.child_options(self, opts)
        conf = nats_conf(
            args.namespace, settings.replicas, settings.persistence, settings.storage_size
        )
        k8s.core.v1.ConfigMap(
            f"{name}-config", metadata=self._metadata(), data={"nats.conf": conf}, opts=self._child
        )
        client, headless = self._create_services()
        # Its own ServiceAccount, without an API token: NATS never calls the Kubernetes API.
        account = kx.service_account(
            f"{name}-sa", "nats", args.namespace, self._labels, self._child
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
                    k8s.core.v1.ServicePortArgs(name=port_name, port=port, target_port=port_name)
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
            containers=[_server_container(settings), _exporter_container(settings.persistence)],
            volumes=_volumes(settings.persistence),
        )
        annotations = {
            "checksum/config": kx.checksum(conf),
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(METRICS_PORT),
        }
        claims = [
            kx.claim_template("data", settings.storage_size, settings.storage_class, self._selector)
        ]
        k8s.apps.v1.StatefulSet(
            f"{self._name}-statefulset",
            metadata=self._metadata(),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name=headless.metadata.name,
                replicas=settings.replicas,
                pod_management_policy="Parallel",
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=self._selector),
                persistent_volume_claim_retention_policy=kx.RETAIN_CLAIMS,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=self._labels, annotations=annotations
                    ),
                    spec=pod,
                ),
                volume_claim_templates=claims if settings.persistence else None,
            ),
            # Pods run as this account: created first, no pod is refused for lack of it.
            opts=pulumi.ResourceOptions.merge(
                self._child, pulumi.ResourceOptions(depends_on=[account])
            ),
        )

    def _create_network_policy(self) -> None:
        """Clients on 4222, the peers on 6222, the monitoring namespace on 7777/8222."""
        args = self._args
        ingress = [kx.Peer(app=caller, ports=(CLIENT_PORT,)) for caller in args.clients]
        ingress.append(kx.Peer(app="nats", ports=(CLUSTER_PORT,)))
        egress = [kx.Peer(app="nats", ports=(CLUSTER_PORT,))] if args.settings.replicas > 1 else []
        if args.monitoring_namespace:
            ingress.append(
                kx.Peer(namespace=args.monitoring_namespace, ports=(METRICS_PORT, MONITOR_PORT))
            )
        k8s.networking.v1.NetworkPolicy(
            f"{self._name}-netpol",
            metadata=self._metadata(),
            spec=kx.network_policy_spec("nats", args.instance, ingress, egress),
            opts=self._child,
        )

    def _create_service_monitor(self) -> None:
        k8s.apiextensions.CustomResource(
            f"{self._name}-servicemonitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=self._metadata(),
            spec={
                "selector": {"matchLabels": self._selector},
                "namespaceSelector": {"matchNames": [self._args.namespace]},
                "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
            },
            opts=kx.child_options(self, self._opts, self._args.crd_dependencies),
        )
