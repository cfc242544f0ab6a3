"""ReviewAccess: what review stacks (one per pull request, `tools.branch`) may do in the cluster
that hosts them, declared by that cluster's own stack (staging, `routing.branches`).

A review stack runs pull-request code, so its identity must reach nothing but its own namespace.
Kubernetes RBAC cannot say "namespaces whose name starts with feature-pr-", and a namespace's
creator gets no rights in it, so the work is split between two identities:

- the **admin** (`routing.branches.admins`, the `review-admin` GitHub environment, used only by a
  base-branch job that never runs pull-request code) creates the namespace `feature-pr-<N>` with
  the program's labels (Pod Security `restricted`, `tools.branch namespace`) and a RoleBinding in
  it to `webapp-review-deployer`; it deletes the namespace when the pull request closes;
- the **deployer** (`routing.branches.deployers`, the `review` environment, which runs the pull
  request's program) holds `webapp-review-deployer` in that namespace only: the kinds a review
  stack declares, and reads of what the provider awaits. Secrets in that namespace only (the
  program writes the database roles' itself; the others are its own vault's, synced by the CSI
  driver, and any pod it declares could mount them anyway), not the Namespace object beyond
  `get` (its Pod Security labels stay the admin's), nothing cluster-scoped.

Creates (parented to the component):
- ClusterRole `webapp-review-deployer` (bound per namespace by the admin, never cluster-wide)
- ClusterRole `webapp-review-admin` and its ClusterRoleBinding to the admins: create, read and
  delete namespaces and RoleBindings, and `bind` on `webapp-review-deployer` only (RBAC lets a
  RoleBinding grant a role its creator does not hold only through `bind`)

Both are plain RBAC objects: created in seconds, updated in place; a rule removed here is removed
from every review namespace at once (the bindings reference the ClusterRole by name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.config.settings import Subject
from components.kube import objects as kx
from components.platform.namespace import cluster_role_binding

DEPLOYER_ROLE = "webapp-review-deployer"
ADMIN_ROLE = "webapp-review-admin"
WRITE = ("get", "list", "watch", "create", "update", "patch", "delete")
READ = ("get", "list", "watch")

DEPLOYER_RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    # (API group, resources, verbs): what a review stack declares (tests/platform/
    # test_review_access.py holds this to a rendered review stack) ...
    (
        "",
        (
            "configmaps",
            "services",
            "serviceaccounts",
            "persistentvolumeclaims",
            "resourcequotas",
            "limitranges",
        ),
        WRITE,
    ),
    # The Secrets the program writes itself (`cat.PROGRAM_SECRETS`: the database roles'). The
    # namespace's other Secrets are the review stack's own (its vault's, which this identity
    # administers anyway), and any pod it declares could mount them: reading them here adds
    # nothing it could not already reach.
    ("", ("secrets",), WRITE),
    ("apps", ("deployments", "statefulsets"), WRITE),
    ("batch", ("jobs", "cronjobs"), WRITE),
    ("networking.k8s.io", ("networkpolicies",), WRITE),
    ("policy", ("poddisruptionbudgets",), WRITE),
    ("autoscaling", ("horizontalpodautoscalers",), WRITE),
    ("rbac.authorization.k8s.io", ("roles", "rolebindings"), WRITE),
    ("argoproj.io", ("rollouts", "analysistemplates"), WRITE),
    ("keda.sh", ("scaledobjects",), WRITE),
    ("gateway.networking.k8s.io", ("httproutes",), WRITE),
    ("gateway.envoyproxy.io", ("backendtrafficpolicies", "securitypolicies"), WRITE),
    ("secrets-store.csi.x-k8s.io", ("secretproviderclasses",), WRITE),
    # ... and what the provider reads while it awaits them (Deployments through their
    # ReplicaSets and Pods, Services through their endpoints, Jobs through their Pods).
    ("", ("pods", "pods/log", "events", "endpoints", "namespaces"), READ),
    ("apps", ("replicasets", "controllerrevisions"), READ),
    ("discovery.k8s.io", ("endpointslices",), READ),
    ("argoproj.io", ("analysisruns", "experiments"), READ),
)
"""The deployer's rules. `namespaces` is read-only: a RoleBinding in namespace N lets its subject
`get` the Namespace N itself (the API server's request info names a namespace's own path as in that
namespace), which is how the program reads its provided namespace."""


@dataclass(frozen=True, kw_only=True)
class ReviewAccessArgs:
    instance: str
    """The hosting stack's name (`app.kubernetes.io/instance`)."""
    admins: tuple[Subject, ...]
    """The identity that creates and deletes review namespaces (`routing.branches.admins`)."""


class ReviewAccess(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: ReviewAccessArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:platform:ReviewAccess", name, None, opts)
        child = kx.child_options(self, opts)
        labels = kx.labels("review-access", args.instance, "rbac", "v1")
        deployer = k8s.rbac.v1.ClusterRole(
            f"{name}-deployer",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=DEPLOYER_ROLE, labels=labels),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[group], resources=list(resources), verbs=list(verbs)
                )
                for group, resources, verbs in DEPLOYER_RULES
            ],
            opts=child,
        )
        admin = k8s.rbac.v1.ClusterRole(
            f"{name}-admin",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ADMIN_ROLE, labels=labels),
            rules=[
                # `create` cannot be limited by name; the admin runs base-branch code only, which
                # creates `feature-pr-<N>` namespaces and nothing else.
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[""],
                    resources=["namespaces"],
                    verbs=["get", "list", "create", "delete"],
                ),
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["rbac.authorization.k8s.io"],
                    resources=["rolebindings"],
                    verbs=["get", "create", "update", "patch", "delete"],
                ),
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["rbac.authorization.k8s.io"],
                    resources=["clusterroles"],
                    resource_names=[DEPLOYER_ROLE],
                    verbs=["bind"],
                ),
            ],
            opts=child,
        )
        cluster_role_binding(
            f"{name}-admin-binding",
            ADMIN_ROLE,
            args.admins,
            labels,
            pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[admin])),
        )
        self.deployer_role = deployer.metadata.name
        self.register_outputs({"deployer_role": self.deployer_role})


def deployer_binding(namespace: str, deployers: tuple[Subject, ...]) -> dict[str, object]:
    """The RoleBinding the admin creates in a review namespace (a manifest for `kubectl apply`)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": DEPLOYER_ROLE, "namespace": namespace},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": DEPLOYER_ROLE,
        },
        "subjects": [
            {
                key: value
                for key, value in {
                    "kind": subject.kind,
                    "name": subject.name,
                    "namespace": subject.namespace,
                    "apiGroup": None
                    if subject.kind == "ServiceAccount"
                    else "rbac.authorization.k8s.io",
                }.items()
                if value is not None
            }
            for subject in deployers
        ],
    }
