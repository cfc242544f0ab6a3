"""Gateway API and Envoy Gateway specs for the edge (pure builders; `edge` declares them).

The Gateway's listeners, HTTPRoute rules, the redirect, the rate limit, CORS, the Ingress
equivalent, and the EnvoyProxy that shapes the Gateway's Envoy fleet, each from plain values so
they are tested without the Pulumi engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi_kubernetes as k8s

GATEWAY_API = "gateway.networking.k8s.io/v1"
ENVOY_API = "gateway.envoyproxy.io/v1alpha1"
TLS_SECRET = "webapp-tls"
BRANCHES_TLS_SECRET = "webapp-branches-tls"
GATEWAY = "webapp"
"""Every stack's Gateway has this name (in its namespace)."""

SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
CORS_HEADERS = ["Authorization", "Content-Type", "X-Requested-With"]


@dataclass(frozen=True, kw_only=True)
class Route:
    """A path prefix served by an in-namespace Service."""

    path: str
    service: str
    port: int
    websocket: bool = False
    canary: bool = False
    """Argo Rollouts splits this route at the edge: its Gateway API plugin between the Service
    and its `-canary` Service (weights 100 / 0 until a release; the plugin owns them after), or
    ingress-nginx's canary of the route's own Ingress (`edge.ingress_groups`)."""


@dataclass(frozen=True, kw_only=True)
class BranchHosts:
    """The wildcard listeners for branch stacks: `*.<domain>`, with the wildcard certificate in
    `tls_secret`, admitting routes from namespaces labelled `label: namespace`."""

    tls_secret: str
    label: str
    namespace: str


def _tls(secret: str) -> dict[str, Any]:
    return {
        "mode": "Terminate",
        "certificateRefs": [{"kind": "Secret", "group": "", "name": secret}],
    }


def branch_listeners(domain: str, branches: BranchHosts) -> list[dict[str, Any]]:
    """`branches-http` (this stack's redirect only) and `branches-https` (TLS terminated with the
    wildcard certificate; routes from the labelled namespaces) for `*.<domain>`. A wildcard matches
    one label, so `login-page.<domain>` is served and `a.b.<domain>` is not."""
    labelled = {
        "namespaces": {
            "from": "Selector",
            "selector": {"matchLabels": {branches.label: branches.namespace}},
        }
    }
    return [
        {
            "name": "branches-http",
            "protocol": "HTTP",
            "port": 80,
            "hostname": f"*.{domain}",
            "allowedRoutes": {"namespaces": {"from": "Same"}},
        },
        {
            "name": "branches-https",
            "protocol": "HTTPS",
            "port": 443,
            "hostname": f"*.{domain}",
            "allowedRoutes": labelled,
            "tls": _tls(branches.tls_secret),
        },
    ]


def gateway_spec(
    gateway_class: str, domain: str, proxy: str, branches: Optional[BranchHosts] = None
) -> dict[str, Any]:
    """HTTP (redirect only) and HTTPS listeners for the domain, routes from this namespace only
    (and the branch listeners, when this stack hosts branches); its Envoy fleet is shaped by the
    EnvoyProxy `proxy` in the same namespace."""
    same_namespace = {"namespaces": {"from": "Same"}}
    tls = _tls(TLS_SECRET)
    return {
        "gatewayClassName": gateway_class,
        "infrastructure": {
            "parametersRef": {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": proxy}
        },
        "listeners": [
            {
                "name": "http",
                "protocol": "HTTP",
                "port": 80,
                "hostname": domain,
                "allowedRoutes": same_namespace,
            },
            {
                "name": "https",
                "protocol": "HTTPS",
                "port": 443,
                "hostname": domain,
                "allowedRoutes": same_namespace,
                "tls": tls,
            },
            *(branch_listeners(domain, branches) if branches else []),
        ],
    }


def parent_refs(section: str, namespace: Optional[str] = None) -> list[dict[str, str]]:
    """The `webapp` Gateway's listener `section` as an HTTPRoute parent: this namespace's, or
    the shared one in `namespace`."""
    ref = {
        "name": GATEWAY,
        "sectionName": section,
        "kind": "Gateway",
        "group": "gateway.networking.k8s.io",
    }
    return [{**ref, "namespace": namespace} if namespace else ref]


def redirect_spec(domain: str, section: str = "http") -> dict[str, Any]:
    """Every plain-HTTP request for `domain` (on listener `section`) gets a 301 to HTTPS."""
    redirect = {
        "type": "RequestRedirect",
        "requestRedirect": {"scheme": "https", "statusCode": 301},
    }
    return {
        "parentRefs": parent_refs(section),
        "hostnames": [domain],
        "rules": [{"filters": [redirect]}],
    }


def route_rule(
    route: Route, websocket_timeout: str, mesh_namespace: Optional[str] = None
) -> dict[str, Any]:
    """One path prefix to its Service, with the security headers (and the websocket timeout).

    In the mesh (`mesh_namespace` set) the request's Host becomes the Service's name: the proxy's
    sidecar routes by Host, and only a mesh host gets mTLS and the VirtualService's weights (a
    public Host would fall through to plain-text passthrough, which STRICT refuses); Envoy keeps
    the public one in `X-Forwarded-Host` (Envoy Gateway v1.7.0 route.go: appendXForwardedHost on a
    host rewrite). The ingress-nginx equivalent in Istio's docs is `upstream-vhost`."""
    headers = {
        "type": "ResponseHeaderModifier",
        "responseHeaderModifier": {
            "set": [{"name": key, "value": value} for key, value in SECURITY_HEADERS.items()]
        },
    }
    backends = [{"name": route.service, "port": route.port, "kind": "Service", "group": ""}]
    if route.canary:
        backends[0]["weight"] = 100
        backends.append(
            {
                "name": f"{route.service}-canary",
                "port": route.port,
                "kind": "Service",
                "group": "",
                "weight": 0,
            }
        )
    filters: list[dict[str, Any]] = [headers]
    if mesh_namespace is not None:
        filters.append(
            {
                "type": "URLRewrite",
                "urlRewrite": {"hostname": f"{route.service}.{mesh_namespace}.svc.cluster.local"},
            }
        )
    rule: dict[str, Any] = {
        "matches": [{"path": {"type": "PathPrefix", "value": route.path}}],
        "filters": filters,
        "backendRefs": backends,
    }
    if route.websocket:
        rule["timeouts"] = {"request": websocket_timeout}
    return rule


def rate_limit(per_minute: int, proxies: int) -> dict[str, Any]:
    """Envoy Gateway's local rate limit: one bucket per client address, IPv4 and IPv6.

    The limit is local to each Envoy pod, and the load balancer spreads a client's connections over
    all of them, so each pod gets `per_minute / proxies` (rounded up): with the minimum fleet a
    client gets `per_minute` in all; while the HPA runs more pods, up to that many times more.
    """
    per_proxy = -(-per_minute // proxies)
    limit = {"requests": per_proxy, "unit": "Minute"}
    # Selectors within one rule must all match, so each address family has a rule of its own.
    return {
        "local": {
            "rules": [
                {
                    "clientSelectors": [{"sourceCIDR": {"type": "Distinct", "value": cidr}}],
                    "limit": limit,
                }
                for cidr in ("0.0.0.0/0", "::/0")
            ]
        }
    }


MESH_PROXY_LABELS = {"sidecar.istio.io/inject": "true"}
MESH_PROXY_ANNOTATIONS = {
    # Only the proxy's outbound traffic (to the Services) goes through the sidecar; what the
    # load balancer sends in reaches Envoy as before.
    "traffic.sidecar.istio.io/includeInboundPorts": ""
}


def envoy_proxy_spec(
    namespace: str, minimum: int, maximum: int, mesh: bool = False
) -> dict[str, Any]:
    """The Gateway's Envoy fleet: `minimum` pods (an HPA up to `maximum`), a disruption budget once
    there are two, spread over nodes and zones.

    The Envoy containers keep Envoy Gateway's own security context (non-root 65532, no privilege
    escalation, all capabilities dropped, RuntimeDefault seccomp; v1.7.0 proxy/resource.go):
    setting one here would replace it whole. With an HPA `replicas` is left out: the controller
    server-side-applies the Deployment and would otherwise reset what the HPA scaled.
    """
    owner = {
        "gateway.envoyproxy.io/owning-gateway-name": "webapp",
        "gateway.envoyproxy.io/owning-gateway-namespace": namespace,
    }
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": owner},
        }
        for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
    ]
    deployment: dict[str, Any] = {
        "pod": {"topologySpreadConstraints": spread},
        "container": {
            "resources": {
                "requests": {"cpu": "100m", "memory": "256Mi"},
                "limits": {"cpu": "2", "memory": "1Gi"},
            }
        },
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        },
    }
    kubernetes: dict[str, Any] = {"envoyDeployment": deployment}
    if maximum > minimum:
        kubernetes["envoyHpa"] = {"minReplicas": minimum, "maxReplicas": maximum}
    else:
        deployment["replicas"] = minimum
    if minimum >= 2:
        kubernetes["envoyPDB"] = {"maxUnavailable": 1}
    spec: dict[str, Any] = {"provider": {"type": "Kubernetes", "kubernetes": kubernetes}}
    if mesh:
        # In the mesh the proxies carry an Istio sidecar and send to the Service's address, not
        # the pods' (`routingType: Service`): the sidecar then speaks mTLS to the pods (STRICT)
        # and applies the VirtualServices, so a canary's weights hold for edge traffic too.
        deployment["pod"]["labels"] = dict(MESH_PROXY_LABELS)
        deployment["pod"]["annotations"] = dict(MESH_PROXY_ANNOTATIONS)
        spec["routingType"] = "Service"
    return spec


def cors(domain: str) -> dict[str, Any]:
    """Only the application's own origin, with credentials."""
    return {
        "allowOrigins": [f"https://{domain}"],
        "allowMethods": CORS_METHODS,
        "allowHeaders": CORS_HEADERS,
        "allowCredentials": True,
        "maxAge": "600s",
    }


def ingress_spec(
    ingress_class: str, domain: str, members: Sequence[Route]
) -> k8s.networking.v1.IngressSpecArgs:
    """TLS for the domain and one Prefix path per route to its Service."""
    paths = [
        k8s.networking.v1.HTTPIngressPathArgs(
            path=route.path,
            path_type="Prefix",
            backend=k8s.networking.v1.IngressBackendArgs(
                service=k8s.networking.v1.IngressServiceBackendArgs(
                    name=route.service,
                    port=k8s.networking.v1.ServiceBackendPortArgs(number=route.port),
                )
            ),
        )
        for route in members
    ]
    return k8s.networking.v1.IngressSpecArgs(
        ingress_class_name=ingress_class,
        tls=[k8s.networking.v1.IngressTLSArgs(hosts=[domain], secret_name=TLS_SECRET)],
        rules=[
            k8s.networking.v1.IngressRuleArgs(
                host=domain, http=k8s.networking.v1.HTTPIngressRuleValueArgs(paths=paths)
            )
        ],
    )
