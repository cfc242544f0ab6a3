"""Reachability: which connections a stack's NetworkPolicies allow, and whether that is exactly
what the stack needs.

`python -m tools.reachability <stack>` runs the stack offline, builds its connection inventory
from its own settings and catalogue (not a hand-written list) and prints one row per connection:
who, where, port, verdict and the policy rule that decided it. Exit 1 when a needed connection is
denied or an unneeded probe is allowed.

The evaluator models the NetworkPolicy semantics of the Kubernetes API, read from
kubernetes/api v0.32 networking/v1/types.go (the field docs of NetworkPolicySpec,
NetworkPolicyPeer, NetworkPolicyPort, IPBlock) and kubernetes/website
content/en/docs/concepts/services-networking/network-policies.md:
- a pod is isolated for ingress (egress) only if some policy in its namespace selects it and lists
  `Ingress` (`Egress`) in `policyTypes` (absent: Ingress, plus Egress when it has egress rules);
- a connection is allowed when the source's egress side and the destination's ingress side both
  allow it; a side is allowed if it is not isolated or any rule of any selecting policy matches
  (policies are additive, there is no deny);
- a rule with no `from`/`to` matches every peer, with no `ports` every port;
- one peer with both `namespaceSelector` and `podSelector` means pods matching the pod selector in
  namespaces matching the namespace selector (AND); separate peers are OR; `podSelector` alone is
  the policy's own namespace;
- `ipBlock` matches addresses by CIDR minus `except`; pod IPs are not matched by ipBlock here (the
  docs leave it to the implementation; the program's ipBlocks all aim outside the cluster);
- a port is a number or a container port name, resolved against the destination pod's container
  ports; `endPort` makes a range; `protocol` defaults to TCP;
- namespaces carry `kubernetes.io/metadata.name: <name>`, which the API server sets on every
  namespace (the NamespaceDefaultLabelName feature, GA in 1.22).
Traffic to pods the program does not declare (kube-dns, Prometheus, the Gateway's proxies, the
API server, the Internet) is modelled by the labels and addresses in `platform_pods`/`ADDRESSES`,
each from the controller that creates them (cited there).

The mesh: `mesh_verdict` evaluates Istio's AuthorizationPolicies (istio/api v1.27
security/v1beta1/authorization_policy.proto, served as security.istio.io/v1: with any ALLOW
policy selecting the workload, a request is allowed only if a rule of one matches; a rule's
`from` sources and `to` operations are ANDed, the entries in each list ORed; a principal is
`cluster.local/ns/<ns>/sa/<account>`, and a pod without a sidecar has none). Not modelled: mTLS
modes themselves (a plain-text caller reaches a STRICT port only through a rule without `from`,
which is how the program writes the PERMISSIVE scrape ports).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import sys
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from components.config.catalogue import CATALOGUE, LOAD_TRIGGERS
from components.config.settings import Settings
from components.kube.objects import AMA_METRICS_NAMESPACE, AMA_METRICS_PODS, NAMESPACE_LABEL

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Rollout")


@dataclass(frozen=True)
class Pod:
    """A pod (one per workload: replicas share labels), as NetworkPolicy sees it."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    ports: Mapping[str, int] = field(default_factory=dict)
    """Named container ports (what a named NetworkPolicy port resolves against)."""
    account: Optional[str] = None
    """Its ServiceAccount; the mesh principal when `meshed`."""
    meshed: bool = False
    scrape_port: Optional[int] = None
    """The `prometheus.io/port` of a pod annotated `prometheus.io/scrape: "true"` (what Azure
    Monitor's `kubernetes-pods` job keeps, `components/azure/monitor.py`)."""


@dataclass(frozen=True)
class Address:
    """Something outside the pod network, by IP (the API server, the Internet, a managed
    database)."""

    name: str
    ip: str


Endpoint = Union[Pod, Address]


@dataclass(frozen=True)
class Connection:
    source: Endpoint
    destination: Endpoint
    port: int
    protocol: str = "TCP"
    needed: bool = True
    """True: must be allowed; False: a probe of something nobody needs, must be denied."""
    why: str = ""
    known_gap: str = ""
    """A probe still allowed for a reason stated here (reported, not failed)."""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str


@dataclass
class Cluster:
    namespaces: dict[str, dict[str, str]]
    pods: list[Pod]
    policies: list[Mapping[str, Any]]
    authorization: list[Mapping[str, Any]] = field(default_factory=list)

    def pod(self, namespace: str, app: str) -> Pod:
        for pod in self.pods:
            if pod.namespace == namespace and pod.labels.get("app.kubernetes.io/name") == app:
                return pod
        raise KeyError(f"no pod {namespace}/{app}")

    def find(self, namespace: str, app: str) -> Optional[Pod]:
        try:
            return self.pod(namespace, app)
        except KeyError:
            return None


# --- the cluster, from rendered objects --------------------------------------------------------


def _template(obj: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
    if obj.get("kind") == "Pod":
        return obj
    return spec.get("template")


def pods_of(obj: Mapping[str, Any], meshed_namespaces: Iterable[str] = ()) -> list[Pod]:
    """The pod a workload object runs (Deployments, StatefulSets, Jobs, CronJobs, Rollouts)."""
    if obj.get("kind") not in (*WORKLOAD_KINDS, "CronJob", "Pod"):
        return []
    template = _template(obj)
    if not template:
        return []
    spec = template.get("spec") or {}
    ports = {
        port["name"]: int(port["containerPort"])
        for container in spec.get("containers") or []
        for port in container.get("ports") or []
        if port.get("name")
    }
    namespace = obj["metadata"].get("namespace") or "default"
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    scraped = annotations.get("prometheus.io/scrape") == "true" and annotations.get(
        "prometheus.io/port"
    )
    return [
        Pod(
            name=obj["metadata"]["name"],
            namespace=namespace,
            labels=dict((template.get("metadata") or {}).get("labels") or {}),
            ports=ports,
            account=spec.get("serviceAccountName") or "default",
            meshed=namespace in set(meshed_namespaces),
            scrape_port=int(scraped) if scraped else None,
        )
    ]


def analysis_pods(obj: Mapping[str, Any], meshed_namespaces: Iterable[str] = ()) -> list[Pod]:
    """The pods an AnalysisTemplate's job metrics run (Argo Rollouts creates each Job from the
    metric's `provider.job.spec` in the template's namespace: argo-rollouts v1.9.0
    `metricproviders/job/job.go`)."""
    if obj.get("kind") != "AnalysisTemplate":
        return []
    found = []
    for metric in (obj.get("spec") or {}).get("metrics") or []:
        job = (metric.get("provider") or {}).get("job")
        if job:
            job_object = {"kind": "Job", "metadata": obj["metadata"], "spec": job["spec"]}
            for pod in pods_of(job_object, meshed_namespaces):
                found.append(dataclasses.replace(pod, name=f"{pod.name}-{metric['name']}"))
    return found


def cluster_of(objects: Sequence[Mapping[str, Any]], extra: Sequence[Pod] = ()) -> Cluster:
    """The rendered Namespaces, workloads' pods, NetworkPolicies and AuthorizationPolicies, plus
    `extra` pods the program does not declare (and their namespaces)."""
    namespaces: dict[str, dict[str, str]] = {}
    for obj in objects:
        if obj.get("kind") == "Namespace":
            name = obj["metadata"]["name"]
            namespaces[name] = {**(obj["metadata"].get("labels") or {}), NAMESPACE_LABEL: name}
    meshed = [n for n, labels in namespaces.items() if labels.get("istio-injection") == "enabled"]
    pods = [pod for obj in objects for pod in (*pods_of(obj, meshed), *analysis_pods(obj, meshed))]
    for pod in (*pods, *extra):
        namespaces.setdefault(pod.namespace, {NAMESPACE_LABEL: pod.namespace})
    return Cluster(
        namespaces=namespaces,
        pods=[*pods, *extra],
        policies=[o for o in objects if o.get("kind") == "NetworkPolicy"],
        authorization=[o for o in objects if o.get("kind") == "AuthorizationPolicy"],
    )


# --- NetworkPolicy semantics ------------------------------------------------------------------


def selects(selector: Optional[Mapping[str, Any]], labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector: matchLabels and matchExpressions ANDed; empty selects everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def policy_types(policy: Mapping[str, Any]) -> list[str]:
    spec = policy.get("spec") or {}
    if spec.get("policyTypes"):
        return list(spec["policyTypes"])
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _peer_matches(
    peer: Mapping[str, Any], policy_namespace: str, other: Endpoint, cluster: Cluster
) -> bool:
    if "ipBlock" in peer:
        if not isinstance(other, Address):
            return False
        block = peer["ipBlock"]
        ip = ipaddress.ip_address(other.ip)
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(cidr) for cidr in block.get("except") or []
        )
    if not isinstance(other, Pod):
        return False
    if "namespaceSelector" in peer:
        namespace_labels = cluster.namespaces.get(other.namespace, {})
        if not selects(peer["namespaceSelector"], namespace_labels):
            return False
    elif other.namespace != policy_namespace:
        return False
    return selects(peer.get("podSelector"), other.labels)


def _port_matches(
    rule_ports: Optional[Sequence[Mapping[str, Any]]], connection: Connection
) -> bool:
    if not rule_ports:
        return True
    destination = connection.destination
    for entry in rule_ports:
        if (entry.get("protocol") or "TCP") != connection.protocol:
            continue
        port = entry.get("port")
        if port is None:
            return True
        if isinstance(port, str):
            # A named port is the destination pod's container port of that name.
            if isinstance(destination, Pod) and destination.ports.get(port) == connection.port:
                return True
            continue
        if int(port) <= connection.port <= int(entry.get("endPort") or port):
            return True
    return False


def _side(connection: Connection, cluster: Cluster, direction: str) -> Verdict:
    """One side: the destination's ingress or the source's egress."""
    pod = connection.destination if direction == "Ingress" else connection.source
    other = connection.source if direction == "Ingress" else connection.destination
    if not isinstance(pod, Pod):
        return Verdict(True, "outside the pod network")
    selecting = [
        policy
        for policy in cluster.policies
        if policy["metadata"].get("namespace") == pod.namespace
        and selects((policy.get("spec") or {}).get("podSelector"), pod.labels)
        and direction in policy_types(policy)
    ]
    if not selecting:
        return Verdict(True, f"{direction.lower()} not isolated")
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in selecting:
        for index, rule in enumerate((policy.get("spec") or {}).get(key) or []):
            peers = rule.get(peers_key)
            if (
                not peers
                or any(_peer_matches(peer, pod.namespace, other, cluster) for peer in peers)
            ) and _port_matches(rule.get("ports"), connection):
                return Verdict(True, f"{policy['metadata']['name']}.{key}[{index}]")
    names = ", ".join(sorted(p["metadata"]["name"] for p in selecting))
    return Verdict(False, f"{direction.lower()} denied (isolated by {names})")


def verdict(connection: Connection, cluster: Cluster) -> Verdict:
    """Allowed when the source may send it and the destination may receive it."""
    egress = _side(connection, cluster, "Egress")
    ingress = _side(connection, cluster, "Ingress")
    if not egress.allowed:
        return egress
    if not ingress.allowed:
        return ingress
    return Verdict(True, f"out: {egress.reason}; in: {ingress.reason}")


# --- Istio AuthorizationPolicies --------------------------------------------------------------


def _source_matches(source: Mapping[str, Any], origin: Endpoint) -> bool:
    principal = (
        f"cluster.local/ns/{origin.namespace}/sa/{origin.account}"
        if isinstance(origin, Pod) and origin.meshed
        else None
    )
    if "principals" in source and principal not in source["principals"]:
        return False
    if "namespaces" in source and not (
        principal is not None
        and isinstance(origin, Pod)
        and origin.namespace in source["namespaces"]
    ):
        return False
    if "ipBlocks" in source:
        if not isinstance(origin, Address):
            return False
        ip = ipaddress.ip_address(origin.ip)
        if not any(ip in ipaddress.ip_network(cidr) for cidr in source["ipBlocks"]):
            return False
    return True


def mesh_verdict(connection: Connection, cluster: Cluster) -> Verdict:
    """Istio's ALLOW policies on the destination (deny-all + ALLOW: nothing else gets in)."""
    destination = connection.destination
    if not isinstance(destination, Pod) or not destination.meshed:
        return Verdict(True, "destination outside the mesh")
    applying = [
        policy
        for policy in cluster.authorization
        if policy["metadata"].get("namespace") == destination.namespace
        and (policy.get("spec") or {}).get("action", "ALLOW") == "ALLOW"
        and selects((policy.get("spec") or {}).get("selector"), destination.labels)
    ]
    if not applying:
        return Verdict(True, "no AuthorizationPolicy")
    for policy in applying:
        for index, rule in enumerate((policy.get("spec") or {}).get("rules") or []):
            sources = rule.get("from")
            operations = rule.get("to")
            if sources and not any(
                _source_matches(s["source"], connection.source) for s in sources
            ):
                continue
            if operations and not any(
                str(connection.port) in (o["operation"].get("ports") or [str(connection.port)])
                for o in operations
            ):
                continue
            return Verdict(True, f"authz {policy['metadata']['name']}.rules[{index}]")
    return Verdict(False, "mesh denied (no ALLOW rule matches)")


# --- the inventory ----------------------------------------------------------------------------

ADDRESSES = {"internet": "93.184.215.14", "public-api-server": "20.50.2.14"}
"""Stand-in public addresses (any public address would do: the policies never name one)."""


def platform_pods(settings: Settings) -> list[Pod]:
    """The pods outside the program that make or take the stack's connections, by the labels
    their controllers put on them."""
    from components.app.application import gateway_proxy_pods, managed_prometheus

    pods = [
        # kube-dns (CoreDNS on EKS and AKS keeps the kube-dns label for compatibility).
        Pod("coredns", "kube-system", {"k8s-app": "kube-dns"}, {"dns": 53, "dns-tcp": 53}),
        Pod("stranger", "stranger", {"app.kubernetes.io/name": "stranger"}),
    ]
    routing = settings.routing
    if routing.mode == "gateway":
        gateway_namespace = routing.shared_gateway or settings.namespace
        # In the mesh the proxies join it (EdgeRouting's EnvoyProxy injects their sidecars).
        for name, owner in (("envoy-webapp", gateway_namespace), ("envoy-other", "someone-else")):
            # envoy-other: another Gateway's proxies in the same controller namespace.
            pods.append(
                Pod(
                    name,
                    routing.controller_namespace,
                    dict(gateway_proxy_pods(owner)),
                    account=f"envoy-{owner}",
                    meshed=settings.mesh.enabled,
                )
            )
    else:
        pods.append(
            Pod(
                "ingress-nginx",
                routing.controller_namespace,
                {"app.kubernetes.io/name": "ingress-nginx"},
            )
        )
    monitoring = settings.monitoring
    if monitoring.enabled:
        pods += [
            Pod(
                "prometheus",
                monitoring.namespace,
                {"app.kubernetes.io/name": "prometheus", "operator.prometheus.io/name": "kps"},
            ),
            Pod("grafana", monitoring.namespace, {"app.kubernetes.io/name": "grafana"}),
        ]
    if managed_prometheus(settings):
        pods.append(Pod("ama-metrics", AMA_METRICS_NAMESPACE, dict(AMA_METRICS_PODS)))
    pods += [
        Pod("argo-rollouts", "argo-rollouts", {"app.kubernetes.io/name": "argo-rollouts"}),
        Pod("keda-operator", "keda", {"app": "keda-operator"}),
    ]
    if settings.mesh.enabled:
        pods.append(Pod("istiod", settings.mesh.namespace, {"app": "istiod", "istio": "pilot"}))
    return pods


def _database(store_network: Optional[str]) -> Optional[Address]:
    if store_network is None:
        return None
    network = ipaddress.ip_network(store_network)
    # The last host of the range: a managed database's address lies somewhere in it.
    return Address("managed-postgres", str(network[-2]))


def _database_network(settings: Settings) -> Optional[str]:
    if settings.database.mode != "managed":
        return None
    # The managed database's network: where the store says it is (its subnets when config gives
    # their ranges); the probe below looks elsewhere in the VPC/VNet.
    if settings.cloud == "aws" and settings.aws is not None:
        return (settings.aws.private_subnet_cidrs or (settings.aws.vpc_cidr,))[0]
    if settings.cloud == "azure" and settings.azure is not None:
        return settings.azure.database_subnet_cidr or settings.azure.vnet_cidr
    return None


def _database_networks(settings: Settings) -> tuple[str, ...]:
    if settings.cloud == "aws" and settings.aws is not None:
        return settings.aws.private_subnet_cidrs or (settings.aws.vpc_cidr,)
    first = _database_network(settings)
    return (first,) if first else ()


def _outside(networks: Sequence[str], wider: str) -> str:
    """An address of `wider` in none of `networks` (any address of it when they cover it)."""
    ranges = [ipaddress.ip_network(n) for n in networks]
    whole = ipaddress.ip_network(wider)
    for candidate in (whole[-2], whole[10]):
        if not any(candidate in r for r in ranges):
            return str(candidate)
    return str(whole[10])


def _wider_network(settings: Settings) -> Optional[str]:
    """The VPC/VNet around the database's subnets, and whether config narrowed it to them."""
    if settings.cloud == "aws" and settings.aws is not None:
        return settings.aws.vpc_cidr
    if settings.cloud == "azure" and settings.azure is not None:
        return settings.azure.vnet_cidr
    return None


def _narrowed(settings: Settings) -> bool:
    if settings.cloud == "aws" and settings.aws is not None:
        return bool(settings.aws.private_subnet_cidrs)
    if settings.cloud == "azure" and settings.azure is not None:
        return settings.azure.database_subnet_cidr is not None
    return False


def inventory(settings: Settings, cluster: Cluster) -> list[Connection]:
    """Every connection the stack needs, from its settings and catalogue, and probes of some it
    must not have."""
    built = _Inventory(settings, cluster)
    built.services()
    built.analysis()
    built.scrapes()
    built.platform()
    built.probes()
    return built.found


class _Inventory:
    def __init__(self, settings: Settings, cluster: Cluster):
        self.settings, self.cluster = settings, cluster
        self.found: list[Connection] = []
        self.local = [p for p in cluster.pods if p.namespace == settings.namespace]
        self.network = _database_network(settings)
        self.database: Optional[Endpoint] = _database(self.network) or self.app("postgres")
        self.internet = Address("internet", ADDRESSES["internet"])

    def app(self, name: str) -> Optional[Pod]:
        return self.cluster.find(self.settings.namespace, name)

    def named(self, name: str) -> Optional[Pod]:
        return next((p for p in self.cluster.pods if p.name == name), None)

    def need(
        self,
        source: Optional[Endpoint],
        destination: Optional[Endpoint],
        port: int,
        why: str,
        protocol: str = "TCP",
    ) -> None:
        if source is not None and destination is not None:
            self.found.append(Connection(source, destination, port, protocol, True, why))

    def analysis(self) -> None:
        """A release's smoke Job calls the tested service's HTTP port (`workloads.analysis`)."""
        from components.workloads.analysis import SMOKE_SUFFIX

        for pod in self.local:
            name = pod.labels.get("app.kubernetes.io/name", "")
            if name.endswith(f"-{SMOKE_SUFFIX}"):
                target = self.app(name.removesuffix(f"-{SMOKE_SUFFIX}"))
                if target is not None:
                    self.need(pod, target, target.ports["http"], "a release's smoke requests")

    def services(self) -> None:
        """The catalogue's `calls`, third-party ports and public routes; the scheduler's call."""
        from components.app.application import port_of

        proxy = self.named("envoy-webapp") or self.named("ingress-nginx")
        for svc in CATALOGUE:
            pod = self.app(svc.name)
            for target in svc.calls:
                if target == svc.name:
                    continue  # the broadcaster's own Service (no pod-to-pod connection)
                destination = self.database if target == "postgres" else self.app(target)
                self.need(pod, destination, port_of(target), f"{svc.name} calls {target}")
            for port in svc.internet_ports:
                self.need(pod, self.internet, port, f"{svc.name} reaches third parties")
            if svc.route:
                self.need(proxy, pod, svc.port, f"public route {svc.route}")
        self.need(self.app("scheduler"), self.app("api"), port_of("api"), "the scheduler calls api")

    def scrapes(self) -> None:
        """Prometheus to every named metrics port of the namespace's pods; Azure Monitor's agent
        to every annotated pod; analysis and KEDA to Prometheus (the monitoring namespace has no
        policy of this program's: listed so the table shows them)."""
        prometheus, ama = self.named("prometheus"), self.named("ama-metrics")
        for pod in self.local:
            for name, port in sorted(pod.ports.items()):
                if "metrics" in name:
                    self.need(prometheus, pod, port, f"Prometheus scrapes {pod.name}:{name}")
            if pod.scrape_port is not None:
                self.need(ama, pod, pod.scrape_port, "Azure Monitor's agent scrapes the pod")
        self.need(self.named("argo-rollouts"), prometheus, 9090, "Rollout analysis queries")
        if LOAD_TRIGGERS:
            self.need(self.named("keda-operator"), prometheus, 9090, "KEDA load triggers query")

    def platform(self) -> None:
        """DNS and istiod for every pod; the release gates to the API server."""
        coredns, istiod = self.named("coredns"), self.named("istiod")
        for pod in self.local:
            self.need(pod, coredns, 53, "DNS", "UDP")
            self.need(pod, coredns, 53, "DNS", "TCP")
            self.need(pod, istiod, 15012, "the sidecar's xDS and certificates")
        api_server = Address("api-server", _api_server_address(self.settings))
        for gate in self.gates():
            self.need(gate, api_server, 443, "the release gate reads its Rollout")

    def gates(self) -> list[Pod]:
        names = tuple(f"{svc.name}-release" for svc in CATALOGUE)
        return [p for p in self.local if p.name.startswith(names)]

    def probes(self) -> None:
        """Connections nobody needs: each must be denied (or carry its known reason)."""
        app, named = self.app, self.named
        probe = [
            (app("frontend"), self.database, 5432, "frontend -> database", ""),
            (app("websocket"), self.database, 5432, "websocket -> database", ""),
            (app("frontend"), app("redis"), 6379, "frontend -> redis", ""),
            (app("api"), self.internet, 443, "api -> Internet 443", ""),
            (named("stranger"), app("api"), 8080, "another namespace -> api", ""),
            (named("stranger"), app("redis"), 6379, "another namespace -> redis", ""),
            (named("grafana"), app("api"), 9091, "monitoring, not Prometheus -> api metrics", ""),
            (
                named("envoy-other"),
                app("frontend"),
                8080,
                "another Gateway's proxy -> frontend",
                "",
            ),
            (
                app("broadcaster"),
                Address("private", "10.99.0.10"),
                443,
                "broadcaster -> private",
                "",
            ),
        ]
        public = _api_server_address(self.settings) == ADDRESSES["public-api-server"]
        gap = GATE_GAP if public else ""
        for gate in self.gates()[:1]:
            probe.append((gate, self.internet, 443, "release gate -> Internet", gap))
        wider = _wider_network(self.settings)
        if self.network is not None and wider is not None:
            # An address of the VPC/VNet outside the database's subnets (or anywhere in it, as a
            # known gap, when config does not give the subnets' ranges).
            outside = _outside(_database_networks(self.settings), wider)
            gap = "" if _narrowed(self.settings) else DATABASE_GAP
            host = Address("network-host", str(outside))
            probe.append((app("api"), host, 5432, "api -> 5432 outside the database subnets", gap))

        for source, destination, port, why, gap in probe:
            if source is not None and destination is not None:
                self.found.append(Connection(source, destination, port, "TCP", False, why, gap))


GATE_GAP = (
    "the release gate's egress is 0.0.0.0/0 on 443/6443: the API server's address is the "
    "cloud's; set webapp:kubernetes.apiServerCidr to narrow it (on AWS the VPC is the default)"
)


def _api_server_address(settings: Settings) -> str:
    """An address where the API server answers: inside the configured range (EKS: the control
    plane's network interfaces in the VPC), else a public stand-in."""
    from components.app.application import api_server_network

    network = ipaddress.ip_network(api_server_network(settings))
    if network.prefixlen == 0:
        return ADDRESSES["public-api-server"]
    return str(network[-2] if network.num_addresses > 2 else network[0])


DATABASE_GAP = (
    "api and auth reach 5432 on the whole VPC/VNet: set webapp:aws.privateSubnetCidrs / "
    "webapp:azure.databaseSubnetCidr to narrow it to the database's subnets"
)


# --- running it --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    connection: Connection
    network: Verdict
    mesh: Verdict

    @property
    def allowed(self) -> bool:
        return self.network.allowed and self.mesh.allowed

    @property
    def ok(self) -> bool:
        if self.connection.needed:
            return self.allowed
        return not self.allowed or bool(self.connection.known_gap)


def evaluate(settings: Settings, cluster: Cluster) -> list[Row]:
    return [
        Row(c, verdict(c, cluster), mesh_verdict(c, cluster)) for c in inventory(settings, cluster)
    ]


def stack_cluster(settings: Settings, objects: Sequence[Mapping[str, Any]]) -> Cluster:
    return cluster_of(objects, platform_pods(settings))


def _label(endpoint: Endpoint) -> str:
    if isinstance(endpoint, Address):
        return f"{endpoint.name}({endpoint.ip})"
    return f"{endpoint.namespace}/{endpoint.name}"


def table(rows: Sequence[Row]) -> str:
    lines = [f"{'connection':<66} {'port':<9} {'verdict':<8} reason"]
    for row in rows:
        c = row.connection
        kind = "need" if c.needed else "probe"
        status = ("allowed" if row.allowed else "denied") + ("" if row.ok else " FAIL")
        decided = row.network if not row.network.allowed or row.mesh.allowed else row.mesh
        reason = decided.reason
        if row.network.allowed and row.mesh.reason.startswith("authz"):
            reason += f"; {row.mesh.reason}"
        if c.known_gap and row.allowed:
            reason += f" (known: {c.known_gap})"
        name = f"[{kind}] {_label(c.source)} -> {_label(c.destination)}"
        lines.append(f"{name:<66} {c.port}/{c.protocol:<5} {status:<8} {reason}")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    from .golden import variant_overrides
    from .lock import settings_without_lock
    from .offline import load_stack_config, run_stack

    if not argv:
        print("usage: python -m tools.reachability <stack> [variant]", file=sys.stderr)
        return 2
    stack = argv[0]
    overrides = variant_overrides(stack, argv[1]) if len(argv) > 1 else {}
    settings = settings_without_lock(load_stack_config(stack, overrides), stack)
    run = run_stack(stack, overrides)
    rows = evaluate(settings, stack_cluster(settings, run.kubernetes_objects()))
    print(table(rows))
    failed = [row for row in rows if not row.ok]
    print(f"\n{len(rows)} connections, {len(failed)} failing")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
