"""EdgeRouting: public HTTPS entry for the application, through the Gateway API or an Ingress.

Why Envoy Gateway (and not NGINX Gateway Fabric): the community ingress-nginx controller the seeds
used was retired in March 2026. Of the maintained Gateway API implementations, Envoy Gateway covers
every edge behaviour the platform needs with first-class, schema-validated policy objects:
per-client rate limiting (BackendTrafficPolicy `rateLimit.local` with a `Distinct` source-CIDR
selector), CORS (SecurityPolicy `cors`) and upgrade-friendly timeouts for websockets; NGINX Gateway
Fabric has rate limiting but no CORS policy, so CORS would leak into application code.

Creates (parented to the component), `mode: gateway`:
- ClusterIssuer (self-signed in dev, ACME with an HTTP-01 Gateway solver otherwise) and a
  Certificate `webapp-tls` for the stack's hostname
- EnvoyProxy `webapp`: the Gateway's Envoy fleet (replicas or an HPA, PDB, spread over nodes
  and zones)
- Gateway `webapp` with an HTTP listener (redirect only) and an HTTPS listener (TLS terminated)
- HTTPRoutes: `webapp-redirect` (HTTP -> HTTPS 301), `webapp` (`/` frontend, `/api` api, `/auth`
  auth) and `webapp-websocket` (`/ws` websocket, long request timeout), each setting HSTS and
  security response headers through a ResponseHeaderModifier filter
- BackendTrafficPolicies: per-client rate limit (IPv4 and IPv6, divided over the proxies) on
  both routes (+ idle timeouts for websockets)
- SecurityPolicy: CORS for the frontend origin

- with the ACME issuer, a NetworkPolicy letting the proxies reach cert-manager's HTTP-01 solver pods
- with `routing.branches` (the stack hosting branch environments): the Gateway's `*.<domain>`
  listeners `branches-http`/`branches-https` (routes from namespaces labelled
  `webapp.io/gateway: <namespace>`), a Certificate `webapp-branches-tls` for `*.<domain>` from the
  named DNS-01 ClusterIssuer (or the given TLS Secret instead), and the redirect
  `webapp-branches-redirect`

With `routing.sharedGateway` (a branch stack), only the two HTTPRoutes and their policies, attached
to the shared Gateway's `branches-https` listener: no issuer, certificate, EnvoyProxy, Gateway or
load balancer of its own.

`mode: ingress` instead creates the ClusterIssuer (HTTP-01 through the IngressClass), a
ConfigMap of security headers and `networking.k8s.io/v1` Ingresses (main and websocket, and
`webapp-<service>` for each canary split by ingress-nginx: `ingress_groups`) with the same
routing, TLS, rate limit, CORS and timeouts as ingress-nginx-family annotations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.config.settings import GATEWAY_LABEL, RoutingSettings
from components.kube import objects as kx
from components.platform.gateway_api import (
    BRANCHES_TLS_SECRET,
    CORS_HEADERS,
    CORS_METHODS,
    ENVOY_API,
    GATEWAY_API,
    SECURITY_HEADERS,
    TLS_SECRET,
    BranchHosts,
    Route,
    cors,
    envoy_proxy_spec,
    gateway_spec,
    ingress_spec,
    parent_refs,
    rate_limit,
    redirect_spec,
    route_rule,
)


@dataclass(frozen=True, kw_only=True)
class EdgeRoutingArgs:
    namespace: str
    """The application namespace (created by NamespaceBaseline)."""
    instance: str
    """The stack name: `app.kubernetes.io/instance`, and part of the names of cloud resources."""
    domain: str
    """The public hostname (TLS certificate, listeners, CORS origin)."""
    routing: RoutingSettings
    """Mode, issuer, rate limit, timeouts and the controller's namespace."""
    routes: tuple[Route, ...]
    """Public path prefixes and their Services (from the catalogue, longest first)."""
    gateway_class: str = "envoy-gateway"
    """The GatewayClass the Gateway uses. Default envoy-gateway."""
    crd_dependencies: Sequence[pulumi.Resource] = ()
    """Add-on releases that install the CRDs used here (cert-manager, Envoy Gateway)."""
    mesh: bool = False
    """Istio is on: the Envoy proxies join the mesh; ACME solver pods stay out of it."""


def route_groups(routes: Sequence[Route]) -> dict[str, list[Route]]:
    """HTTPRoute name -> its rules' routes, in rule order: the websocket routes have their own
    (their timeouts differ)."""
    return {
        "webapp": [route for route in routes if not route.websocket],
        "webapp-websocket": [route for route in routes if route.websocket],
    }


def canary_ingress(service: str) -> str:
    """The Ingress of a service that ingress-nginx splits (`ingress_groups`)."""
    return f"webapp-{service}"


def ingress_groups(routes: Sequence[Route]) -> dict[str, tuple[list[Route], bool]]:
    """Ingress name -> its routes and whether they are websockets. A canary's routes have an
    Ingress of their own: Argo Rollouts builds the canary Ingress from every rule of the stable
    Ingress that has a path to the stable Service, whole rules with all their paths
    (argo-rollouts v1.9.0 `rollout/trafficrouting/nginx/nginx.go` `buildCanaryIngress`), and
    ingress-nginx applies one canary per host and path, so on a shared Ingress two canaries
    would claim each other's paths and carry the other services' too."""
    groups: dict[str, tuple[list[Route], bool]] = {
        "webapp": ([route for route in routes if not route.websocket and not route.canary], False),
        "webapp-websocket": (
            [route for route in routes if route.websocket and not route.canary],
            True,
        ),
    }
    for route in routes:
        if route.canary:
            groups[canary_ingress(route.service)] = ([route], route.websocket)
    return groups


def route_clusters(namespace: str, routes: Sequence[Route]) -> dict[str, str]:
    """Service -> the Envoy cluster Envoy Gateway names its route's rule after
    (`httproute/<namespace>/<route>/rule/<index>`, v1.7.0 internal/gatewayapi/helpers.go
    `irRouteDestinationName`), which labels the proxies' upstream metrics."""
    return {
        route.service: f"httproute/{namespace}/{name}/rule/{index}"
        for name, members in route_groups(routes).items()
        for index, route in enumerate(members)
    }


class EdgeRouting(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(
        self, name: str, args: EdgeRoutingArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:platform:EdgeRouting", name, None, opts)
        self._name, self._args = name, args
        self._labels = kx.labels("webapp-edge", args.instance, "edge", "v1")
        self._crd_opts = kx.child_options(self, opts, args.crd_dependencies)
        shared = args.routing.shared_gateway
        if shared is not None:
            # A branch stack: the shared Gateway's wildcard listener (and its certificate, proxies
            # and load balancer) serves this host; only the routes and their policies are ours.
            # They attach once this namespace carries the label the listener admits.
            self._create_route_groups((), parent_refs("branches-https", shared))
        else:
            issuer = self._create_issuer()
            if args.routing.issuer == "acme":
                self._allow_acme_solver()
            if args.routing.mode == "gateway":
                self._create_gateway(issuer)
            else:
                self._create_ingresses(issuer)
        self.url = pulumi.Output.from_input(f"https://{args.domain}")
        self.register_outputs({"url": self.url})

    def _cr(
        self,
        suffix: str,
        api_version: str,
        kind: str,
        name: str,
        spec: dict[str, Any],
        namespaced: bool = True,
        depends: Sequence[pulumi.Resource] = (),
        annotations: Optional[dict[str, str]] = None,
        timeouts: Optional[pulumi.CustomTimeouts] = None,
        ignore: Sequence[str] = (),
    ) -> k8s.apiextensions.CustomResource:
        opts = pulumi.ResourceOptions.merge(
            self._crd_opts,
            pulumi.ResourceOptions(
                depends_on=list(depends),
                custom_timeouts=timeouts,
                ignore_changes=list(ignore) or None,
            ),
        )
        return k8s.apiextensions.CustomResource(
            f"{self._name}-{suffix}",
            api_version=api_version,
            kind=kind,
            metadata=kx.metadata(
                name, self._args.namespace if namespaced else None, self._labels, annotations
            ),
            spec=spec,
            opts=opts,
        )

    def _create_issuer(self) -> str:
        args, routing = self._args, self._args.routing
        issuer_name = f"{args.namespace}-{routing.issuer}"
        if routing.issuer == "selfsigned":
            spec: dict[str, Any] = {"selfSigned": {}}
        else:
            solver: dict[str, Any]
            if routing.mode == "gateway":
                http01: dict[str, Any] = {
                    "parentRefs": [
                        {
                            "name": "webapp",
                            "namespace": args.namespace,
                            "kind": "Gateway",
                            "sectionName": "http",
                        }
                    ]
                }
                if args.mesh:
                    # The solver is cert-manager's pod, not ours: no sidecar (the proxies' own
                    # sidecars then reach it in plain HTTP, as the challenge needs).
                    http01["podTemplate"] = {
                        "metadata": {"labels": {"sidecar.istio.io/inject": "false"}}
                    }
                solver = {"http01": {"gatewayHTTPRoute": http01}}
            else:
                solver = {"http01": {"ingress": {"ingressClassName": routing.ingress_class}}}
            spec = {
                "acme": {
                    "email": routing.acme_email,
                    "server": routing.acme_server,
                    "privateKeySecretRef": {"name": f"{issuer_name}-account-key"},
                    "solvers": [solver],
                }
            }
        self._cr(
            "issuer", "cert-manager.io/v1", "ClusterIssuer", issuer_name, spec, namespaced=False
        )
        return issuer_name

    def _allow_acme_solver(self) -> None:
        """cert-manager runs its HTTP-01 solver pods in this namespace; default-deny would block the
        proxy.
        """
        args = self._args
        k8s.networking.v1.NetworkPolicy(
            f"{self._name}-acme-solver",
            metadata=kx.metadata("allow-acme-http01-solver", args.namespace, self._labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={"acme.cert-manager.io/http01-solver": "true"}
                ),
                policy_types=["Ingress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[
                            kx.Peer(namespace=args.routing.controller_namespace, ports=()).peer(
                                args.instance
                            )
                        ],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=8089)],
                    )
                ],
            ),
            opts=self._crd_opts,
        )

    def _certificate(
        self, suffix: str, secret: str, dns_name: str, issuer: str, acme: bool
    ) -> None:
        """A Certificate awaited until Ready (issued). Nothing waits for it: the Gateway is
        created at once, since ACME's HTTP-01 challenge is answered through the Gateway itself.
        Self-signed is Ready in seconds; ACME needs the hostname's DNS to point at the Gateway
        (HTTP-01) or the zone's records (DNS-01), so it gets 20 minutes, twice what a healthy
        issuance plus DNS propagation takes."""
        self._cr(
            suffix,
            "cert-manager.io/v1",
            "Certificate",
            secret,
            {
                "secretName": secret,
                "dnsNames": [dns_name],
                "issuerRef": {"kind": "ClusterIssuer", "name": issuer, "group": "cert-manager.io"},
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            },
            annotations=kx.AWAIT_READY,
            timeouts=pulumi.CustomTimeouts(create="20m", update="20m") if acme else None,
        )

    def _branch_hosts(self) -> Optional[BranchHosts]:
        """The wildcard listeners' settings (and the wildcard Certificate), when this stack hosts
        branch environments (`routing.branches`)."""
        args, branches = self._args, self._args.routing.branches
        if branches is None:
            return None
        if branches.issuer is not None:
            # ACME issues a wildcard only through DNS-01: the named ClusterIssuer must solve it.
            # Nothing waits for it: until it is issued, only `branches-https` reports an
            # unresolved certificate; the stack's own listeners serve as usual.
            self._certificate(
                "branches-certificate",
                BRANCHES_TLS_SECRET,
                f"*.{args.domain}",
                branches.issuer,
                acme=True,
            )
        return BranchHosts(
            tls_secret=branches.secret_name or BRANCHES_TLS_SECRET,
            label=GATEWAY_LABEL,
            namespace=args.namespace,
        )

    def _create_gateway(self, issuer: str) -> None:
        """Certificate -> Gateway -> HTTP redirect and one HTTPRoute per route group, each with its
        BackendTrafficPolicy (rate limit, timeouts) and SecurityPolicy (CORS)."""
        args = self._args
        self._certificate(
            "certificate", TLS_SECRET, args.domain, issuer, acme=args.routing.issuer == "acme"
        )
        branches = self._branch_hosts()
        routing = args.routing
        # The Gateway waits for its EnvoyProxy: a Gateway whose reference does not resolve yet is
        # served by Envoy Gateway's defaults (one pod) until the next reconcile. It does not wait
        # for its certificates: an ACME HTTP-01 challenge is answered through this Gateway.
        proxy = self._cr(
            "envoy-proxy",
            ENVOY_API,
            "EnvoyProxy",
            "webapp",
            envoy_proxy_spec(
                args.namespace, routing.proxy_min_replicas, routing.proxy_max_replicas, args.mesh
            ),
        )
        gateway = self._cr(
            "gateway",
            GATEWAY_API,
            "Gateway",
            "webapp",
            gateway_spec(args.gateway_class, args.domain, "webapp", branches),
            depends=[proxy],
        )
        self._cr(
            "redirect",
            GATEWAY_API,
            "HTTPRoute",
            "webapp-redirect",
            redirect_spec(args.domain),
            depends=[gateway],
        )
        if branches is not None:
            self._cr(
                "branches-redirect",
                GATEWAY_API,
                "HTTPRoute",
                "webapp-branches-redirect",
                redirect_spec(f"*.{args.domain}", "branches-http"),
                depends=[gateway],
            )
        self._create_route_groups((gateway,), parent_refs("https"))

    def _create_route_groups(
        self, gateway: Sequence[pulumi.Resource], parents: list[dict[str, str]]
    ) -> None:
        """The main and websocket HTTPRoutes on `parents`, after `gateway` (none: a shared one)."""
        for route_name, members in route_groups(self._args.routes).items():
            if members:
                self._create_route_group(gateway, parents, route_name, members)

    def _create_route_group(
        self,
        gateway: Sequence[pulumi.Resource],
        parents: list[dict[str, str]],
        route_name: str,
        members: Sequence[Route],
    ) -> None:
        args, routing = self._args, self._args.routing
        suffix = route_name.removeprefix("webapp").strip("-") or "main"
        websocket_timeout = f"{routing.websocket_timeout_seconds}s"
        http_route = self._cr(
            f"route-{suffix}",
            GATEWAY_API,
            "HTTPRoute",
            route_name,
            {
                "parentRefs": parents,
                "hostnames": [args.domain],
                "rules": [
                    route_rule(route, websocket_timeout, args.namespace if args.mesh else None)
                    for route in members
                ],
            },
            depends=gateway,
            # A canary's weights are the Rollout controller's (its Gateway API plugin), which
            # then owns the atomic `rules` list: a change of the route by Pulumi is forced
            # (`workloads.rollout` says why that is safe) and the weights never cause one.
            annotations=(
                {"pulumi.com/patchForce": "true"}
                if any(member.canary for member in members)
                else None
            ),
            ignore=[
                f"spec.rules[{index}].backendRefs[{ref}].weight"
                for index, route in enumerate(members)
                if route.canary
                for ref in (0, 1)
            ],
        )
        target = [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": route_name}]
        policy: dict[str, Any] = {
            "targetRefs": target,
            "rateLimit": rate_limit(routing.rate_limit_per_minute, routing.proxy_min_replicas),
        }
        if route_name == "webapp-websocket":
            # A websocket is one long request: keep the idle upstream connection open as long as
            # the route allows (its rule's request timeout). Envoy Gateway v1.7.0 has no per-route
            # stream idle timeout; Envoy's 5-minute default never fires on Socket.IO, which pings
            # every 25 seconds.
            policy["timeout"] = {"http": {"connectionIdleTimeout": websocket_timeout}}
        self._cr(
            f"traffic-{suffix}",
            ENVOY_API,
            "BackendTrafficPolicy",
            route_name,
            policy,
            depends=[http_route],
        )
        self._cr(
            f"cors-{suffix}",
            ENVOY_API,
            "SecurityPolicy",
            route_name,
            {"targetRefs": target, "cors": cors(args.domain)},
            depends=[http_route],
        )

    def _create_ingresses(self, issuer: str) -> None:
        args, routing = self._args, self._args.routing
        child = self._crd_opts
        k8s.core.v1.ConfigMap(
            f"{self._name}-headers",
            metadata=kx.metadata("webapp-security-headers", args.namespace, self._labels),
            data=dict(SECURITY_HEADERS),
            opts=child,
        )
        base = {
            "cert-manager.io/cluster-issuer": issuer,
            "nginx.ingress.kubernetes.io/ssl-redirect": "true",
            "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
            "nginx.ingress.kubernetes.io/limit-rpm": str(routing.rate_limit_per_minute),
            "nginx.ingress.kubernetes.io/enable-cors": "true",
            "nginx.ingress.kubernetes.io/cors-allow-origin": f"https://{args.domain}",
            "nginx.ingress.kubernetes.io/cors-allow-credentials": "true",
            "nginx.ingress.kubernetes.io/cors-allow-methods": ", ".join(CORS_METHODS),
            "nginx.ingress.kubernetes.io/cors-allow-headers": ", ".join(CORS_HEADERS),
            # Response headers from the ConfigMap above (the controller must list them in
            # `global-allowed-response-headers`); no configuration snippets needed.
            "nginx.ingress.kubernetes.io/custom-headers": (
                f"{args.namespace}/webapp-security-headers"
            ),
        }
        timeout = str(routing.websocket_timeout_seconds)
        websocket = {
            "nginx.ingress.kubernetes.io/proxy-read-timeout": timeout,
            "nginx.ingress.kubernetes.io/proxy-send-timeout": timeout,
        }
        for ingress_name, (members, is_websocket) in ingress_groups(args.routes).items():
            extra = websocket if is_websocket else {}
            if members:
                k8s.networking.v1.Ingress(
                    f"{self._name}-{ingress_name}",
                    metadata=kx.metadata(
                        ingress_name, args.namespace, self._labels, {**base, **extra}
                    ),
                    spec=ingress_spec(routing.ingress_class, args.domain, members),
                    opts=self._crd_opts,
                )
