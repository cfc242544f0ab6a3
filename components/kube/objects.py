"""Shared Kubernetes building blocks: labels, restricted security contexts, network peers.

Pure helpers used by every workload component so that the secure defaults are written once:
non-root, read-only root filesystem, no privilege escalation, all capabilities dropped,
RuntimeDefault seccomp (the Pod Security Standards `restricted` profile).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

PART_OF = "webapp"
MANAGED_BY = "pulumi"
NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
NAMESPACE_LABEL = "kubernetes.io/metadata.name"

RELOAD_ANNOTATION = "secret.reloader.stakater.com/reload"


def reload_on(secrets: Sequence[str]) -> dict[str, str]:
    """Workload annotation: Reloader rolls the workload when one of these Secrets changes (a
    rotated value reaches the pods without anyone running kubectl). ConfigMaps are not listed:
    the program changes a pod-template checksum with them, and Pulumi awaits that one rollout."""
    return {RELOAD_ANNOTATION: ",".join(sorted(set(secrets)))} if secrets else {}


AWAIT_READY = {"pulumi.com/waitFor": "condition=Ready"}
MONITORING_API = "monitoring.coreos.com/v1"
"""The Prometheus operator's API (ServiceMonitor, PodMonitor, PrometheusRule)."""
"""The Kubernetes provider awaits a custom resource's `Ready` condition (it knows none of the
controllers' kinds, and otherwise reports them created the moment the API server stores them).
The wait is the provider's default, 10 minutes, unless the resource sets a custom timeout."""


VERSION_LABEL = "app.kubernetes.io/version"


def without_version(object_labels: Mapping[str, str]) -> dict[str, str]:
    """The labels of the objects around a workload (ServiceAccount, Service, ConfigMap, HPA, PDB,
    NetworkPolicy, ServiceMonitor): no version, so a release changes the workload alone and a
    reviewer's preview shows one object, not eight."""
    return {key: value for key, value in object_labels.items() if key != VERSION_LABEL}


def labels(name: str, instance: str, component: str, version: str) -> dict[str, str]:
    """The recommended `app.kubernetes.io/*` labels, put on every object."""
    return {
        NAME_LABEL: name,
        INSTANCE_LABEL: instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def selector(name: str, instance: str) -> dict[str, str]:
    """The immutable subset of labels used in selectors (never the version)."""
    return {NAME_LABEL: name, INSTANCE_LABEL: instance}


def checksum(data: Any) -> str:
    """Stable digest of config content; as a pod annotation it rolls pods when the
    config changes.
    """
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def metadata(
    name: str,
    namespace: Optional[str],
    object_labels: Mapping[str, str],
    annotations: Optional[Mapping[str, pulumi.Input[str]]] = None,
) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels=dict(object_labels),
        annotations=dict(annotations) if annotations else None,
    )


def container_security(run_as_user: Optional[int] = None) -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        run_as_user=run_as_user,
        read_only_root_filesystem=True,
        allow_privilege_escalation=False,
        privileged=False,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def pod_security(
    run_as_user: int, fs_group: Optional[int] = None
) -> k8s.core.v1.PodSecurityContextArgs:
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=run_as_user,
        run_as_group=run_as_user if fs_group is None else fs_group,
        fs_group=fs_group if fs_group is not None else run_as_user,
        fs_group_change_policy="OnRootMismatch",
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def resources(spec: Mapping[str, Mapping[str, str]]) -> k8s.core.v1.ResourceRequirementsArgs:
    return k8s.core.v1.ResourceRequirementsArgs(
        requests=dict(spec["requests"]), limits=dict(spec["limits"])
    )


def spread(
    name: str, instance: str, replicas: int, revision_label: str = "pod-template-hash"
) -> Optional[list[k8s.core.v1.TopologySpreadConstraintArgs]]:
    """Spread replicas across nodes and zones; soft, so a small cluster still schedules them."""
    if replicas <= 1:
        return None
    return [
        k8s.core.v1.TopologySpreadConstraintArgs(
            max_skew=1,
            topology_key=key,
            when_unsatisfiable="ScheduleAnyway",
            label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(name, instance)),
            # Only pods of the same rollout count, so a rolling update does not skew the spread.
            match_label_keys=[revision_label],
        )
        for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
    ]


def anti_affinity(name: str, instance: str, replicas: int) -> Optional[k8s.core.v1.AffinityArgs]:
    if replicas <= 1:
        return None
    return k8s.core.v1.AffinityArgs(
        pod_anti_affinity=k8s.core.v1.PodAntiAffinityArgs(
            preferred_during_scheduling_ignored_during_execution=[
                k8s.core.v1.WeightedPodAffinityTermArgs(
                    weight=100,
                    pod_affinity_term=k8s.core.v1.PodAffinityTermArgs(
                        topology_key="kubernetes.io/hostname",
                        label_selector=k8s.meta.v1.LabelSelectorArgs(
                            match_labels=selector(name, instance)
                        ),
                    ),
                )
            ]
        )
    )


@dataclass(frozen=True, kw_only=True)
class Peer:
    """One side of an allowed connection.

    `app` selects pods of that `app.kubernetes.io/name` in this namespace; `namespace` selects
    another namespace, and `pods` (labels) narrows that to the pods that make the connection (the
    Gateway's proxies, Prometheus itself), never the whole namespace; `cidr` an address range
    outside the cluster (with `except_cidrs` carved out). `ports` are the TCP ports the connection
    may use. `outside_mesh`: the peer's pods run without an Istio sidecar (Prometheus, the Azure
    Monitor agent), so the mesh admits them on these ports without an identity.
    """

    ports: tuple[int, ...]
    app: Optional[str] = None
    namespace: Optional[str] = None
    pods: tuple[tuple[str, str], ...] = ()
    cidr: Optional[str] = None
    except_cidrs: tuple[str, ...] = ()
    outside_mesh: bool = False

    def peer(self, instance: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
        if self.cidr is not None:
            return k8s.networking.v1.NetworkPolicyPeerArgs(
                ip_block=k8s.networking.v1.IPBlockArgs(
                    cidr=self.cidr, except_=list(self.except_cidrs) or None
                )
            )
        if self.namespace is not None:
            # Both selectors in one peer: the pods matching `pods` in that namespace (AND).
            return k8s.networking.v1.NetworkPolicyPeerArgs(
                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={NAMESPACE_LABEL: self.namespace}
                ),
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(self.pods))
                if self.pods
                else None,
            )
        assert self.app is not None, "a Peer needs app, namespace or cidr"
        return k8s.networking.v1.NetworkPolicyPeerArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(self.app, instance))
        )

    def port_args(self) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
        return [
            k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=peer)
            for peer in self.ports
        ]


# Internet egress for services that call third parties (SMTP, OAuth providers, webhooks): anywhere
# except the private ranges, so such a rule never opens a path to other in-cluster workloads.
PRIVATE_RANGES = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
)


# The pods that make the platform's connections into the namespace, by the labels their
# controllers put on them (each cited where it is used in a Peer).
PROMETHEUS_PODS = (("app.kubernetes.io/name", "prometheus"),)
"""kube-prometheus-stack's Prometheus: the prometheus-operator labels every Prometheus server pod
`app.kubernetes.io/name: prometheus` (and `operator.prometheus.io/name: <Prometheus>`: its pod
selector labels, prometheus-operator v0.86.2 pkg/prometheus/server/operator.go
`makeSelectorLabels`, `applicationNameLabelValue = "prometheus"`), which Grafana, Alertmanager
and the exporters in the same namespace do not carry."""
AMA_METRICS_PODS = (("rsName", "ama-metrics"),)
"""The Azure Monitor managed Prometheus agent's replica (the one that reads
`ama-metrics-prometheus-config`): Azure/prometheus-collector,
otelcollector/deploy/addon-chart/azure-monitor-metrics-addon/templates/ama-metrics-deployment.yaml
labels its pods `rsName: ama-metrics` in kube-system."""
AMA_METRICS_NAMESPACE = "kube-system"


def prometheus(namespace: str, ports: Sequence[int]) -> Peer:
    """Prometheus (kube-prometheus-stack in `namespace`) scraping `ports`; outside the mesh."""
    return Peer(ports=tuple(ports), namespace=namespace, pods=PROMETHEUS_PODS, outside_mesh=True)


def ama_metrics(ports: Sequence[int]) -> Peer:
    """Azure Monitor's managed Prometheus agent scraping `ports` (annotated pods); outside the
    mesh."""
    return Peer(
        ports=tuple(ports),
        namespace=AMA_METRICS_NAMESPACE,
        pods=AMA_METRICS_PODS,
        outside_mesh=True,
    )


def internet(ports: Sequence[int]) -> Peer:
    return Peer(ports=tuple(ports), cidr="0.0.0.0/0", except_cidrs=PRIVATE_RANGES)


def network_policy_spec(
    name: str, instance: str, ingress: Sequence[Peer], egress: Sequence[Peer]
) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """Allow exactly `ingress` in and `egress` out for the pods of `name` (DNS is allowed
    namespace-wide).
    """
    return k8s.networking.v1.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(name, instance)),
        policy_types=["Ingress", "Egress"],
        ingress=[
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[peer.peer(instance)], ports=peer.port_args()
            )
            for peer in ingress
        ],
        egress=[
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[peer.peer(instance)], ports=peer.port_args()
            )
            for peer in egress
        ],
    )


def claim_template(
    name: str, size: str, storage_class: Optional[str], labels: dict[str, str]
) -> k8s.core.v1.PersistentVolumeClaimArgs:
    """A volumeClaimTemplate. Labels must be stable (selector labels only): the field is
    immutable.
    """
    return k8s.core.v1.PersistentVolumeClaimArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels=labels),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            storage_class_name=storage_class,
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": size}),
        ),
    )


CLAIM_SIZE = "spec.volumeClaimTemplates[0].spec.resources.requests.storage"
"""What a StatefulSet ignores in its diff: claim templates are immutable, and the provider would
replace the StatefulSet (delete, then create: an outage) for a new size, without resizing a claim.
`grow_claims` resizes the claims in place instead. Any other claim-template change (storage class,
volumes on or off) still replaces the StatefulSet, which `stateful_set_options` refuses where the
stack protects its data."""


def stateful_set_options(
    base: pulumi.ResourceOptions, depends_on: Sequence[pulumi.Resource], protect: bool
) -> pulumi.ResourceOptions:
    """A StatefulSet with data: the claim size left to `grow_claims`, and `protect` (production):
    Pulumi then refuses, at preview, any change that would replace it, instead of deleting it."""
    return pulumi.ResourceOptions.merge(
        base,
        pulumi.ResourceOptions(
            depends_on=list(depends_on), ignore_changes=[CLAIM_SIZE], protect=protect
        ),
    )


def grow_claims(
    resource_name: str,
    stateful_set: pulumi.Resource,
    claims: Sequence[str],
    namespace: str,
    size: str,
    opts: pulumi.ResourceOptions,
) -> None:
    """Set each existing claim of a StatefulSet (`data-nats-0`, ...) to `size` with a server-side
    apply patch, after the StatefulSet (which creates them) is ready. Growing needs a StorageClass
    with `allowVolumeExpansion`; the API server refuses a shrink, so it fails this patch, by name,
    and touches nothing else. Forced: the StatefulSet controller created the claims.

    Retained on delete: forced, the patch is the size field's only manager, and the provider
    deletes a Patch resource by giving its fields up (`ssa.Relinquish`, provider/pkg/await/
    await.go Deletion), which the API server refuses for a required field; the provider then
    fails with "this Patch resource is currently managing a required field, so it can't be
    deleted directly. Either set the `retainOnDelete` resource option, or transfer ownership"
    (provider/pkg/provider/provider.go Delete, pulumi/pulumi-kubernetes). Retained, a patch that
    goes (`pulumi destroy`, fewer replicas) leaves the claim at the size it was grown to, which is
    what the claim holds anyway; nothing is sent to the cluster."""
    for claim in claims:
        k8s.core.v1.PersistentVolumeClaimPatch(
            f"{resource_name}-{claim}",
            metadata=k8s.meta.v1.ObjectMetaPatchArgs(
                name=claim, namespace=namespace, annotations={"pulumi.com/patchForce": "true"}
            ),
            spec=k8s.core.v1.PersistentVolumeClaimSpecPatchArgs(
                resources=k8s.core.v1.VolumeResourceRequirementsPatchArgs(
                    requests={"storage": size}
                )
            ),
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(depends_on=[stateful_set], retain_on_delete=True)
            ),
        )


def child_options(
    parent: pulumi.Resource,
    opts: Optional[pulumi.ResourceOptions],
    extra_depends_on: Sequence[pulumi.Resource] = (),
) -> pulumi.ResourceOptions:
    """Options for a component's children: parented to it, and waiting for what the component waits
    for.

    Pulumi does not pass a component's `depends_on` to its children, so a Deployment would race the
    Namespace it lives in. Only `depends_on` is propagated; providers flow through `parent`, and
    the caller's other options (protect, aliases, ...) deliberately stay on the component itself.
    """
    depends = (
        list(opts.depends_on) if opts is not None and isinstance(opts.depends_on, list) else []
    )
    return pulumi.ResourceOptions(parent=parent, depends_on=depends + list(extra_depends_on))


def service_account(
    resource_name: str,
    name: str,
    namespace: str,
    object_labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    annotations: Optional[Mapping[str, pulumi.Input[str]]] = None,
    automount: bool = False,
) -> k8s.core.v1.ServiceAccount:
    """A ServiceAccount of a workload's own (never `default`), with no API token unless
    `automount`.
    """
    return k8s.core.v1.ServiceAccount(
        resource_name,
        metadata=metadata(name, namespace, object_labels, annotations),
        automount_service_account_token=automount,
        opts=opts,
    )


# The data outlives a StatefulSet: deleting or scaling it never deletes its volumes.
RETAIN_CLAIMS = k8s.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
    when_deleted="Retain", when_scaled="Retain"
)


SERVICE_RELABELING = {
    "sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
    "targetLabel": "service",
}
"""A PodMonitor target's `service` label: the app's name (its pods' `app.kubernetes.io/name`).
prometheus-operator gives a PodMonitor target no `service` label of its own (v0.86.x
`pkg/prometheus/promcfg.go` `generatePodMonitorConfig`: namespace, container, pod, endpoint,
job), and applies an endpoint's `relabelings` after its own."""


def pod_monitor(
    resource_name: str,
    name: str,
    instance: str,
    namespace: str,
    object_labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    port: str,
    path: str = "/metrics",
    match_labels: Optional[Mapping[str, str]] = None,
    relabelings: Sequence[Mapping[str, Any]] = (SERVICE_RELABELING,),
) -> k8s.apiextensions.CustomResource:
    """A PodMonitor `name` scraping the port named `port` of the pods of `name` (or of
    `match_labels`) every 30 seconds: one target per pod, whatever Services select it (needs the
    Prometheus operator's CRDs: `opts` waits for what installs them)."""
    endpoint: dict[str, Any] = {"port": port, "path": path, "interval": "30s"}
    if relabelings:
        endpoint["relabelings"] = [dict(relabeling) for relabeling in relabelings]
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version=MONITORING_API,
        kind="PodMonitor",
        metadata=metadata(name, namespace, object_labels),
        spec={
            "selector": {"matchLabels": dict(match_labels or selector(name, instance))},
            "namespaceSelector": {"matchNames": [namespace]},
            "podMetricsEndpoints": [endpoint],
        },
        opts=opts,
    )


def service_monitor(
    resource_name: str,
    app: str,
    instance: str,
    namespace: str,
    object_labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    path: str = "/metrics",
    scheme: Optional[str] = None,
) -> k8s.apiextensions.CustomResource:
    """A ServiceMonitor scraping the `metrics` port of `app`'s Services every 30 seconds (needs
    the Prometheus operator's CRDs: `opts` waits for what installs them)."""
    endpoint = {"port": "metrics", "path": path, "interval": "30s"}
    if scheme:
        endpoint["scheme"] = scheme
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version=MONITORING_API,
        kind="ServiceMonitor",
        metadata=metadata(app, namespace, object_labels),
        spec={
            "selector": {"matchLabels": selector(app, instance)},
            "namespaceSelector": {"matchNames": [namespace]},
            "endpoints": [endpoint],
        },
        opts=opts,
    )
