"""`webapp:routing`: the edge of a stack (pure; part of parsing).

Besides the mode, issuer, rate limit and the Envoy fleet's size, two keys let branch environments
share one Gateway and load balancer:

- `branches` on the stack that hosts them (staging): its Gateway gets a `*.<domain>` listener
  whose certificate comes from an existing ClusterIssuer that can solve DNS-01 (ACME issues
  wildcards only through DNS-01) or an existing TLS Secret, and which admits routes from the
  namespaces labelled for it.
- `sharedGateway` on a branch stack: the namespace of that Gateway; the branch declares only its
  routes and their policies, and its namespace carries the label the listener admits.
"""

from __future__ import annotations

from typing import Optional

from components.config import quantities as q
from components.config.azure import RESOURCE_GROUP
from components.config.reader import DNS_LABEL, Reader, Rule
from components.config.settings import (
    ISSUERS,
    LETSENCRYPT,
    ROUTING_MODES,
    BranchListener,
    Environment,
    Profile,
    RoutingMode,
    RoutingSettings,
)
from components.config.subjects import parse_subjects

ACME_SERVER = Rule(lambda value: value.startswith("https://"), "an https:// ACME directory URL")
OBJECT_NAME = Rule(q.is_dns_subdomain, "a Kubernetes object name (DNS subdomain)")
ISSUER_KEYS = ("issuer", "acmeEmail", "acmeServer")
"""What says how this stack's own certificate is issued: unused on a shared Gateway."""


def _branches(
    reader: Reader, mode: RoutingMode, environment: Environment
) -> Optional[BranchListener]:
    """`routing.branches`: exactly one of `issuer` (a DNS-01 ClusterIssuer) or `secretName`."""
    if reader.value("branches") is None:
        return None
    section = reader.section("branches")
    listener = BranchListener(
        issuer=section.opt_text("issuer", rule=OBJECT_NAME),
        secret_name=section.opt_text("secretName", rule=OBJECT_NAME),
        resource_group=section.opt_text("resourceGroup", rule=RESOURCE_GROUP) or "",
        deployers=parse_subjects(section, "deployers"),
        admins=parse_subjects(section, "admins"),
    )
    key = reader.key("branches")
    _check_review_identities(section, key, listener)
    section.finish()
    given = [name for name in ("issuer", "secretName") if section.has(name)]
    if len(given) != 1:
        reader.report(
            f"{key}: set exactly one of issuer (an existing ClusterIssuer that solves ACME DNS-01 "
            f"for the zone: a wildcard certificate needs DNS-01) or secretName (an existing TLS "
            f"Secret with a *.<domain> certificate); found {', '.join(given) or 'neither'}"
        )
    if mode != "gateway":
        reader.report(f"{key}: needs routing.mode gateway (branch hosts are Gateway listeners)")
    if environment == "production":
        reader.report(
            f"{key}: not in production; branch environments share the staging cluster's Gateway"
        )
    return listener


def _check_review_identities(section: Reader, key: str, listener: BranchListener) -> None:
    """Review stacks run pull-request code: they need a resource group of their own and the two
    identities the namespace RBAC is built from (README "Review stacks: what pull-request code
    can reach")."""
    if not section.has("resourceGroup"):
        section.report(
            f"{key}.resourceGroup: missing; review stacks need a resource group of their own "
            "(the review identity may write there only), e.g. rg-webapp-review"
        )
    for name, who in (
        (
            "deployers",
            "the review identity (the `review` environment's), which runs pull-request code",
        ),
        (
            "admins",
            "the identity of the base-branch job that creates review namespaces (`review-admin`)",
        ),
    ):
        if not getattr(listener, name) and not section.value(name):
            section.report(
                f"{key}.{name}: missing; expected [{{kind: User, name: <object id>}}]: {who}"
            )


def _shared_gateway(reader: Reader, mode: RoutingMode, environment: Environment) -> Optional[str]:
    """`routing.sharedGateway`: the namespace of the Gateway serving this stack; then nothing
    about this stack's own certificate may be set (it would be ignored)."""
    shared = reader.opt_text("sharedGateway", rule=DNS_LABEL)
    if shared is None:
        return None
    key = reader.key("sharedGateway")
    if mode != "gateway":
        reader.report(f"{key}: needs routing.mode gateway")
    if environment == "production":
        reader.report(f"{key}: production runs its own Gateway; remove {key}")
    if reader.value("branches") is not None:
        reader.report(f"{key}: a stack either hosts branches (routing.branches) or is one")
    for name in ISSUER_KEYS:
        if reader.has(name):
            reader.report(
                f"{reader.key(name)}: would be ignored with sharedGateway (the shared Gateway's "
                f"wildcard certificate serves this host); remove it"
            )
    return shared


def parse_routing(reader: Reader, profile: Profile, environment: Environment) -> RoutingSettings:
    mode = reader.choice("mode", "gateway", ROUTING_MODES)
    ingress_class = reader.text(
        "ingressClassName", "nginx", rule=Rule(q.is_dns_label, "an IngressClass name")
    )
    shared = _shared_gateway(reader, mode, environment)
    issuer = reader.choice("issuer", profile.issuer, ISSUERS)
    acme_email = reader.opt_text("acmeEmail", rule=Rule(q.is_email, "an e-mail address"))
    routing = RoutingSettings(
        mode=mode,
        ingress_class=ingress_class,
        issuer=issuer,
        acme_email=acme_email,
        acme_server=reader.text("acmeServer", LETSENCRYPT, rule=ACME_SERVER),
        rate_limit_per_minute=reader.integer("rateLimitPerMinute", 100, minimum=1, maximum=100000),
        websocket_timeout_seconds=reader.integer(
            "websocketTimeoutSeconds", 3600, minimum=60, maximum=86400
        ),
        controller_namespace=reader.text(
            "controllerNamespace",
            "envoy-gateway-system" if mode == "gateway" else "ingress-nginx",
            rule=DNS_LABEL,
        ),
        proxy_min_replicas=reader.integer(
            "proxyMinReplicas", profile.proxy_replicas[0], minimum=1, maximum=50
        ),
        proxy_max_replicas=reader.integer(
            "proxyMaxReplicas", profile.proxy_replicas[1], minimum=1, maximum=100
        ),
        branches=_branches(reader, mode, environment),
        shared_gateway=shared,
    )
    _check_proxies(reader, routing, environment)
    if shared is None and issuer == "acme" and acme_email is None and not reader.has("acmeEmail"):
        reader.report(
            "webapp:routing.acmeEmail: missing; the acme issuer needs a contact e-mail "
            "(or set webapp:routing.issuer to selfsigned)"
        )
    reader.finish()
    return routing


def _check_proxies(reader: Reader, routing: RoutingSettings, environment: Environment) -> None:
    if routing.proxy_max_replicas < routing.proxy_min_replicas:
        reader.problem(
            "proxyMaxReplicas",
            routing.proxy_max_replicas,
            f"at least proxyMinReplicas ({routing.proxy_min_replicas})",
        )
    if environment == "production" and routing.proxy_min_replicas < 2 and routing.mode == "gateway":
        reader.problem(
            "proxyMinReplicas",
            routing.proxy_min_replicas,
            "at least 2 in production (one Envoy pod would carry all traffic, and every node "
            "drain or rollout would drop connections)",
        )
