"""NamespaceBaseline: the namespace and the guard rails every workload in it lives under.

Creates (parented to the component):
- Namespace with Pod Security Standards labels: `restricted` enforced, audited and warned
- ResourceQuota sized per stack (CPU, memory, pods, PVCs, storage)
- LimitRange giving containers default requests/limits and a per-container maximum
- NetworkPolicy `default-deny` (all ingress and egress) and `allow-dns` (egress to kube-dns only)
- with `provided` (a review stack's namespace, created and labelled by the review workflow's
  base-branch job with `namespace_labels`): no Namespace; the existing one is read (`get`), so the
  identity running the stack needs no right to create or relabel namespaces
- when `deleters` are given (production): a ClusterRole allowing `delete` on this namespace only and
  a ClusterRoleBinding to exactly those identities (seed 001's deprovisioning identity); the
  Namespace itself is then also `protect`ed and retained by Pulumi, so `pulumi destroy` cannot
  remove it and the data volumes in it
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.config.settings import GATEWAY_LABEL, Environment, QuotaSettings, Settings, Subject
from components.kube import objects as kx
from components.kube.lifecycle import retained

PSS_VERSION = "v1.32"


@dataclass(frozen=True, kw_only=True)
class NamespaceBaselineArgs:
    namespace: str
    """The namespace to create and protect."""
    instance: str
    """The stack name: `app.kubernetes.io/instance`, and part of the names of cloud resources."""
    environment: Environment
    """dev, staging or production (a namespace label)."""
    quota: QuotaSettings
    """The ResourceQuota; the settings checked it admits every workload at maximum scale."""
    deleters: tuple[Subject, ...] = ()
    """Identities allowed to delete the namespace; non-empty turns on deletion protection."""
    protect: bool = False
    """Pulumi `protect` + `retain_on_delete` on the Namespace."""
    adopt: Optional[pulumi.ProviderResource] = None
    """The Kubernetes provider that adopts an existing object (`upsertExistingObjects`), for the
    retained Namespace (`protect`): a stack declared again over it takes it over. None: the
    inherited provider (`components.kube.lifecycle`)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """The Namespace's labels, Pod Security Standards included (`stack_namespace_labels`; the
    review workflow labels a provided namespace with the same function). Default: the program's
    own labels with `restricted` enforced."""
    provided: bool = False
    """The namespace exists (`webapp:namespaceProvided`): read it, never create or label it."""


def rbac_subject(subject: Subject) -> k8s.rbac.v1.SubjectArgs:
    """A configured identity as an RBAC binding's subject (ServiceAccounts have no API group)."""
    return k8s.rbac.v1.SubjectArgs(
        kind=subject.kind,
        name=subject.name,
        namespace=subject.namespace,
        api_group=None if subject.kind == "ServiceAccount" else "rbac.authorization.k8s.io",
    )


def cluster_role_binding(
    resource_name: str,
    role: str,
    subjects: tuple[Subject, ...],
    labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> k8s.rbac.v1.ClusterRoleBinding:
    """The ClusterRoleBinding `role` (named as its ClusterRole) to the configured `subjects`."""
    return k8s.rbac.v1.ClusterRoleBinding(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=role, labels=dict(labels)),
        role_ref=k8s.rbac.v1.RoleRefArgs(
            api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role
        ),
        subjects=[rbac_subject(subject) for subject in subjects],
        opts=opts,
    )


def pod_security_labels(level: str) -> dict[str, str]:
    """Pod Security Standards labels: `level` enforced, audited and warned, at PSS_VERSION."""
    modes = ("enforce", "audit", "warn")
    return {
        **{f"pod-security.kubernetes.io/{mode}": level for mode in modes},
        **{f"pod-security.kubernetes.io/{mode}-version": PSS_VERSION for mode in modes},
    }


def namespace_labels(
    namespace: str,
    instance: str,
    environment: str,
    pod_security: str = "restricted",
    extra: Optional[Mapping[str, str]] = None,
) -> dict[str, str]:
    """The Namespace's labels: the program's own, Pod Security Standards (enforced, audited and
    warned at PSS_VERSION) and `extra`. One function for the program and for the review
    workflow's job that creates a review namespace (`tools.branch namespace`)."""
    return {
        **kx.labels(namespace, instance, "namespace", "v1"),
        **pod_security_labels(pod_security),
        "webapp.io/environment": environment,
        **(extra or {}),
    }


def stack_namespace_labels(settings: Settings) -> dict[str, str]:
    """Every label of the stack's namespace, from its settings."""
    extra = {
        # Admits the namespace's routes to the shared Gateway's listener (branch stacks).
        **(
            {GATEWAY_LABEL: settings.routing.shared_gateway}
            if settings.routing.shared_gateway
            else {}
        ),
        # Istio injects a sidecar into every pod created here.
        **({"istio-injection": "enabled"} if settings.mesh.enabled else {}),
    }
    return namespace_labels(settings.namespace, settings.stack, settings.environment, extra=extra)


class NamespaceBaseline(pulumi.ComponentResource):
    namespace_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: NamespaceBaselineArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:platform:NamespaceBaseline", name, None, opts)
        ns = args.namespace
        labels = kx.labels(ns, args.instance, "namespace", "v1")
        child = kx.child_options(self, opts)
        if args.provided:
            # A read, not a resource: the namespace and its labels (Pod Security above all) stay
            # with whoever created it; destroying this stack leaves it.
            self.namespace = k8s.core.v1.Namespace.get(f"{name}-namespace", ns, opts=child)
        else:
            self.namespace = k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=ns,
                    labels=dict(args.labels)
                    or namespace_labels(ns, args.instance, args.environment),
                ),
                opts=pulumi.ResourceOptions.merge(
                    retained(child, args.adopt) if args.protect else child,
                    pulumi.ResourceOptions(protect=args.protect),
                ),
            )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        self._create_limits(name, args, labels, in_namespace)
        self._create_network_baseline(name, args, labels, in_namespace)
        if args.deleters:
            self._create_deletion_guard(name, args, labels, child)
        # A provided namespace's name is known; waiting on its read keeps dependents after it.
        self.namespace_name = (
            self.namespace.id.apply(lambda _: ns) if args.provided else self.namespace.metadata.name
        )
        self.register_outputs({"namespace_name": self.namespace_name})

    def _create_limits(
        self,
        name: str,
        args: NamespaceBaselineArgs,
        labels: dict[str, str],
        in_namespace: pulumi.ResourceOptions,
    ) -> None:
        """ResourceQuota (no LoadBalancer or NodePort Services) and LimitRange defaults."""
        ns = args.namespace
        quota = args.quota
        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=kx.metadata("webapp-quota", ns, labels),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(
                hard={
                    "requests.cpu": quota.requests_cpu,
                    "requests.memory": quota.requests_memory,
                    "limits.cpu": quota.limits_cpu,
                    "limits.memory": quota.limits_memory,
                    "pods": str(quota.pods),
                    "persistentvolumeclaims": str(quota.persistent_volume_claims),
                    "requests.storage": quota.requests_storage,
                    "services.loadbalancers": "0",
                    "services.nodeports": "0",
                }
            ),
            opts=in_namespace,
        )
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=kx.metadata("webapp-limits", ns, labels),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        default={"cpu": "250m", "memory": "256Mi"},
                        default_request={"cpu": "50m", "memory": "64Mi"},
                        max={"cpu": "4", "memory": "8Gi"},
                    )
                ]
            ),
            opts=in_namespace,
        )

    def _create_network_baseline(
        self,
        name: str,
        args: NamespaceBaselineArgs,
        labels: dict[str, str],
        in_namespace: pulumi.ResourceOptions,
    ) -> None:
        """Default deny in both directions, then DNS to kube-dns for every pod."""
        ns = args.namespace
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata=kx.metadata("default-deny", ns, labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
            ),
            opts=in_namespace,
        )
        dns_ports = [
            k8s.networking.v1.NetworkPolicyPortArgs(protocol=protocol, port=53)
            for protocol in ("UDP", "TCP")
        ]
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-dns",
            metadata=kx.metadata("allow-dns", ns, labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Egress"],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={kx.NAMESPACE_LABEL: "kube-system"}
                                ),
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={"k8s-app": "kube-dns"}
                                ),
                            )
                        ],
                        ports=dns_ports,
                    )
                ],
            ),
            opts=in_namespace,
        )

    def _create_deletion_guard(
        self,
        name: str,
        args: NamespaceBaselineArgs,
        labels: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> None:
        # RBAC only grants: this names who *may* delete the namespace. Other identities must not
        # hold a broader grant (cluster-admin); the Pulumi `protect` on the Namespace guards
        # `pulumi destroy`.
        role_name = f"{args.namespace}-namespace-deleter"
        k8s.rbac.v1.ClusterRole(
            f"{name}-deleter-role",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=role_name, labels=labels),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[""],
                    resources=["namespaces"],
                    resource_names=[args.namespace],
                    verbs=["get", "delete"],
                )
            ],
            opts=child,
        )
        cluster_role_binding(f"{name}-deleter-binding", role_name, args.deleters, labels, child)
