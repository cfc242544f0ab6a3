"""What NATS cluster members accept and present on their routes, read from the rendered objects as
nats-server and cert-manager read them (the rotation rehearsal's `nats routes` credential).

A member's `cluster` block may authenticate routes two ways, and the rehearsal reads both:
- a route user (`authorization {user: <u>, password: $VAR}`): accepted is the one user and
  password the member's environment resolves (nats-server takes a single cluster user:
  "Cluster authorization does not allow multiple users", nats-server v2.11.8 `server/opts.go`
  `parseCluster`); presented are the credentials in the route URLs it dials;
- TLS (`tls { cert_file, key_file, ca_file }`): the peer's certificate must verify against
  `ca_file` (`server/opts.go` `getTLSConfig`: required and verified both ways for routes), so
  accepted is *any* certificate the route CA signed, and presented is the member's own leaf.
  The files come from the Secret mounted at their directory, which a cert-manager Certificate
  writes; its CA Issuer names the CA's Secret, which the CA Certificate writes. A leaf is written
  as `leaf<n><<ca><k>`: the n-th leaf, signed by key k of the CA; a member accepts `*<<ca><k>`.

A renewal of the leaf (cert-manager, `renewBefore` ahead of expiry) presents a new leaf of the same
CA key. A renewal of the CA keeps its key when the CA Certificate says `rotationPolicy: Never`
(cert-manager v1.19.1 `pkg/apis/certmanager/v1/types_certificate.go`; the default, `Always`,
makes a new key at each renewal), so members restarted after it still accept the others' leafs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional
from urllib.parse import unquote_plus, urlsplit

ANY_LEAF = "*"


@dataclass(frozen=True)
class RouteTls:
    """The route certificate as cert-manager keeps it."""

    secret: str
    """The Secret the members mount (the leaf)."""
    ca: str
    """The CA's Secret (what signs every leaf)."""
    ca_keeps_key: bool
    """The CA Certificate renews with the same key (`rotationPolicy: Never`)."""
    renew_before: str
    """The leaf's `renewBefore`."""


def leaf(number: int, ca: str, key: int) -> str:
    return f"leaf{number}<{ca}{key}"


def any_leaf(ca: str, key: int) -> str:
    return f"{ANY_LEAF}<{ca}{key}"


def accepted(token: str, accepts: Iterable[str]) -> bool:
    """`token` is among `accepts`, or a leaf whose CA key one of them accepts any leaf of."""
    for accepting in accepts:
        if token == accepting:
            return True
        if accepting.startswith(f"{ANY_LEAF}<") and "<" in token:
            if token.split("<", 1)[1] == accepting.split("<", 1)[1]:
                return True
    return False


def _cluster(conf: str) -> str:
    start = conf.find("cluster {")
    return conf[start:] if start >= 0 else ""


def route_tls(objects: Iterable[Mapping[str, Any]], conf: str) -> Optional[RouteTls]:
    """The route certificate behind the cluster block's `ca_file`, following the mounted Secret to
    its Certificate, its Issuer and the CA Certificate; None without cluster TLS."""
    match = re.search(r'ca_file: "([^"]+)/[^/"]+"', _cluster(conf))
    if not match:
        return None
    objects = list(objects)
    directory = match.group(1)
    (nats,) = [o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "nats"]
    spec = nats["spec"]["template"]["spec"]
    mounts = {
        m["mountPath"]: m["name"] for c in spec["containers"] for m in c.get("volumeMounts") or []
    }
    volumes = {v["name"]: v for v in spec["volumes"]}
    secret = volumes[mounts[directory]]["secret"]["secretName"]
    certificates = {
        o["spec"]["secretName"]: o["spec"] for o in objects if o["kind"] == "Certificate"
    }
    issuers = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "Issuer"}
    leaf_spec = certificates[secret]
    ca = issuers[leaf_spec["issuerRef"]["name"]]["ca"]["secretName"]
    ca_policy = (certificates[ca].get("privateKey") or {}).get("rotationPolicy", "Always")
    return RouteTls(secret, ca, ca_policy == "Never", leaf_spec.get("renewBefore", ""))


def route_password(conf: str, env: Mapping[str, str]) -> tuple[frozenset[str], frozenset[str]]:
    """(accepted, presented) route users as `user:password`: the cluster's one user, and those
    of the route URLs the member dials (from its environment or the config itself)."""
    cluster = _cluster(conf)
    user = re.search(r"authorization \{user: ([^,]+), password: \$([A-Z0-9_]+)\}", cluster)
    if not user:
        return frozenset(), frozenset()
    accepts = frozenset({f"{user.group(1)}:{env.get(user.group(2), '')}"})
    urls = [value for name, value in env.items() if name.startswith("NATS_ROUTE_")]
    urls += re.findall(r"nats://\S+", cluster)
    presents = frozenset(
        f"{urlsplit(url).username}:{unquote_plus(urlsplit(url).password or '')}"
        for url in urls
        if url.startswith("nats://") and "@" in url
    )
    return accepts, presents
