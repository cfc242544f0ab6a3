"""ReleaseGate: turns a Rollout's release into the result of `pulumi up`.

The Rollout's own await (`pulumi.com/waitFor`) ends when it settles, Healthy or Degraded. It
cannot tell a settled release from the previous one's status: the provider checks that a status
is current only through an integer `status.observedGeneration`, and Argo Rollouts writes it as a
string, so right after an update the old `Healthy` can satisfy it. The gate closes that gap: a
Job named after the pod template (a new release is a new Job; the Job's spec is immutable, so a
changed name is a replacement, created before the old one is deleted) runs
`kubectl argo rollouts status` at the controller's version, which waits until the controller has
observed the current generation and exits non-zero on Degraded (an aborted canary, a failed
analysis, a progress deadline) or at its timeout. The provider awaits Jobs to completion and fails
the update when one fails, so a failed canary is a failed `pulumi up`, with the CLI's message in
the Job's log.

Creates (parented to the component; `<name>-release` everywhere):
- ServiceAccount (no token automount: the Job's pod asks for its API token itself, as the gate
  reads the API), Role (read-only: rollouts,
  replicasets, pods, analysisruns, experiments in this namespace) and RoleBinding
- NetworkPolicy: egress to the Kubernetes API only (TCP 443/6443 to `api_server`: the range where
  it answers the pods, `kubernetes.apiServerCidr` or on AWS the VPC; anywhere when neither is
  known), nothing in
- Job `<name>-release-<revision>` (backoffLimit 0), after the Rollout
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.kube import objects as kx

STATUS_IMAGE = "quay.io/argoproj/kubectl-argo-rollouts:v1.9.0"
"""The CLI at the controller's version (Argo Rollouts' own image: distroless, user 999)."""
GATE_UID = 65532
"""The Job's UID and GID, above 10000 rather than the image's 999: the static CLI reads nothing
owned by that user (its API credentials are the mounted token, readable by any UID)."""
API_PORTS = (443, 6443)
"""The `kubernetes` Service's port and the API server's own (kind, kubeadm): the policy sees the
address and port after the Service's translation."""
ANYWHERE = "0.0.0.0/0"
READS = ("rollouts", "replicasets", "pods", "analysisruns", "experiments")


@dataclass(frozen=True, kw_only=True)
class ReleaseGateArgs:
    app: str
    """The Rollout's name."""
    namespace: str
    """The Rollout's namespace."""
    instance: str
    """The stack name (labels)."""
    revision: str
    """A digest of the pod template: a new one is a new release and a new Job."""
    timeout_seconds: int
    """How long the whole release may take (`workloads.rollout.update_seconds`)."""
    rollout: pulumi.Resource
    """The Rollout; the Job starts once it is applied."""
    api_server: str = ANYWHERE
    """Where the API server answers (the Job's only way out). Default anywhere: the cloud's
    address is not known without `kubernetes.apiServerCidr`."""


class ReleaseGate(pulumi.ComponentResource):
    """See the module docstring."""

    def __init__(
        self, name: str, args: ReleaseGateArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:workloads:ReleaseGate", name, None, opts)
        gate = f"{args.app}-release"
        labels = kx.labels(gate, args.instance, "delivery", "v1")
        child = kx.child_options(self, opts)
        # The token is asked for by the Job's pod alone (below), not handed to anything else
        # that might run as this ServiceAccount.
        account = kx.service_account(f"{name}-sa", gate, args.namespace, labels, child)
        role = k8s.rbac.v1.Role(
            f"{name}-role",
            metadata=kx.metadata(gate, args.namespace, labels),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["argoproj.io"],
                    resources=["rollouts", "analysisruns", "experiments"],
                    verbs=["get", "list", "watch"],
                ),
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["apps"], resources=["replicasets"], verbs=["get", "list", "watch"]
                ),
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[""], resources=["pods"], verbs=["get", "list", "watch"]
                ),
            ],
            opts=child,
        )
        binding = k8s.rbac.v1.RoleBinding(
            f"{name}-binding",
            metadata=kx.metadata(gate, args.namespace, labels),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=gate
            ),
            subjects=[
                k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=gate, namespace=args.namespace)
            ],
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[role])),
        )
        policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=kx.metadata(gate, args.namespace, labels),
            spec=kx.network_policy_spec(
                gate, args.instance, [], [kx.Peer(ports=API_PORTS, cidr=args.api_server)]
            ),
            opts=child,
        )
        self._create_job(name, args, labels, [args.rollout, account, binding, policy], child)
        self.register_outputs({})

    @staticmethod
    def _create_job(
        name: str,
        args: ReleaseGateArgs,
        labels: dict[str, str],
        after: list[pulumi.Resource],
        child: pulumi.ResourceOptions,
    ) -> None:
        """The Job of this revision: `kubectl argo rollouts status` for the whole release."""
        gate, seconds = f"{args.app}-release", args.timeout_seconds
        k8s.batch.v1.Job(
            f"{name}-job",
            metadata=kx.metadata(f"{gate}-{args.revision[:10]}", args.namespace, labels),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=0,
                active_deadline_seconds=seconds + 120,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=gate,
                        # `kubectl argo rollouts status` watches the Rollout through the API.
                        automount_service_account_token=True,
                        enable_service_links=False,
                        restart_policy="Never",
                        security_context=kx.pod_security(GATE_UID),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="status",
                                image=STATUS_IMAGE,
                                args=[
                                    "status",
                                    args.app,
                                    "--namespace",
                                    args.namespace,
                                    "--timeout",
                                    f"{seconds}s",
                                ],
                                resources=kx.resources(
                                    {
                                        "requests": {"cpu": "10m", "memory": "32Mi"},
                                        "limits": {"cpu": "100m", "memory": "128Mi"},
                                    }
                                ),
                                security_context=kx.container_security(),
                            )
                        ],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    depends_on=after,
                    # The provider awaits the Job for the whole release (its default is 10 min).
                    custom_timeouts=pulumi.CustomTimeouts(
                        create=f"{seconds + 180}s", update=f"{seconds + 180}s"
                    ),
                ),
            ),
        )
