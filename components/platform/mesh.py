"""Mesh: the namespace's Istio policies, derived from the same connections as its NetworkPolicies.

The namespace's pods get an Istio sidecar (NamespaceBaseline labels the namespace
`istio-injection: enabled`; the CNI agent sets up their traffic, so they need no privileged init
container and keep `restricted` Pod Security). Kubelet probes keep working: the injector rewrites
HTTP probes to the sidecar's agent, which calls the app over localhost.

Creates (parented to the component, each after Istio's CRDs and webhook):
- PeerAuthentication `default`: mTLS STRICT for every pod of the namespace
- PeerAuthentication `<app>-metrics` per workload that Prometheus scrapes: those ports PERMISSIVE
  (Prometheus runs outside the mesh; the workload's NetworkPolicy still admits only the
  monitoring namespace on them)
- AuthorizationPolicy `deny-all` (an empty spec): nothing is allowed that no policy allows, as
  the namespace's default-deny NetworkPolicy
- AuthorizationPolicy `<app>` per workload with callers: exactly the callers and ports its
  NetworkPolicy admits, each caller by its mTLS identity (`cluster.local/ns/<namespace>/sa/<app>`:
  every workload runs as the ServiceAccount named after it) or its namespace (the Gateway's
  proxies, in the mesh), and the scraped ports from any plain-text peer (no identity exists there)
- NetworkPolicy `allow-istiod`: every pod's sidecar to istiod (xDS and certificates, 15012)
- with monitoring: PodMonitor `istio-proxies`, every sidecar's own statistics (`http-envoy-prom`,
  15090, `/stats/prometheus`, as Istio's prometheus-operator example scrapes them: istio 1.30.3
  `samples/addons/extras/prometheus-operator.yaml`), and NetworkPolicy `allow-sidecar-metrics`
  admitting the monitoring namespace on that port. `istio_requests_total{reporter="destination"}`
  from them is each pod's count of the requests it answered, by response code: the analysis of a
  release in the mesh reads it (`workloads.analysis`), for every service, the frontend's NGINX
  included. The port is Envoy's own listener, outside the sidecar's inbound capture (the
  injection template excludes 15090), so no mTLS or AuthorizationPolicy applies to the scrape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.kube import objects as kx

SECURITY_API = "security.istio.io/v1"
ISTIOD_PORT = 15012
SIDECAR_METRICS_PORT = 15090
SIDECAR_METRICS_PORT_NAME = "http-envoy-prom"
"""The sidecar container's metrics port and its name (istio 1.30.3
`manifests/charts/istio-control/istio-discovery/files/injection-template.yaml`)."""
SIDECAR_LABEL = {"security.istio.io/tlsMode": "istio"}
"""What the injector labels every pod with a sidecar (the same template)."""
TRUST_DOMAIN = "cluster.local"


@dataclass(frozen=True, kw_only=True)
class MeshArgs:
    namespace: str
    """The application namespace (labelled for injection by NamespaceBaseline)."""
    instance: str
    """The stack name (labels, selectors)."""
    ingress: Mapping[str, tuple[kx.Peer, ...]]
    """Per workload (`app.kubernetes.io/name`): what its NetworkPolicy admits."""
    plaintext_namespace: Optional[str] = None
    """The namespace whose peers reach the pods without a sidecar (Prometheus'): their ports are
    PERMISSIVE and admitted without an identity. None when monitoring is off."""
    mesh_namespace: str = "istio-system"
    """Where istiod runs."""
    crd_dependencies: Sequence[pulumi.Resource] = ()
    """The Istio releases, when this program installs them."""
    monitoring_dependencies: Sequence[pulumi.Resource] = ()
    """What installs the PodMonitor CRD (the monitoring add-on), when this program does."""
    strict: bool = True
    """mTLS STRICT with the AuthorizationPolicies; False: PERMISSIVE and none (a running stack
    moving into the mesh, while its pods without sidecars still call)."""


def principal(namespace: str, account: str) -> str:
    return f"{TRUST_DOMAIN}/ns/{namespace}/sa/{account}"


def _ports(peer: kx.Peer) -> list[dict[str, Any]]:
    return [{"operation": {"ports": [str(port) for port in peer.ports]}}]


def rule(peer: kx.Peer, namespace: str, plaintext: Optional[str]) -> dict[str, Any]:
    """One NetworkPolicy ingress peer as an AuthorizationPolicy rule."""
    if peer.app is not None:
        source: dict[str, Any] = {"principals": [principal(namespace, peer.app)]}
    elif peer.namespace is not None and (peer.namespace == plaintext or peer.outside_mesh):
        return {"to": _ports(peer)}
    elif peer.namespace is not None:
        source = {"namespaces": [peer.namespace]}
    else:
        assert peer.cidr is not None
        source = {"ipBlocks": [peer.cidr]}
        if peer.except_cidrs:
            source["notIpBlocks"] = list(peer.except_cidrs)
    return {"from": [{"source": source}], "to": _ports(peer)}


def authorization_spec(
    app: str, instance: str, namespace: str, peers: Sequence[kx.Peer], plaintext: Optional[str]
) -> dict[str, Any]:
    return {
        "selector": {"matchLabels": kx.selector(app, instance)},
        "action": "ALLOW",
        "rules": [rule(peer, namespace, plaintext) for peer in peers],
    }


def plaintext_ports(peers: Sequence[kx.Peer], plaintext: Optional[str]) -> tuple[int, ...]:
    return tuple(
        sorted(
            {
                port
                for peer in peers
                if peer.outside_mesh or (plaintext and peer.namespace == plaintext)
                for port in peer.ports
            }
        )
    )


class Mesh(pulumi.ComponentResource):
    """The namespace's mTLS and authorization policies; see the module docstring."""

    def __init__(self, name: str, args: MeshArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("webapp:platform:Mesh", name, None, opts)
        self._name, self._args = name, args
        self._labels = kx.labels("webapp-mesh", args.instance, "mesh", "v1")
        self._opts = kx.child_options(self, opts, args.crd_dependencies)
        mode = "STRICT" if args.strict else "PERMISSIVE"
        self._cr("peer-default", "PeerAuthentication", "default", {"mtls": {"mode": mode}})
        if args.strict:
            self._create_authorization()
        self._allow_istiod(name, opts)
        if args.plaintext_namespace:
            self._scrape_sidecars(name, opts, args.plaintext_namespace)
        self.register_outputs({})

    def _scrape_sidecars(
        self, name: str, opts: Optional[pulumi.ResourceOptions], monitoring: str
    ) -> None:
        """Prometheus reads every sidecar's statistics (module docstring)."""
        args = self._args
        kx.pod_monitor(
            f"{name}-istio-proxies",
            "istio-proxies",
            args.instance,
            args.namespace,
            self._labels,
            kx.child_options(self, opts, args.monitoring_dependencies),
            port=SIDECAR_METRICS_PORT_NAME,
            path="/stats/prometheus",
            match_labels=SIDECAR_LABEL,
        )
        scraper = kx.Peer(namespace=monitoring, ports=(SIDECAR_METRICS_PORT,))
        self._namespace_policy(name, "allow-sidecar-metrics", "Ingress", scraper, opts)

    def _create_authorization(self) -> None:
        """Deny by default, then per workload what its NetworkPolicy admits; the scraped ports
        PERMISSIVE on their workloads."""
        args = self._args
        self._cr("deny-all", "AuthorizationPolicy", "deny-all", {})
        for app, peers in sorted(args.ingress.items()):
            ports = plaintext_ports(peers, args.plaintext_namespace)
            if ports:
                self._cr(
                    f"peer-{app}",
                    "PeerAuthentication",
                    f"{app}-metrics",
                    {
                        "selector": {"matchLabels": kx.selector(app, args.instance)},
                        "mtls": {"mode": "STRICT"},
                        "portLevelMtls": {str(port): {"mode": "PERMISSIVE"} for port in ports},
                    },
                )
            if peers:
                self._cr(
                    f"authz-{app}",
                    "AuthorizationPolicy",
                    app,
                    authorization_spec(
                        app, args.instance, args.namespace, peers, args.plaintext_namespace
                    ),
                )

    def _allow_istiod(self, name: str, opts: Optional[pulumi.ResourceOptions]) -> None:
        istiod = kx.Peer(namespace=self._args.mesh_namespace, ports=(ISTIOD_PORT,))
        self._namespace_policy(name, "allow-istiod", "Egress", istiod, opts)

    def _namespace_policy(
        self,
        name: str,
        policy: str,
        direction: str,
        peer: kx.Peer,
        opts: Optional[pulumi.ResourceOptions],
    ) -> None:
        """A NetworkPolicy `policy` for every pod of the namespace: `peer` in or out."""
        args = self._args
        ingress = egress = None
        if direction == "Ingress":
            ingress = [
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[peer.peer(args.instance)], ports=peer.port_args()
                )
            ]
        else:
            egress = [
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[peer.peer(args.instance)], ports=peer.port_args()
                )
            ]
        k8s.networking.v1.NetworkPolicy(
            f"{name}-{policy}",
            metadata=kx.metadata(policy, args.namespace, self._labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=[direction],
                ingress=ingress,
                egress=egress,
            ),
            opts=kx.child_options(self, opts),
        )

    def _cr(self, suffix: str, kind: str, name: str, spec: dict[str, Any]) -> None:
        k8s.apiextensions.CustomResource(
            f"{self._name}-{suffix}",
            api_version=SECURITY_API,
            kind=kind,
            metadata=kx.metadata(name, self._args.namespace, self._labels),
            spec=spec,
            opts=self._opts,
        )
