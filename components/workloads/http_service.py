"""HttpService: one stateless HTTP workload with every production default built in.

Creates, all named `<name>` in the namespace and parented to the component:
- ServiceAccount (token automount off unless `automount_token`)
- ConfigMap `<name>` with the plain environment (none when there is none), and `<name>-files`
  with config files (nginx.conf)
- Deployment (delivery `rolling`): rolling update with zero unavailable, restricted security
  context, writable emptyDir paths, requests/limits, startup/liveness/readiness probes, spread
  across nodes and zones when replicated, preStop sleep + termination grace, config checksum
  annotation, Prometheus scrape annotations when it exposes metrics
- or, for `canary` / `blue-green`, an Argo Rollout `<name>` with the same pod template and its
  release machinery (`workloads.release`: the AnalysisTemplate, the VirtualService in the mesh,
  the smoke Job's identity and NetworkPolicy, the ReleaseGate); its second Service
  `<name>-canary` (a routed canary) or `<name>-preview` (blue-green)
- Service (http and, if any, metrics port; every port declares its protocol): the stable /
  active Service of a Rollout
- its scaler and disruption budget (`workloads.scaling`): an HPA or a KEDA ScaledObject when
  autoscaling is on, a PodDisruptionBudget when more than one replica may run
- NetworkPolicy allowing exactly the declared callers in (and a release's smoke Job) and
  dependencies out
- PodMonitor when monitoring is on and the service exposes metrics (one target per pod, whichever
  Service selects it)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s
from pulumi import _types

from components.config.capacity import SMOKE_JOB
from components.config.catalogue import LoadTrigger, Probes
from components.config.metrics import MESH, RequestSeries
from components.config.quantities import image_tag
from components.config.settings import ServiceSettings
from components.kube import objects as kx
from components.secrets.catalogue import SecretRef
from components.secrets.store import NO_ACCESS, SecretAccess
from components.workloads import analysis as an
from components.workloads import traffic as tr
from components.workloads.release import ReleaseArgs, declare_release
from components.workloads.release_gate import ANYWHERE
from components.workloads.scaling import ScalingArgs, declare_scaling

ROLLOUT_REVISION_LABEL = "rollouts-pod-template-hash"
"""What a Rollout labels its pods' revision with (a Deployment's ReplicaSets use
`pod-template-hash`; argo-rollouts v1.9.0 `pkg/apis/rollouts/v1alpha1/types.go`
`DefaultRolloutUniqueLabelKey`)."""


def plain(value: Any) -> Any:
    """Typed Args as the plain dict the provider sends (for a digest of a pod template)."""
    if _types.is_input_type(type(value)):
        value = _types.input_type_to_dict(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    assert not isinstance(value, pulumi.Output), "a pod template digest needs plain values"
    return value


DELIVERY_ANNOTATION = "webapp.io/delivery"
"""On the Service: the delivery it serves. A change of delivery changes it, so the Service is
always applied anew then, and coming back to `rolling` restores the selector the Rollout
controller had narrowed to its pods (with `pulumi.com/patchForce`, which takes the field back
from the controller's field manager)."""


@dataclass(frozen=True, kw_only=True)
class HttpServiceArgs:
    """Inputs of an HttpService. Everything that decides what exists is a plain value."""

    app: str
    """Workload name (`app.kubernetes.io/name`, object names, Service DNS name): a contract."""
    namespace: str
    """Namespace to deploy into (created by NamespaceBaseline)."""
    instance: str
    """`app.kubernetes.io/instance`: the stack name."""
    component: str
    """`app.kubernetes.io/component`, e.g. backend."""
    settings: ServiceSettings
    """Image, replicas, autoscaling bounds, resources and extra env from config."""
    port: int
    """Container and Service port for HTTP."""
    probes: Probes
    """Startup, liveness and readiness paths, all on the HTTP port."""
    metrics_port: Optional[int] = None
    """Prometheus metrics port (scrape annotations, Service port `metrics`, ServiceMonitor)."""
    metrics_path: str = "/metrics"
    """Where Prometheus scrapes the metrics port. Default /metrics."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Plain environment; stored in the ConfigMap (never secrets)."""
    secret_env: Mapping[str, SecretRef] = field(default_factory=dict)
    """Environment read from Secrets by reference, never by value."""
    files: Mapping[str, str] = field(default_factory=dict)
    """Config files put in the ConfigMap and mounted read-only at `files_path`/<name>."""
    files_path: str = "/etc/webapp"
    """Directory the `files` are mounted in. Default /etc/webapp."""
    callers: tuple[kx.Peer, ...] = ()
    """Who may connect (NetworkPolicy ingress). Default: nobody."""
    egress: tuple[kx.Peer, ...] = ()
    """Where it may connect (NetworkPolicy egress, besides DNS). Default: nowhere."""
    writable_paths: tuple[str, ...] = ("/tmp",)
    """emptyDir mounts for a read-only root filesystem."""
    run_as_user: int = 65532
    """The pod's non-root UID. Default 65532."""
    automount_token: bool = False
    """Mount a Kubernetes API token; only for services that call the API server."""
    monitoring: bool = False
    """Create a ServiceMonitor (needs the Prometheus operator CRDs)."""
    crd_dependencies: Sequence[pulumi.Resource] = ()
    """What installs the CRDs the ServiceMonitor needs (the monitoring add-on), if this program
    does.
    """
    termination_grace_seconds: int = 30
    """Time between SIGTERM and SIGKILL. Default 30."""
    pre_stop_seconds: int = 5
    """Sleep before SIGTERM so endpoints drain before the process stops taking requests."""
    service_account_annotations: Mapping[str, str] = field(default_factory=dict)
    """Extra ServiceAccount annotations (an IRSA role ARN). Default none."""
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    """Extra pod labels. Default none."""
    secret_access: SecretAccess = NO_ACCESS
    """How the pods reach the secret store themselves (Azure workload identity, CSI mount)."""
    wait_for: Sequence[pulumi.Resource] = ()
    """What the Deployment waits for before it is created: the Secrets it reads (or what mounts
    them); the provider then awaits the rollout for its usual 10 minutes. Default: nothing."""
    routing: tr.Routing = tr.Routing(router="none")
    """How a canary's share of traffic is set (mesh, Gateway API plugin, ingress, pod ratio)."""
    prometheus_url: Optional[str] = None
    """The Prometheus the analysis and the KEDA load trigger query (required for either)."""
    load_trigger: Optional[LoadTrigger] = None
    """The service's KEDA load trigger (with `settings.autoscaling.load_threshold`)."""
    delivery_dependencies: Sequence[pulumi.Resource] = ()
    """What installs the CRDs of a Rollout and its routing (Argo Rollouts, Istio), and of a
    ScaledObject (KEDA), when this program does."""
    api_server: str = ANYWHERE
    """Where a release's gate Job may reach the API server. Default anywhere."""
    published: Optional[RequestSeries] = None
    """The request series the image publishes on its metrics port (`webapp:metrics.requests`,
    `config.metrics`); None: none. Default None."""
    mesh: bool = False
    """Whether the pods run with Istio sidecars (their answers are counted by the sidecars, whose
    PodMonitor the platform declares). Default False."""
    create_timeout: Optional[str] = None
    """How long the provider awaits the first rollout (`customTimeouts.create`, e.g. `30m`), when
    the pods' readiness waits for something slower than 10 minutes that they do not wait for
    before creation (a managed database being created). Updates keep the 10 minutes. Default:
    the provider's 10 minutes."""


def _scrape_annotations(args: HttpServiceArgs) -> dict[str, str]:
    if not args.metrics_port:
        return {}
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(args.metrics_port),
        "prometheus.io/path": args.metrics_path,
    }


def _ports(args: HttpServiceArgs) -> list[k8s.core.v1.ContainerPortArgs]:
    ports = [k8s.core.v1.ContainerPortArgs(name="http", container_port=args.port, protocol="TCP")]
    if args.metrics_port:
        ports.append(
            k8s.core.v1.ContainerPortArgs(
                name="metrics", container_port=args.metrics_port, protocol="TCP"
            )
        )
    return ports


def _secret_env(args: HttpServiceArgs) -> list[k8s.core.v1.EnvVarArgs]:
    """Every secret variable as a `secretKeyRef` (the value never enters the pod spec)."""
    return [
        k8s.core.v1.EnvVarArgs(
            name=variable,
            value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=ref.secret.name, key=ref.key)
            ),
        )
        for variable, ref in sorted(args.secret_env.items())
    ]


def _volumes(
    args: HttpServiceArgs,
) -> tuple[list[k8s.core.v1.VolumeArgs], list[k8s.core.v1.VolumeMountArgs]]:
    """emptyDirs for the writable paths, the secret store's CSI volume, and the config files
    (each mounted read-only at `files_path`/<name>)."""
    volumes = [
        k8s.core.v1.VolumeArgs(
            name=f"writable-{index}",
            empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi"),
        )
        for index, _ in enumerate(args.writable_paths)
    ]
    mounts = [
        k8s.core.v1.VolumeMountArgs(name=f"writable-{index}", mount_path=path)
        for index, path in enumerate(args.writable_paths)
    ]
    csi_volumes, csi_mounts = args.secret_access.volumes()
    volumes += csi_volumes
    mounts += csi_mounts
    if args.files:
        files = sorted(args.files)
        source = k8s.core.v1.ConfigMapVolumeSourceArgs(
            name=f"{args.app}-files",
            items=[k8s.core.v1.KeyToPathArgs(key=file_name, path=file_name) for file_name in files],
        )
        volumes.append(k8s.core.v1.VolumeArgs(name="config-files", config_map=source))
        mounts += [
            k8s.core.v1.VolumeMountArgs(
                name="config-files",
                mount_path=f"{args.files_path}/{file_name}",
                sub_path=file_name,
                read_only=True,
            )
            for file_name in files
        ]
    return volumes, mounts


def _probe(path: str, period: int, failures: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="http"),
        period_seconds=period,
        timeout_seconds=3,
        failure_threshold=failures,
    )


def _container(
    args: HttpServiceArgs, mounts: Sequence[k8s.core.v1.VolumeMountArgs], env_from_config: bool
) -> k8s.core.v1.ContainerArgs:
    settings = args.settings
    env = _secret_env(args)
    env_from = [
        k8s.core.v1.EnvFromSourceArgs(
            config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=args.app)
        )
    ]
    return k8s.core.v1.ContainerArgs(
        name=args.app,
        image=settings.image,
        image_pull_policy=settings.image_pull_policy,
        ports=_ports(args),
        env=env or None,
        env_from=env_from if env_from_config else None,
        resources=kx.resources(settings.resources.as_dict()),
        security_context=kx.container_security(),
        # Startup allows 5 min for slow first boots (.NET JIT, migrations) before liveness
        # applies.
        startup_probe=_probe(args.probes.startup, 5, 60),
        liveness_probe=_probe(args.probes.liveness, 10, 3),
        readiness_probe=_probe(args.probes.readiness, 5, 3),
        lifecycle=k8s.core.v1.LifecycleArgs(
            pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                sleep=k8s.core.v1.SleepActionArgs(seconds=args.pre_stop_seconds)
            )
        ),
        volume_mounts=list(mounts) or None,
    )


class HttpService(pulumi.ComponentResource):
    """A stateless HTTP service; see the module docstring for what it creates."""

    service_name: pulumi.Output[str]
    url: pulumi.Output[str]
    service_account_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: HttpServiceArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:workloads:HttpService", name, None, opts)
        self._name = name
        self._app = app = args.app
        self._args = args
        self._opts = opts
        settings = args.settings
        # The version (the image tag) labels the Deployment and its pods only.
        self._workload_labels = kx.labels(
            app, args.instance, args.component, image_tag(settings.image)
        )
        self._labels = kx.without_version(self._workload_labels)
        child = kx.child_options(self, opts)

        self.service_account = kx.service_account(
            f"{name}-sa",
            app,
            args.namespace,
            self._labels,
            child,
            {**args.service_account_annotations, **args.secret_access.service_account_annotations},
            automount=args.automount_token,
        )
        config_data = self._create_config(child)
        self._delivery_opts = kx.child_options(self, opts, args.delivery_dependencies)
        # What a release is judged by (progressive delivery only): the Rollout's analysis and the
        # smoke Job's way in both read it.
        self._release: Optional[an.Subject] = self._subject() if settings.progressive else None
        self.service = self._create_service(child)
        self.workload = self._create_workload(kx.checksum([config_data, dict(args.files)]), child)
        declare_scaling(
            self._name,
            ScalingArgs(
                app=app,
                namespace=args.namespace,
                instance=args.instance,
                labels=self._labels,
                settings=settings,
                load_trigger=args.load_trigger,
                requests=args.published or (MESH if args.mesh else None),
                prometheus_url=args.prometheus_url,
            ),
            child,
            self._delivery_opts,
        )
        callers = tuple(args.callers)
        if self._release is not None and self._release.smoke:
            # The release's smoke Job calls the tested pods (`workloads.analysis`).
            callers += (kx.Peer(app=self._release.smoke_app, ports=(args.port,)),)
        self.ingress: dict[str, tuple[kx.Peer, ...]] = {app: callers}
        """What the NetworkPolicy admits (the mesh's AuthorizationPolicy mirrors it)."""
        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=kx.metadata(app, args.namespace, self._labels),
            spec=kx.network_policy_spec(app, args.instance, callers, args.egress),
            opts=child,
        )
        if args.monitoring and args.metrics_port:
            self._create_pod_monitor()

        self.service_name = self.service.metadata.name
        self.service_account_name = self.service_account.metadata.name
        self.url = pulumi.Output.concat(
            "http://",
            self.service.metadata.name,
            ".",
            args.namespace,
            ".svc.cluster.local:",
            str(args.port),
        )
        self.register_outputs(
            {
                "service_name": self.service_name,
                "url": self.url,
                "service_account_name": self.service_account_name,
            }
        )

    def _create_config(self, child: pulumi.ResourceOptions) -> dict[str, str]:
        """The ConfigMap of plain environment (program values, then config's `env`), and the
        files' own ConfigMap so files never turn into environment variables via envFrom."""
        args, app = self._args, self._app
        config_data = {**dict(args.env), **{key: value for key, value in args.settings.env}}
        # A service with no plain environment gets no ConfigMap (nothing would read it).
        self.config_map: Optional[k8s.core.v1.ConfigMap] = None
        self._config_objects: list[pulumi.Resource] = []
        if config_data:
            self.config_map = k8s.core.v1.ConfigMap(
                f"{self._name}-config",
                metadata=kx.metadata(app, args.namespace, self._labels),
                data=config_data,
                opts=child,
            )
            self._config_objects.append(self.config_map)
        if args.files:
            files = k8s.core.v1.ConfigMap(
                f"{self._name}-files",
                metadata=kx.metadata(f"{app}-files", args.namespace, self._labels),
                data=dict(args.files),
                opts=child,
            )
            self._config_objects.append(files)
        return config_data

    def _pod_template(self, config_checksum: str) -> k8s.core.v1.PodTemplateSpecArgs:
        args, settings, name = self._args, self._args.settings, self._app
        volumes, mounts = _volumes(args)
        replicas_for_spread = settings.max_replicas
        pod = k8s.core.v1.PodSpecArgs(
            service_account_name=name,
            automount_service_account_token=args.automount_token,
            enable_service_links=False,
            security_context=kx.pod_security(args.run_as_user),
            termination_grace_period_seconds=args.termination_grace_seconds,
            # Spread each revision on its own: a Rollout's pods carry their revision under
            # another key than a Deployment's.
            topology_spread_constraints=kx.spread(
                name,
                args.instance,
                replicas_for_spread,
                ROLLOUT_REVISION_LABEL if settings.progressive else "pod-template-hash",
            ),
            affinity=kx.anti_affinity(name, args.instance, replicas_for_spread),
            # The pods read the environment ConfigMap only when there is one.
            containers=[_container(args, mounts, env_from_config=self.config_map is not None)],
            volumes=volumes or None,
        )
        labels = {
            **self._workload_labels,
            **dict(args.pod_labels),
            **dict(args.secret_access.pod_labels),
        }
        annotations = {"checksum/config": config_checksum, **_scrape_annotations(args)}
        return k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels, annotations=annotations), spec=pod
        )

    def _workload_options(self, child: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
        """What the pods read and run as exists before the first pod is created; under a scaler
        the count is the scaler's after the first apply."""
        args = self._args
        return pulumi.ResourceOptions.merge(
            child,
            pulumi.ResourceOptions(
                depends_on=[*self._config_objects, self.service_account, *args.wait_for],
                ignore_changes=["spec.replicas"] if args.settings.autoscaling else None,
            ),
        )

    def _create_workload(
        self, config_checksum: str, child: pulumi.ResourceOptions
    ) -> pulumi.CustomResource:
        args, settings, name = self._args, self._args.settings, self._app
        template = self._pod_template(config_checksum)
        selector = k8s.meta.v1.LabelSelectorArgs(match_labels=kx.selector(name, args.instance))
        reload = kx.reload_on([ref.secret.name for ref in args.secret_env.values()])
        if settings.progressive:
            return self._create_rollout(template, selector, reload, child)
        return k8s.apps.v1.Deployment(
            f"{self._name}-deployment",
            # A rotated Secret rolls the pods (zero unavailable: maxUnavailable is 0).
            metadata=kx.metadata(name, args.namespace, self._workload_labels, reload),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # A fixed count, or under a scaler its floor for the first apply (a workload that
                # replaces another starts at full strength); the scaler's after that.
                replicas=settings.min_replicas,
                revision_history_limit=5,
                selector=selector,
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_unavailable=0, max_surge=1
                    ),
                ),
                template=template,
            ),
            opts=pulumi.ResourceOptions.merge(
                self._workload_options(child),
                pulumi.ResourceOptions(
                    custom_timeouts=(
                        pulumi.CustomTimeouts(create=args.create_timeout)
                        if args.create_timeout
                        else None
                    )
                ),
            ),
        )

    def _create_rollout(
        self,
        template: k8s.core.v1.PodTemplateSpecArgs,
        selector: k8s.meta.v1.LabelSelectorArgs,
        reload: Optional[dict[str, str]],
        child: pulumi.ResourceOptions,
    ) -> pulumi.CustomResource:
        """The Rollout and its release machinery (`workloads.release`).

        Moving from a Deployment: this up creates the Rollout at full strength (no steps on a
        first deploy) and awaits it Healthy; the controller adopts the Service only once the
        Rollout's pods are all available (Argo PR 1777); the engine deletes the Deployment last,
        after every create and update. Until then both sets of pods carry the Service's labels,
        so nothing stops serving. Moving back is the mirror image (the Deployment is awaited,
        the Rollout deleted last)."""
        args, settings = self._args, self._args.settings
        assert args.prometheus_url, "progressive delivery needs a Prometheus (config check)"
        services: list[pulumi.Resource] = [self.service]
        subject = self._release
        assert subject is not None, "a Rollout is declared for progressive delivery only"
        if subject.delivery == "blue-green" or args.routing.services or subject.smoke:
            services.append(self._create_service(child, subject.tested_service))
        return declare_release(
            self,
            self._name,
            ReleaseArgs(
                subject=subject,
                routing=args.routing,
                prometheus=args.prometheus_url,
                labels=self._labels,
                workload_labels=self._workload_labels,
                replicas=settings.min_replicas,
                template=template,
                selector=selector,
                annotations=reload or {},
                revision=kx.checksum(plain(template)),
                services=services,
                create_timeout=args.create_timeout,
                api_server=args.api_server,
            ),
            child,
            self._delivery_opts,
            self._workload_options(self._delivery_opts),
        )

    def _subject(self) -> an.Subject:
        """What the release's analysis measures: the tested pods, and who counts their answers
        (their sidecars in the mesh, else the service's own metrics, else nobody)."""
        args, settings = self._args, self._args.settings
        tested = (
            tr.preview_service(self._app)
            if settings.delivery == "blue-green"
            else tr.canary_service(self._app)
        )
        return an.Subject(
            app=self._app,
            namespace=args.namespace,
            instance=args.instance,
            delivery=settings.delivery,
            port=args.port,
            tested_service=tested,
            paths=tuple(dict.fromkeys((args.probes.readiness, "/"))),
            requests="mesh" if args.mesh else ("app" if args.published else None),
            published=args.published,
            resources=SMOKE_JOB.as_dict(),
        )

    def _create_service(
        self, child: pulumi.ResourceOptions, name: Optional[str] = None
    ) -> k8s.core.v1.Service:
        """The Service `name` (default: the app's). Under a Rollout the controller adds its
        pod-template hash to the selector, so Pulumi leaves the selector to it then."""
        args, settings = self._args, self._args.settings
        service_name = name or self._app
        ports = [
            k8s.core.v1.ServicePortArgs(
                name="http", port=args.port, target_port="http", protocol="TCP", app_protocol="http"
            )
        ]
        if args.metrics_port:
            ports.append(
                k8s.core.v1.ServicePortArgs(
                    name="metrics",
                    port=args.metrics_port,
                    target_port="metrics",
                    protocol="TCP",
                    app_protocol="http",
                )
            )
        suffix = "service" if name is None else f"service-{name.rsplit('-', 1)[-1]}"
        annotations = {DELIVERY_ANNOTATION: settings.delivery, "pulumi.com/patchForce": "true"}
        return k8s.core.v1.Service(
            f"{self._name}-{suffix}",
            metadata=kx.metadata(service_name, args.namespace, self._labels, annotations),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP", selector=kx.selector(self._app, args.instance), ports=ports
            ),
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    ignore_changes=["spec.selector"] if settings.progressive else None
                ),
            ),
        )

    def _create_pod_monitor(self) -> None:
        """A PodMonitor on the pods' `metrics` port: every pod is one target whichever Services
        select it (a Rollout's canary pods are behind `<app>-canary` only, its stable ones behind
        both Services between releases; a ServiceMonitor would miss the first and scrape the
        second twice). The target's `service` label is the app's name (from the pod label), as a
        ServiceMonitor on the app's Service would have set it."""
        args = self._args
        kx.pod_monitor(
            f"{self._name}-podmonitor",
            self._app,
            args.instance,
            args.namespace,
            self._labels,
            kx.child_options(self, self._opts, args.crd_dependencies),
            port="metrics",
            path=args.metrics_path,
        )
