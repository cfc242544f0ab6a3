"""Cluster add-ons a bare cluster needs, each pinned, or declared as already present.

Why `helm.v3.Release` for all of them: each chart ships CRDs plus admission webhooks and Helm hooks
(cert-manager's startupapicheck, Envoy Gateway's certgen Job, the Prometheus operator's admission
patch Jobs). A Release runs those hooks exactly as `helm install` does and, with `skip_await` off,
finishes only when the webhooks are ready, so the custom resources that depend on the release are
created against a working API. `helm.v4.Chart` would give per-object diffs, but it does not run
hooks, and the webhooks would reject the first custom resources. The preview diff of a Release
shows the chart version and values, which is what a reviewer needs to see.

Creates (parented to the component):
- for each namespace a release has Helm create, a NamespacePatch with its Pod Security labels
  (`baseline` enforced; `privileged` for Istio's, whose CNI node agent needs the host)
- ClusterAddons: External Secrets Operator Release (when a cloud store is used; CRDs kept);
  in gateway mode, the Gateway API CRDs (experimental channel) and Envoy Gateway's (Chart
  `gateway-crds-helm`, retained), then the Envoy Gateway Release (`skip_crds`) and GatewayClass
  `envoy-gateway`;
  `cert-manager` Release (CRDs on and kept; Gateway API support only in gateway mode, after those
  CRDs); Stakater Reloader
  Release (hardened; rolls the workloads annotated with the Secrets they read; after Argo
  Rollouts) and, with Rollouts, ClusterRole and ClusterRoleBinding `reloader-argo-rollouts`
  (Reloader may restart Rollouts whatever the chart rendered); the `monitoring`
  Namespace when the Prometheus stack is installed (privileged Pod Security: node-exporter reads
  host metrics, unlike anything in the app namespace)
- Argo Rollouts Release with the Gateway API traffic-router plugin (a service is canary or
  blue-green), KEDA Release (a service scales with KEDA; CRDs kept), Istio `base`, `cni` and
  `istiod` Releases in `istio-system` (the mesh is on); each only when used
- the RabbitMQ Cluster Operator (its release manifest, a `yaml.v2.ConfigFile`, protected with the
  stack's data, its CRD retained and adopted again; a NamespacePatch giving its Namespace the
  restricted Pod Security labels) and ECK
  (Release `elastic-operator` in `elastic-system`) when the stack runs RabbitMQ or Elasticsearch
- PrometheusStack: `kube-prometheus-stack` Release: Prometheus with retention and a persistent
  volume, Alertmanager, Grafana with its admin password from a Secret and the dashboard sidecar
  watching all namespaces; selectors opened so the app's ServiceMonitors and rules are picked up;
  the chart's CRD upgrade Job on

How each add-on's CRDs are upgraded with its pin and kept when it goes: `platform.crds`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.config.capacity import MESH_SIDECAR
from components.config.settings import AddonSettings, MonitoringSettings
from components.kube import objects as kx
from components.kube.lifecycle import keep_crds
from components.platform.crds import gateway_crds, kept_crd_values, prometheus_crd_values
from components.platform.namespace import pod_security_labels
from components.secrets.catalogue import GRAFANA

CERT_MANAGER = {"chart": "cert-manager", "version": "v1.19.1", "repo": "https://charts.jetstack.io"}
ENVOY_GATEWAY = {"chart": "oci://docker.io/envoyproxy/gateway-helm", "version": "v1.7.0"}
EXTERNAL_SECRETS = {
    "chart": "external-secrets",
    "version": "0.19.2",
    "repo": "https://charts.external-secrets.io",
}
RELOADER = {
    "chart": "reloader",
    "version": "2.2.16",
    "repo": "https://stakater.github.io/stakater-charts",
}
"""Stakater Reloader (app v1.4.21); values read from the chart's values.yaml at that version."""
RELOADER_SERVICE_ACCOUNT = "reloader"
"""The ServiceAccount the Reloader release runs as (`reloader.serviceAccount.name`; the chart's
default would be `<release>-reloader`), named so the Rollouts grant below can bind it."""
RELOADER_ROLLOUTS_ROLE = "reloader-argo-rollouts"
"""A ClusterRole this program grants Reloader on Argo Rollouts. The chart's own ClusterRole
(templates/clusterrole.yaml at chart-v2.2.16) holds the `rollouts` rule only when
`.Capabilities.APIVersions.Has "argoproj.io/v1alpha1"` at render time *and* `isArgoRollouts`: no
value forces it, so a Reloader rendered before the Argo Rollouts CRDs exist (or re-rendered while
they are briefly absent) cannot list Rollouts; Reloader v1.4.21 then logs "Failed to list
Rollouts" (internal/pkg/callbacks/rolling_upgrade.go, GetRolloutItems) and restarts none. The
verbs are those of the chart's rule."""
PROMETHEUS_STACK = {
    "chart": "kube-prometheus-stack",
    "version": "79.7.1",
    "repo": "https://prometheus-community.github.io/helm-charts",
}
ARGO_ROLLOUTS = {
    "chart": "argo-rollouts",
    "version": "2.41.0",
    "repo": "https://argoproj.github.io/argo-helm",
}
"""Argo Rollouts: Rollouts and AnalysisTemplates."""
ARGO_ROLLOUTS_APP = "v1.9.0"
"""The controller the chart runs (its appVersion): the CRDs' version."""
GATEWAY_API_PLUGIN = "v0.15.0"
"""Argo Rollouts' Gateway API traffic router (argoproj-labs/rollouts-plugin-trafficrouter-
gatewayapi), copied from its image by an init container: nothing is downloaded at start."""
GATEWAY_API_PLUGIN_IMAGE = (
    f"ghcr.io/argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi:{GATEWAY_API_PLUGIN}"
)
GATEWAY_API_PLUGIN_NAME = "argoproj-labs/gatewayAPI"
KEDA = {"chart": "keda", "version": "2.20.2", "repo": "https://kedacore.github.io/charts"}
"""KEDA (app v2.20.2): ScaledObjects, and the external metrics API their HPAs read."""
ISTIO_REPO = "https://istio-release.storage.googleapis.com/charts"
ISTIO_BASE = {"chart": "base", "version": "1.30.3", "repo": ISTIO_REPO}
"""Istio's CRDs and cluster roles (installed before istiod; templated CRDs, so upgraded with the
chart, and kept on uninstall: each carries `helm.sh/resource-policy: keep` in
manifests/charts/base/files/crd-all.gen.yaml at 1.30.3)."""
ISTIOD = {"chart": "istiod", "version": "1.30.3", "repo": ISTIO_REPO}
ISTIO_CNI = {"chart": "cni", "version": "1.30.3", "repo": ISTIO_REPO}
"""Istio's CNI node agent: it sets up each pod's traffic redirection, so injected pods need no
`istio-init` container with NET_ADMIN/NET_RAW and still pass the namespace's `restricted` Pod
Security (Istio docs, "Install Istio with the Istio CNI node agent")."""
RABBITMQ_OPERATOR = "v2.22.3"
RABBITMQ_OPERATOR_MANIFEST = (
    "https://github.com/rabbitmq/cluster-operator/releases/download/"
    f"{RABBITMQ_OPERATOR}/cluster-operator.yml"
)
"""The RabbitMQ Cluster Operator's release manifest (CRDs, RBAC, the operator in
`rabbitmq-system`): the project's only distribution; it has no Helm chart of its own."""
RABBITMQ_OPERATOR_NAMESPACE = "rabbitmq-system"
"""The namespace the manifest creates and runs the operator in."""
ECK = {"chart": "eck-operator", "version": "3.5.0", "repo": "https://helm.elastic.co"}
"""Elastic's ECK operator (CRDs through its eck-operator-crds subchart, a validating webhook)."""
ECK_NAMESPACE = "elastic-system"
"""Where ECK runs; its operator calls the Elasticsearch HTTP API from there."""
GATEWAY_CLASS = "envoy-gateway"


def pinned_release(
    resource_name: str,
    release: str,
    chart: Mapping[str, str],
    namespace: str,
    values: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
    create_namespace: bool = True,
    timeout: Optional[int] = None,
    pod_security: str = "baseline",
    instance: Optional[str] = None,
    skip_crds: bool = False,
) -> k8s.helm.v3.Release:
    """A Helm release at a pinned chart version that rolls back on failure (`atomic`). The
    namespace Helm creates for it (`create_namespace`) gets the `pod_security` level's labels
    and the recommended ones (`instance`: the stack name, required then). `skip_crds`: the
    chart's `crds/` directory is not installed (its CRDs come from elsewhere, `platform.crds`)."""
    if create_namespace and instance is None:
        raise ValueError(f"{resource_name}: a release that creates its namespace needs `instance`")
    helm_release = k8s.helm.v3.Release(
        resource_name,
        k8s.helm.v3.ReleaseArgs(
            name=release,
            chart=chart["chart"],
            version=chart["version"],
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart["repo"])
            if "repo" in chart
            else None,
            namespace=namespace,
            create_namespace=create_namespace,
            atomic=True,
            cleanup_on_fail=True,
            timeout=timeout,
            skip_crds=skip_crds or None,
            values=dict(values),
        ),
        opts=opts,
    )
    if create_namespace:
        label_namespace(
            f"{resource_name}-namespace", namespace, pod_security, str(instance), opts, helm_release
        )
    return helm_release


def label_namespace(
    resource_name: str,
    namespace: str,
    level: str,
    instance: str,
    opts: pulumi.ResourceOptions,
    after: pulumi.Resource,
) -> k8s.core.v1.NamespacePatch:
    """Pod Security labels (`level` enforced, audited and warned) on a namespace the program
    does not declare itself: Helm's `createNamespace` and the RabbitMQ operator's manifest make
    theirs unlabelled, which the cluster's default admits as privileged. A server-side apply
    patch after `after` (which creates the namespace): the pods it started are not evicted,
    every pod created later is admitted at `level`. A destroy removes the patch first, then the
    labels' owner."""
    labels = {**kx.labels(namespace, instance, "namespace", "v1"), **pod_security_labels(level)}
    return k8s.core.v1.NamespacePatch(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaPatchArgs(name=namespace, labels=labels),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[after])),
    )


@dataclass(frozen=True, kw_only=True)
class ClusterAddonsArgs:
    instance: str
    """The stack name (labels)."""
    addons: AddonSettings
    """Per add-on: `install` (this program installs it, pinned) or `present` (already in the
    cluster).
    """
    gateway: bool
    """Whether the Gateway API implementation is needed (routing mode `gateway`)."""
    monitoring: bool
    """Whether the Prometheus stack is wanted at all (monitoring enabled)."""
    monitoring_namespace: str = "monitoring"
    """The namespace created for the Prometheus stack. Default monitoring."""
    external_secrets: bool = False
    """Whether External Secrets Operator is needed (a cloud secret store is in use)."""
    high_availability: bool = False
    """Two replicas and PDBs for the controllers (production)."""
    protect: bool = False
    """Pulumi `protect` on the monitoring Namespace (production): deleting it would delete
    Prometheus' and Grafana's volumes. Default off."""
    rollouts: bool = False
    """Whether Argo Rollouts is needed (a service is canary or blue-green)."""
    keda: bool = False
    """Whether KEDA is needed (a service's autoscaler is keda)."""
    mesh: bool = False
    """Whether Istio is needed (the mesh is on)."""
    mesh_namespace: str = "istio-system"
    """Where istiod and the CNI agent run."""
    rabbitmq: bool = False
    """Whether the RabbitMQ Cluster Operator is needed (`rabbitmq.enabled`)."""
    elasticsearch: bool = False
    """Whether ECK is needed (`elasticsearch.enabled`)."""
    adopt: Optional[pulumi.ProviderResource] = None
    """The Kubernetes provider that adopts objects already in the cluster
    (`upsertExistingObjects`), for the CRDs this component retains; None (component tests): the
    inherited one. See `components.kube.lifecycle`."""


def reloader_values(high_availability: bool, rollouts: bool = False) -> dict[str, Any]:
    """Reloader watching the workloads that opt in by annotation (none is reloaded otherwise),
    restarting them through a pod-template annotation, which server-side apply leaves to it (no
    drift for Pulumi to revert); non-root, read-only root filesystem, no capabilities."""
    return {
        "reloader": {
            "autoReloadAll": False,
            # Argo Rollouts annotated for reload are restarted like Deployments.
            "isArgoRollouts": rollouts,
            "reloadStrategy": "annotations",
            "reloadOnCreate": False,
            "watchGlobally": True,
            "readOnlyRootFileSystem": True,
            "enableHA": high_availability,
            "serviceAccount": {"create": True, "name": RELOADER_SERVICE_ACCOUNT},
            "deployment": {
                "replicas": 2 if high_availability else 1,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 65534,
                    "runAsGroup": 65534,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containerSecurityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                    "readOnlyRootFilesystem": True,
                },
                "resources": {
                    "requests": {"cpu": "10m", "memory": "64Mi"},
                    "limits": {"cpu": "100m", "memory": "256Mi"},
                },
            },
            "podDisruptionBudget": (
                {"enabled": True, "maxUnavailable": 1} if high_availability else {"enabled": False}
            ),
        }
    }


PLUGIN_DIR = "/plugins"


def argo_rollouts_values(high_availability: bool) -> dict[str, Any]:
    """The controller with the Gateway API plugin copied in by an init container (nothing is
    fetched from the internet at start), RBAC only for the routers this program uses (Istio,
    Gateway API; ingress-nginx needs only the core rules), no dashboard; the chart's hardened
    security contexts (non-root, read-only root, no capabilities, RuntimeDefault seccomp)."""
    providers = {
        name: name in ("istio", "gatewayAPI")
        for name in (
            "istio",
            "smi",
            "ambassador",
            "awsLoadBalancerController",
            "awsAppMesh",
            "traefik",
            "apisix",
            "contour",
            "glooPlatform",
            "gatewayAPI",
        )
    }
    plugin = f"{PLUGIN_DIR}/rollouts-plugin-trafficrouter-gatewayapi"
    return {
        "installCRDs": True,
        # Uninstalling the controller must not delete every Rollout (and its pods) with its CRDs.
        "keepCRDs": True,
        "controller": {
            "replicas": 2 if high_availability else 1,
            "pdb": {"enabled": high_availability, "maxUnavailable": 1},
            "initContainers": [
                {
                    "name": "copy-gateway-api-plugin",
                    "image": GATEWAY_API_PLUGIN_IMAGE,
                    "command": ["/bin/sh", "-c"],
                    "args": [f"cp /bin/rollouts-plugin-trafficrouter-gatewayapi {PLUGIN_DIR}"],
                    "volumeMounts": [{"name": "gateway-api-plugin", "mountPath": PLUGIN_DIR}],
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 999,
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "32Mi"},
                        "limits": {"cpu": "100m", "memory": "64Mi"},
                    },
                }
            ],
            "trafficRouterPlugins": [
                {"name": GATEWAY_API_PLUGIN_NAME, "location": f"file://{plugin}"}
            ],
            "volumes": [{"name": "gateway-api-plugin", "emptyDir": {"sizeLimit": "64Mi"}}],
            "volumeMounts": [{"name": "gateway-api-plugin", "mountPath": PLUGIN_DIR}],
            "resources": {
                "requests": {"cpu": "50m", "memory": "128Mi"},
                "limits": {"cpu": "1", "memory": "512Mi"},
            },
        },
        "dashboard": {"enabled": False},
        "providerRBAC": {"enabled": True, "providers": providers},
    }


def keda_values(high_availability: bool) -> dict[str, Any]:
    """KEDA with the chart's hardened defaults (non-root, read-only root, no capabilities,
    RuntimeDefault seccomp); two operators in production (leader election), one metrics server
    (the external metrics API serves from one). Its CRDs kept on uninstall: switching KEDA to
    `present` (or off) must not delete every ScaledObject in the cluster."""
    return {
        **kept_crd_values("keda"),
        "image": {"pullPolicy": "IfNotPresent"},
        "operator": {"replicaCount": 2 if high_availability else 1},
    }


def istiod_values(high_availability: bool) -> dict[str, Any]:
    """istiod with the CNI agent (no privileged init container in the app's pods) and native
    sidecars (a Job's pod completes; the proxy starts before the app and stops after it)."""
    return {
        "autoscaleEnabled": False,
        "replicaCount": 2 if high_availability else 1,
        "cni": {"enabled": True},
        "env": {"ENABLE_NATIVE_SIDECARS": "true"},
        "global": {
            "proxy": {
                "seccompProfile": {"type": "RuntimeDefault"},
                # The size the quota check counts for every pod (`config.capacity`).
                "resources": MESH_SIDECAR.as_dict(),
            }
        },
    }


def external_secrets_values(replicas: int, high_availability: bool) -> dict[str, Any]:
    """The controller and webhook; its CRDs templated (upgraded with the chart) and kept on
    uninstall: switching External Secrets to `present` must not delete every ExternalSecret."""
    return {
        "installCRDs": True,
        **kept_crd_values("external-secrets"),
        "replicaCount": replicas,
        "podDisruptionBudget": {"enabled": high_availability},
        "webhook": {"replicaCount": replicas},
        # Only the stores this program declares are reconciled by this controller.
        "processClusterExternalSecret": False,
        "processPushSecret": False,
    }


def cert_manager_values(
    replicas: int, high_availability: bool, gateway_api: bool = False
) -> dict[str, Any]:
    """cert-manager with its CRDs templated and kept. `gateway_api`: its Gateway API support
    (certificates for Gateway listeners), only where the Gateway API CRDs exist: with it on and
    the CRDs absent, the controller exits at start and crash-loops (pkg/controller/context.go at
    v1.19.1: "the Gateway API CRDs do not seem to be present"), so the Release's atomic wait
    fails."""
    return {
        # keep: uninstalling the release must not delete every Certificate in the cluster.
        "crds": {"enabled": True, "keep": True},
        "config": {
            "apiVersion": "controller.config.cert-manager.io/v1alpha1",
            "kind": "ControllerConfiguration",
            "enableGatewayAPI": gateway_api,
        },
        "replicaCount": replicas,
        "podDisruptionBudget": {"enabled": high_availability},
        "webhook": {"replicaCount": replicas},
        "global": {"leaderElection": {"namespace": "cert-manager"}},
    }


class ClusterAddons(pulumi.ComponentResource):
    cert_manager: Optional[k8s.helm.v3.Release]
    gateway: Optional[k8s.helm.v3.Release]
    monitoring_namespace: Optional[k8s.core.v1.Namespace]

    def __init__(
        self, name: str, args: ClusterAddonsArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:platform:ClusterAddons", name, None, opts)
        self._name, self._args, self._opts = name, args, opts
        child = kx.child_options(self, opts)
        replicas = 2 if args.high_availability else 1
        self.cert_manager = None
        self.gateway = None
        self.monitoring_namespace = None
        self.external_secrets: Optional[k8s.helm.v3.Release] = None
        if args.external_secrets and args.addons.external_secrets == "install":
            self.external_secrets = self._addon(
                "external-secrets",
                EXTERNAL_SECRETS,
                external_secrets_values(replicas, args.high_availability),
                child,
            )
        self.gateway_crds: Optional[k8s.helm.v4.Chart] = None
        if args.gateway and args.addons.gateway == "install":
            self.gateway_crds = gateway_crds(
                f"{name}-gateway-crds", ENVOY_GATEWAY["version"], child, args.adopt
            )
        if args.addons.cert_manager == "install":
            # After the Gateway API CRDs (its gateway-shim watches Gateways from the start).
            after_crds = [self.gateway_crds] if self.gateway_crds is not None else []
            self.cert_manager = self._addon(
                "cert-manager",
                CERT_MANAGER,
                cert_manager_values(replicas, args.high_availability, gateway_api=args.gateway),
                kx.child_options(self, opts, after_crds),
            )
        if self.gateway_crds is not None:
            self.gateway = self._create_gateway(replicas, self.gateway_crds)
        if args.monitoring and args.addons.monitoring_stack == "install":
            self.monitoring_namespace = self._create_monitoring_namespace(child)
        self._create_delivery(replicas, child)
        self._create_reloader()
        self._create_brokers(replicas, child)
        self.register_outputs({})

    def _create_delivery(self, replicas: int, child: pulumi.ResourceOptions) -> None:
        """Argo Rollouts, KEDA and Istio, each where the stack uses it."""
        self.rollouts: Optional[k8s.helm.v3.Release] = None
        if self._args.rollouts and self._args.addons.argo_rollouts == "install":
            self.rollouts = self._addon(
                "argo-rollouts",
                ARGO_ROLLOUTS,
                argo_rollouts_values(self._args.high_availability),
                child,
            )
        self.keda: Optional[k8s.helm.v3.Release] = None
        if self._args.keda and self._args.addons.keda == "install":
            self.keda = self._addon("keda", KEDA, keda_values(self._args.high_availability), child)
        self.istio: list[k8s.helm.v3.Release] = []
        if self._args.mesh and self._args.addons.istio == "install":
            self.istio = self._create_istio(child)

    def _create_reloader(self) -> None:
        """Reloader, after Argo Rollouts when this program installs both: Helm renders the chart's
        ClusterRole against the API versions the cluster serves, and its `rollouts` rule appears
        only once the Rollouts CRDs do (see RELOADER_ROLLOUTS_ROLE). A later change that turns
        Rollouts on upgrades this release (its `isArgoRollouts` value changes) after that release.
        The grant of our own does not depend on that order: RBAC names a resource without the API
        having to serve it, so it holds from the first `pulumi up`."""
        args = self._args
        self.reloader: Optional[k8s.helm.v3.Release] = None
        if args.addons.reloader != "install":
            return
        after = [self.rollouts] if self.rollouts is not None else []
        self.reloader = self._addon(
            "reloader",
            RELOADER,
            reloader_values(args.high_availability, args.rollouts),
            kx.child_options(self, self._opts, after),
        )
        if args.rollouts:
            self._grant_reloader_rollouts()

    def _grant_reloader_rollouts(self) -> None:
        """ClusterRole and ClusterRoleBinding: Reloader may list, get, update and patch Rollouts."""
        labels = kx.labels("reloader", self._args.instance, "rotation", RELOADER["version"])
        child = kx.child_options(self, self._opts)
        k8s.rbac.v1.ClusterRole(
            f"{self._name}-reloader-rollouts-role",
            metadata=kx.metadata(RELOADER_ROLLOUTS_ROLE, None, labels),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["argoproj.io"],
                    resources=["rollouts"],
                    verbs=["list", "get", "update", "patch"],
                )
            ],
            opts=child,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{self._name}-reloader-rollouts-binding",
            metadata=kx.metadata(RELOADER_ROLLOUTS_ROLE, None, labels),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io",
                kind="ClusterRole",
                name=RELOADER_ROLLOUTS_ROLE,
            ),
            subjects=[
                k8s.rbac.v1.SubjectArgs(
                    kind="ServiceAccount", name=RELOADER_SERVICE_ACCOUNT, namespace="reloader"
                )
            ],
            opts=child,
        )

    def _create_brokers(self, replicas: int, child: pulumi.ResourceOptions) -> None:
        """The RabbitMQ and Elasticsearch operators, where the stack runs either."""
        self.rabbitmq_operator: Optional[pulumi.Resource] = None
        if self._args.rabbitmq and self._args.addons.rabbitmq_operator == "install":
            # Applied object by object (a ConfigFile): the CRDs and the operator's Deployment are
            # awaited before anything that depends on this resource. Its webhook's certificate is
            # cert-manager's (an Issuer and a Certificate in the manifest), so cert-manager first.
            # `protect` (production) reaches the manifest's objects as their parent's: its
            # Namespace, like every namespace the program declares, is not deleted by a destroy.
            # The CRD is retained (`keep_crds`): deleting it would delete every RabbitmqCluster,
            # whatever their own `retain_on_delete`, when RabbitMQ is switched off. Switched on
            # again, the manifest meets its own retained CRD: the adopting provider takes it
            # over (`components.kube.lifecycle`). Its other objects are deleted with it; none
            # holds data.
            extra = pulumi.ResourceOptions(protect=self._args.protect, transforms=[keep_crds])
            if self._args.adopt is not None:
                extra.providers = [self._args.adopt]
            self.rabbitmq_operator = k8s.yaml.v2.ConfigFile(
                f"{self._name}-rabbitmq-operator",
                file=RABBITMQ_OPERATOR_MANIFEST,
                opts=pulumi.ResourceOptions.merge(
                    kx.child_options(
                        self, self._opts, [self.cert_manager] if self.cert_manager else []
                    ),
                    extra,
                ),
            )
            self._allow_rabbitmq_operator()
            self._restrict_rabbitmq_operator_namespace()
        self.eck: Optional[k8s.helm.v3.Release] = None
        if self._args.elasticsearch and self._args.addons.eck == "install":
            self.eck = pinned_release(
                f"{self._name}-eck",
                "elastic-operator",
                ECK,
                ECK_NAMESPACE,
                {"installCRDs": True, "replicaCount": replicas},
                child,
                instance=self._args.instance,
            )

    def _restrict_rabbitmq_operator_namespace(self) -> None:
        """The manifest's Namespace carries no Pod Security labels (config/namespace/base/
        namespace.yaml at the pinned tag): `restricted`, which the operator's own pod meets
        (config/manager/manager.yaml: non-root, RuntimeDefault seccomp, all capabilities
        dropped, no privilege escalation)."""
        assert self.rabbitmq_operator is not None
        label_namespace(
            f"{self._name}-rabbitmq-operator-namespace",
            RABBITMQ_OPERATOR_NAMESPACE,
            "restricted",
            self._args.instance,
            kx.child_options(self, self._opts),
            self.rabbitmq_operator,
        )

    def _allow_rabbitmq_operator(self) -> None:
        """The operator's pods, which its manifest leaves open: the API server in to its webhook
        (9443), Prometheus to its metrics (8080); out only to the API server (it manages the
        brokers through it, `kubectl exec` included) and DNS."""
        assert self.rabbitmq_operator is not None
        instance = self._args.instance
        callers = kx.Peer(ports=(9443, 8080), cidr="0.0.0.0/0")
        api_server = kx.Peer(ports=(443, 6443), cidr="0.0.0.0/0")
        dns = [
            k8s.networking.v1.NetworkPolicyPortArgs(protocol=protocol, port=53)
            for protocol in ("UDP", "TCP")
        ]
        k8s.networking.v1.NetworkPolicy(
            f"{self._name}-rabbitmq-operator-netpol",
            metadata=kx.metadata(
                "rabbitmq-cluster-operator",
                RABBITMQ_OPERATOR_NAMESPACE,
                kx.labels("rabbitmq-cluster-operator", instance, "messaging", RABBITMQ_OPERATOR),
            ),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={"app.kubernetes.io/name": "rabbitmq-cluster-operator"}
                ),
                policy_types=["Ingress", "Egress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[callers.peer(instance)], ports=callers.port_args()
                    )
                ],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[api_server.peer(instance)], ports=api_server.port_args()
                    ),
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(ports=dns),
                ],
            ),
            opts=kx.child_options(self, self._opts, [self.rabbitmq_operator]),
        )

    def _create_istio(self, child: pulumi.ResourceOptions) -> list[k8s.helm.v3.Release]:
        """Istio's CRDs first (base), then the CNI agent and istiod: istiod's webhook validates
        the mesh objects and injects the sidecars, so everything that uses them waits for it."""
        namespace = self._args.mesh_namespace
        # istio-cni's node agent runs privileged with the host's network and CNI paths.
        base = pinned_release(
            f"{self._name}-istio-base",
            "istio-base",
            ISTIO_BASE,
            namespace,
            {},
            child,
            pod_security="privileged",
            instance=self._args.instance,
        )
        after_base = kx.child_options(self, self._opts, [base])
        cni = pinned_release(
            f"{self._name}-istio-cni",
            "istio-cni",
            ISTIO_CNI,
            namespace,
            {},
            after_base,
            create_namespace=False,
        )
        istiod = pinned_release(
            f"{self._name}-istiod",
            "istiod",
            ISTIOD,
            namespace,
            istiod_values(self._args.high_availability),
            kx.child_options(self, self._opts, [base, cni]),
            create_namespace=False,
        )
        return [base, cni, istiod]

    def _addon(
        self,
        release: str,
        chart: Mapping[str, str],
        values: Mapping[str, Any],
        child: pulumi.ResourceOptions,
    ) -> k8s.helm.v3.Release:
        """A pinned add-on, its release and namespace named after it."""
        return pinned_release(
            f"{self._name}-{release}",
            release,
            chart,
            release,
            values,
            child,
            instance=self._args.instance,
        )

    def _create_gateway(self, replicas: int, crds: pulumi.Resource) -> k8s.helm.v3.Release:
        """Envoy Gateway, after its CRDs (`gateway-crds-helm`; the chart's own `crds/` skipped,
        Helm would never upgrade them), and the GatewayClass its controller serves."""
        release = pinned_release(
            f"{self._name}-envoy-gateway",
            "envoy-gateway",
            ENVOY_GATEWAY,
            "envoy-gateway-system",
            {"deployment": {"replicas": replicas}},
            kx.child_options(self, self._opts, [crds]),
            instance=self._args.instance,
            skip_crds=True,
        )
        k8s.apiextensions.CustomResource(
            f"{self._name}-gatewayclass",
            api_version="gateway.networking.k8s.io/v1",
            kind="GatewayClass",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=GATEWAY_CLASS,
                labels=kx.labels(GATEWAY_CLASS, self._args.instance, "edge", "v1"),
            ),
            spec={"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
            opts=kx.child_options(self, self._opts, [release]),
        )
        return release

    def _create_monitoring_namespace(self, child: pulumi.ResourceOptions) -> k8s.core.v1.Namespace:
        """node-exporter needs host access, so this namespace is `privileged` (the application's
        stays `restricted`)."""
        args = self._args
        pss = {
            f"pod-security.kubernetes.io/{mode}": "privileged"
            for mode in ("enforce", "audit", "warn")
        }
        return k8s.core.v1.Namespace(
            f"{self._name}-monitoring-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.monitoring_namespace,
                labels={
                    **kx.labels(args.monitoring_namespace, args.instance, "monitoring", "v1"),
                    **pss,
                },
            ),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect)),
        )

    @property
    def secret_operator(self) -> list[pulumi.Resource]:
        """The External Secrets release, when this program installs it."""
        return [self.external_secrets] if self.external_secrets is not None else []

    @property
    def crd_providers(self) -> list[pulumi.Resource]:
        """Releases that install CRDs the application's custom resources use (and the
        controllers that serve them)."""
        return [
            release
            for release in (self.cert_manager, self.gateway_crds, self.gateway)
            if release is not None
        ]

    @property
    def delivery_providers(self) -> list[pulumi.Resource]:
        """Releases behind Rollouts, ScaledObjects and the mesh objects (and the injection)."""
        return [
            release for release in (self.rollouts, self.keda, *self.istio) if release is not None
        ]


@dataclass(frozen=True, kw_only=True)
class PrometheusStackArgs:
    monitoring: MonitoringSettings
    """Retention and storage of Prometheus."""
    namespace: str = "monitoring"
    """Where the stack runs (created by ClusterAddons). Default monitoring."""
    high_availability: bool = False
    """Two Prometheus and Alertmanager replicas (production). Default off."""
    depends_on: Sequence[pulumi.Resource] = ()
    """The monitoring Namespace and the Grafana admin Secret, which must exist first."""
    grafana_values: Mapping[str, Any] = field(default_factory=dict)
    """Extra Grafana chart values (Azure CSI delivery: workload identity ServiceAccount, CSI mount).
    """


class PrometheusStack(pulumi.ComponentResource):
    release: k8s.helm.v3.Release

    def __init__(
        self, name: str, args: PrometheusStackArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:platform:PrometheusStack", name, None, opts)
        monitoring = args.monitoring
        storage = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": monitoring.storage_size}},
        }
        if monitoring.storage_class:
            storage["storageClassName"] = monitoring.storage_class
        self.release = pinned_release(
            f"{name}-release",
            "kube-prometheus-stack",
            PROMETHEUS_STACK,
            args.namespace,
            {
                "prometheus": {
                    "prometheusSpec": {
                        "retention": monitoring.retention,
                        "storageSpec": {"volumeClaimTemplate": {"spec": storage}},
                        "replicas": 2 if args.high_availability else 1,
                        # Pick up ServiceMonitors and rules from every namespace, not only the
                        # chart's own.
                        "serviceMonitorSelectorNilUsesHelmValues": False,
                        "podMonitorSelectorNilUsesHelmValues": False,
                        "ruleSelectorNilUsesHelmValues": False,
                    }
                },
                "grafana": {
                    **dict(args.grafana_values),
                    # The chart's default, stated because the pod needs it: the dashboard sidecar
                    # (kiwigrid/k8s-sidecar) lists and watches ConfigMaps in every namespace
                    # through the API. Whichever ServiceAccount Grafana runs as keeps
                    # automount off (the chart's own, and Azure's `grafana-key-vault`).
                    "automountServiceAccountToken": True,
                    "admin": {
                        "existingSecret": GRAFANA.name,
                        "userKey": "admin-user",
                        "passwordKey": "admin-password",
                    },
                    "sidecar": {
                        "dashboards": {
                            "enabled": True,
                            "label": "grafana_dashboard",
                            "labelValue": "1",
                            "searchNamespace": "ALL",
                        }
                    },
                    "persistence": {"enabled": True, "size": "10Gi"},
                },
                "alertmanager": {"enabled": True},
                # Helm never upgrades the `crds/` CRDs; the chart's Job does (`platform.crds`).
                **prometheus_crd_values(),
            },
            kx.child_options(self, opts, args.depends_on),
            create_namespace=False,
            timeout=900,
        )
        self.register_outputs({"release_name": self.release.name})
