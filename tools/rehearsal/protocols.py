"""Checks of what the controllers read from the pods' and Services' declarations.

- Istio's protocol selection (istio/istio 1.30.3 `pkg/config/kube/conversion.go`
  `ConvertProtocol`): UDP is UDP; otherwise `appProtocol`, else the port name's prefix before the
  first `-`, names the protocol (`pkg/config/protocol/instance.go` `Parse`: tcp, udp, grpc,
  grpc-web, http, http_proxy, http2, https, tls, mongo, redis, mysql); anything else is sniffed
  (TCP only on SMTP, DNS, MySQL and MongoDB's well-known ports). A sniffed port waits for the
  client to speak first, so a server-first protocol (NATS sends INFO, PostgreSQL and Redis wait
  for the client, but nothing may be left to a guess) must be declared.
- Topology spread (kubernetes v1.34 `pkg/scheduler/framework/plugins/podtopologyspread`):
  `matchLabelKeys` take their values from the incoming pod's labels; a key the pod does not carry
  is ignored, so a Rollout's pods (which carry `rollouts-pod-template-hash`, not
  `pod-template-hash`) would be spread together with every other revision's.
"""

from __future__ import annotations

from typing import Any

from .cluster import REVISION, Cluster

KNOWN = {
    "tcp",
    "udp",
    "grpc",
    "grpc-web",
    "http",
    "http_proxy",
    "http2",
    "https",
    "tls",
    "mongo",
    "redis",
    "mysql",
}
WELL_KNOWN_TCP = {25, 53, 3306, 27017}
STANDARD_APP_PROTOCOLS = {"kubernetes.io/h2c", "kubernetes.io/ws", "kubernetes.io/wss"}


def istio_protocol(port: dict[str, Any]) -> str:
    """The protocol Istio gives a Service port; `sniffed` when it has to guess."""
    if port.get("protocol") == "UDP":
        return "udp"
    name = port.get("appProtocol") or port.get("name") or ""
    if name in STANDARD_APP_PROTOCOLS:
        return name
    if name.lower().startswith("grpc-web"):
        return "grpc-web"
    prefix = name.split("-", 1)[0].lower()
    if prefix in KNOWN:
        return prefix
    if int(port["port"]) in WELL_KNOWN_TCP:
        return "tcp"
    return "sniffed"


def undeclared_ports(cluster: Cluster) -> list[str]:
    """Service ports in meshed namespaces whose protocol Istio would sniff."""
    problems = []
    for service in cluster.of_kind("Service"):
        namespace = service["metadata"].get("namespace", "")
        if not cluster.meshed(namespace):
            continue
        for port in service["spec"].get("ports", []):
            if istio_protocol(port) == "sniffed":
                problems.append(
                    f"Service {namespace}/{service['metadata']['name']} port "
                    f"{port.get('name', port['port'])} ({port['port']}) declares no protocol: "
                    "Istio sniffs it (set appProtocol)"
                )
    return problems


def spread_keys(cluster: Cluster) -> list[str]:
    """Spread keys that the pods they spread do not carry."""
    problems = []
    for workload in cluster.of_kind("Rollout") + cluster.of_kind("Deployment"):
        template = workload["spec"]["template"]
        labels = set(template["metadata"].get("labels") or {})
        labels.add(REVISION if workload["kind"] == "Rollout" else "pod-template-hash")
        for constraint in template["spec"].get("topologySpreadConstraints") or []:
            missing = set(constraint.get("matchLabelKeys") or []) - labels
            if missing:
                problems.append(
                    f"{workload['kind']} {workload['metadata']['name']}: its pods carry no "
                    f"{', '.join(sorted(missing))}; every revision would be spread together"
                )
    return problems
