"""NatsRouteTls: the certificates NATS cluster members authenticate their routes with (mutual TLS),
issued and renewed by cert-manager in the application namespace.

Creates (parented to the component), in this order, each waiting for the one before:
- Issuer `nats-route-selfsigned` (`selfSigned`): signs the CA below, nothing else
- Certificate `nats-route-ca` (`isCA`, `ROUTE_CA_DURATION`, key kept on renewal): the stack's own
  route CA, in Secret `nats-route-ca`
- Issuer `nats-route-ca` (`ca`): signs the members' certificate with that CA
- Certificate `nats-route` (`ROUTE_DURATION`, renewed `ROUTE_RENEW_BEFORE` before expiry, a new key
  each time): one certificate for every member, for server and client auth, with the names of the
  headless Service's pods; Secret `ROUTE_SECRET` (`tls.crt`, `tls.key`, `ca.crt`), which the NATS
  pods mount read-only

Why certificates and not a route password: nats-server's cluster `authorization` takes one user
and refuses a list ("Cluster authorization does not allow multiple users", nats-server v2.11.8
`server/opts.go` `parseCluster`), so a route password has one valid value at a time and every
change of it splits the cluster while the members roll. A route over TLS is accepted for any
certificate the members' CA file verifies (cluster TLS always requires and verifies the peer's
certificate, both ways: `getTLSConfig` sets `RequireAndVerifyClientCert` and mirrors the CA pool
into `RootCAs`), so an old leaf and a renewed one, signed by the same CA, are both accepted: the
overlap is every leaf's whole validity.

Time: the leaf is awaited until Ready (`pulumi.com/waitFor`); the StatefulSet waits for it, so no
pod starts without its Secret. A renewal changes `ROUTE_SECRET`; Reloader restarts the members
(StatefulSet order), each presenting the new leaf to peers still presenting the old one. The CA
renews `ROUTE_CA_RENEW_BEFORE` before its expiry with the same key (`rotationPolicy: Never`), so
leafs signed before and after verify against either CA certificate. A CA key change is an
operator's procedure (README "NATS route certificates").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.kube import objects as kx

ROUTE_SECRET = "nats-route-tls"
"""The Secret cert-manager writes the members' certificate to (mounted by the NATS pods)."""
ROUTE_CA_SECRET = "nats-route-ca"
"""The route CA's certificate and key (read by cert-manager's CA Issuer only)."""
ROUTE_DURATION, ROUTE_RENEW_BEFORE = "2160h", "720h"
"""The members' certificate: 90 days, renewed 30 days before it expires (a month in which a
failed renewal is seen and fixed before any route is refused)."""
ROUTE_CA_DURATION, ROUTE_CA_RENEW_BEFORE = "87600h", "8760h"
"""The route CA: 10 years, renewed a year before expiry (longer than a leaf lives, so every leaf
and every pod has moved to the renewed CA certificate before the old one expires)."""
ROUTE_USAGES = ("digital signature", "server auth", "client auth")
"""A member is the server of the routes it accepts and the client of those it opens."""
ROUTE_CERTIFICATE = "nats-route"
"""The members' Certificate."""
CA_ISSUER = "nats-route-ca"
SELF_SIGNED_ISSUER = "nats-route-selfsigned"
CERT_MANAGER_API = "cert-manager.io/v1"


def route_dns_names(headless_service: str, namespace: str) -> list[str]:
    """The names the members dial each other by (`nats-<n>.<headless>.<namespace>.svc...`): one
    wildcard over the headless Service's pods, so a change of replicas does not reissue the
    certificate, and the gossiped routes, which nats-server dials by IP with the first route's
    host name as TLS server name (nats-server v2.11.8 `server/route.go` `saveRouteTLSName`,
    `server/client.go` `doTLSHandshake`), verify as well."""
    return [f"*.{headless_service}.{namespace}.svc.cluster.local"]


def route_certificate_spec(headless_service: str, namespace: str) -> dict[str, Any]:
    """The members' Certificate: ECDSA P-256, a new key at each renewal."""
    return {
        "secretName": ROUTE_SECRET,
        "dnsNames": route_dns_names(headless_service, namespace),
        "duration": ROUTE_DURATION,
        "renewBefore": ROUTE_RENEW_BEFORE,
        "usages": list(ROUTE_USAGES),
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        "issuerRef": {"kind": "Issuer", "name": CA_ISSUER, "group": "cert-manager.io"},
    }


def route_ca_spec(instance: str) -> dict[str, Any]:
    """The route CA. `rotationPolicy: Never`: a renewal keeps the key (cert-manager v1.19.1
    `pkg/apis/certmanager/v1/types_certificate.go`: the default is `Always` since v1.18, which
    would make each renewal a new CA that no running member trusts)."""
    return {
        "isCA": True,
        "commonName": f"webapp {instance} NATS route CA",
        "secretName": ROUTE_CA_SECRET,
        "duration": ROUTE_CA_DURATION,
        "renewBefore": ROUTE_CA_RENEW_BEFORE,
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Never"},
        "issuerRef": {"kind": "Issuer", "name": SELF_SIGNED_ISSUER, "group": "cert-manager.io"},
    }


@dataclass(frozen=True, kw_only=True)
class NatsRouteTlsArgs:
    namespace: str
    """The application namespace (the Issuers, Certificates and Secrets live there)."""
    instance: str
    """The stack name: `app.kubernetes.io/instance`, and part of the CA's name."""
    labels: Mapping[str, str]
    """The NATS component's labels, put on every object."""
    headless_service: str = "nats-headless"
    """The headless Service whose pod names the certificate holds. Default `nats-headless`."""
    crd_dependencies: Sequence[pulumi.Resource] = ()
    """What installs cert-manager's CRDs, when this program installs it (waited for). Default:
    nothing (cert-manager is already there)."""


class NatsRouteTls(pulumi.ComponentResource):
    certificate: k8s.apiextensions.CustomResource
    """The members' Certificate (awaited until Ready): what the StatefulSet waits for."""

    def __init__(
        self, name: str, args: NatsRouteTlsArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:data:NatsRouteTls", name, None, opts)
        self._name, self._args = name, args
        child = kx.child_options(self, opts, args.crd_dependencies)
        root = self._resource("selfsigned", "Issuer", SELF_SIGNED_ISSUER, {"selfSigned": {}}, child)
        authority = self._resource(
            "ca",
            "Certificate",
            ROUTE_CA_SECRET,
            route_ca_spec(args.instance),
            self._after(child, root),
            kx.AWAIT_READY,
        )
        issuer = self._resource(
            "ca-issuer",
            "Issuer",
            CA_ISSUER,
            {"ca": {"secretName": ROUTE_CA_SECRET}},
            self._after(child, authority),
        )
        self.certificate = self._resource(
            "certificate",
            "Certificate",
            ROUTE_CERTIFICATE,
            route_certificate_spec(args.headless_service, args.namespace),
            self._after(child, issuer),
            kx.AWAIT_READY,
        )
        self.register_outputs({"secret_name": ROUTE_SECRET})

    @staticmethod
    def _after(child: pulumi.ResourceOptions, resource: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[resource]))

    def _resource(
        self,
        suffix: str,
        kind: str,
        object_name: str,
        spec: dict[str, Any],
        opts: pulumi.ResourceOptions,
        annotations: Optional[Mapping[str, str]] = None,
    ) -> k8s.apiextensions.CustomResource:
        args = self._args
        return k8s.apiextensions.CustomResource(
            f"{self._name}-{suffix}",
            api_version=CERT_MANAGER_API,
            kind=kind,
            metadata=kx.metadata(object_name, args.namespace, args.labels, annotations),
            spec=spec,
            opts=opts,
        )
