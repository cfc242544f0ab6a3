"""Kubernetes rules: what every pod the program declares must look like, how it is exposed, and
how it is kept available.

Only objects the program declares are seen: workloads inside a Helm release (the add-on charts)
reach CrossGuard as one `helm.sh/v3:Release`, not as Deployments, so their hardening is the values
the program passes (checked against each chart's schema by the offline suite).
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, Optional

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from ._util import (
    LONG_RUNNING,
    POD,
    POD_TEMPLATE_PATHS,
    SCALABLE,
    config_value,
    containers,
    dig,
    identity,
    matches,
    pod_spec,
    pod_template,
)

# Pod Security Standards, "restricted" profile
# (kubernetes.io/docs/concepts/security/pod-security-standards).
ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
    "name",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SECCOMP_OK = {"RuntimeDefault", "Localhost"}


def _pod_level_problems(spec: Mapping[str, Any]) -> list[str]:
    problems = [f"spec.{f} is true" for f in ("hostNetwork", "hostPID", "hostIPC") if spec.get(f)]
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - ALLOWED_VOLUMES
        if kinds:
            problems.append(
                f"volume {volume.get('name', '?')!r} is {', '.join(sorted(kinds))} "
                f"(allowed: {', '.join(sorted(ALLOWED_VOLUMES - {'name'}))})"
            )
    for sysctl in dig(spec, "securityContext", "sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"sysctl {sysctl.get('name')!r} is not in the safe set")
    return problems


def _privilege_problems(own: Mapping[str, Any]) -> list[str]:
    problems = []
    if own.get("privileged"):
        problems.append("privileged")
    if own.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    caps = own.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []):
        problems.append("capabilities.drop does not include ALL")
    added = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
    if added:
        problems.append(f"adds capabilities {', '.join(sorted(added))}")
    if own.get("procMount", "Default") != "Default":
        problems.append(f"procMount {own.get('procMount')!r}")
    if dig(own, "windowsOptions", "hostProcess"):
        problems.append("windowsOptions.hostProcess")
    return problems


def _identity_problems(own: Mapping[str, Any], pod: Mapping[str, Any]) -> list[str]:
    """runAsNonRoot, runAsUser and seccomp: the container's setting, else the pod's."""
    problems = []
    if own.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
        problems.append("runAsNonRoot is not true (pod or container)")
    if own.get("runAsUser", pod.get("runAsUser")) == 0:
        problems.append("runAsUser is 0")
    seccomp = dig(own, "seccompProfile", "type") or dig(pod, "seccompProfile", "type")
    if seccomp not in SECCOMP_OK:
        problems.append(f"seccompProfile is {seccomp or 'unset'} (RuntimeDefault or Localhost)")
    return problems


def restricted_problems(spec: Mapping[str, Any]) -> list[str]:
    """Every way `spec` breaks the restricted Pod Security Standard."""
    problems = _pod_level_problems(spec)
    pod = spec.get("securityContext") or {}
    for where, container in containers(spec):
        own = container.get("securityContext") or {}
        found = _privilege_problems(own) + _identity_problems(own, pod)
        found += [
            f"hostPort {p['hostPort']}" for p in container.get("ports") or [] if p.get("hostPort")
        ]
        problems += [f"{where}: {problem}" for problem in found]
    return problems


def _pod_security(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    for problem in restricted_problems(spec):
        report(f"{identity(args.props)}: {problem}", None)


pod_security = ResourceValidationPolicy(
    name="pods-restricted-security",
    description="Every pod meets the restricted Pod Security Standard (non-root, no privilege "
    "escalation, all capabilities dropped, RuntimeDefault seccomp, no host namespaces or paths).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_pod_security,
)


def _requests_limits(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    cpu_limit = bool(config_value(args.get_config(), "requireCpuLimit", False))
    for where, container in containers(spec, init=True):
        if where.startswith("ephemeralContainers"):
            continue  # debug containers take no resources field
        resources = container.get("resources") or {}
        needed = [("requests", "cpu"), ("requests", "memory"), ("limits", "memory")]
        if cpu_limit:
            needed.append(("limits", "cpu"))
        missing = [f"{a}.{b}" for a, b in needed if not dig(resources, a, b)]
        if missing:
            report(f"{identity(args.props)}: {where} sets no {', '.join(missing)}", None)


requests_limits = ResourceValidationPolicy(
    name="containers-requests-limits",
    description="Every container requests CPU and memory and has a memory limit (the quota and "
    "the scheduler rely on them; an unbounded container can take a node's memory).",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={"requireCpuLimit": {"type": "boolean", "default": False}}
    ),
    validate=_requests_limits,
)


def _probes(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in LONG_RUNNING:
        return
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    for where, container in containers(spec, init=False):
        missing = [p for p in ("readinessProbe", "livenessProbe") if not container.get(p)]
        if missing:
            report(f"{identity(args.props)}: {where} has no {' or '.join(missing)}", None)


probes = ResourceValidationPolicy(
    name="containers-probes",
    description="Every container of a long-running workload has a readiness and a liveness probe "
    "(rollouts, Services and the provider's await all go by readiness).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_probes,
)

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def image_problem(image: Any) -> Optional[str]:
    """Why an image reference is not pinned (a tag other than latest, or a digest), or None."""
    if not isinstance(image, str) or not image:
        return f"image {image!r} is empty"
    if "@" in image:
        return None if _DIGEST.search(image) else f"image {image!r} has a malformed digest"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag (it means :latest)"
    tag = last.rsplit(":", 1)[1]
    if tag == "latest" or not tag:
        return f"image {image!r} uses the latest tag"
    return None


def _images(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    for where, container in containers(spec):
        problem = image_problem(container.get("image"))
        if problem:
            report(f"{identity(args.props)}: {where}: {problem}; pin a version or digest", None)


images_pinned = ResourceValidationPolicy(
    name="images-pinned",
    description="Every container image names a version tag or a digest, never latest (a "
    "restart must not change what runs).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_images,
)


def _registries(args: ResourceValidationArgs, report: ReportViolation) -> None:
    allowed = [r.rstrip("/") + "/" for r in config_value(args.get_config(), "registries", [])]
    spec = pod_spec(args.resource_type, args.props)
    if spec is None or not allowed:
        return
    for where, container in containers(spec):
        image = str(container.get("image") or "")
        if not any(image.startswith(prefix) for prefix in allowed):
            report(
                f"{identity(args.props)}: {where}: image {image!r} is not from "
                f"{', '.join(allowed)}",
                None,
            )


images_registries = ResourceValidationPolicy(
    name="images-allowed-registries",
    description="Container images come from the registries the stack names (advisory; no list "
    "means any registry).",
    enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=PolicyConfigSchema(
        properties={"registries": {"type": "array", "items": {"type": "string"}, "default": []}}
    ),
    validate=_registries,
)


def _read_only_root(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    for where, container in containers(spec, init=True):
        if where.startswith("ephemeralContainers"):
            continue
        if dig(container, "securityContext", "readOnlyRootFilesystem") is not True:
            report(f"{identity(args.props)}: {where}: root filesystem is writable", None)


read_only_root = ResourceValidationPolicy(
    name="containers-read-only-root",
    description="Containers run with a read-only root filesystem and write only to declared "
    "volumes (advisory).",
    enforcement_level=EnforcementLevel.ADVISORY,
    validate=_read_only_root,
)


def _services(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != "kubernetes:core/v1:Service":
        return
    config = args.get_config()
    kind = dig(args.props, "spec", "type") or "ClusterIP"
    meta = args.props.get("metadata") or {}
    key = f"{meta.get('namespace', 'default')}/{meta.get('name', '?')}"
    if kind == "LoadBalancer" and key not in config_value(config, "allowedLoadBalancers", []):
        report(
            f"{identity(args.props)} is a LoadBalancer: only the gateway's proxies are exposed "
            "(route through the Gateway, or list the Service in allowedLoadBalancers)",
            None,
        )
    if kind == "NodePort" and not config_value(config, "allowNodePort", False):
        report(f"{identity(args.props)} is a NodePort: it opens a port on every node", None)


services = ResourceValidationPolicy(
    name="services-no-load-balancer",
    description="No LoadBalancer or NodePort Service besides the gateway: traffic enters "
    "through the Gateway (or ingress controller) only, with its TLS and rate limits.",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={
            "allowedLoadBalancers": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "namespace/name of Services allowed to be LoadBalancers",
            },
            "allowNodePort": {"type": "boolean", "default": False},
        }
    ),
    validate=_services,
)


def _spread(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in SCALABLE:
        return
    if dig(args.props, "spec", "replicas") == 1:
        return
    spec = pod_spec(args.resource_type, args.props) or {}
    if not spec.get("topologySpreadConstraints") and not dig(spec, "affinity", "podAntiAffinity"):
        report(
            f"{identity(args.props)}: replicas are not spread (no podAntiAffinity or "
            "topologySpreadConstraints): one node can take them all down",
            None,
        )


spread = ResourceValidationPolicy(
    name="workloads-spread",
    description="Workloads with more than one replica spread them across nodes (advisory).",
    enforcement_level=EnforcementLevel.ADVISORY,
    validate=_spread,
)


# --- Stack rules: they need more than one resource (a PDB and its pods, an HPA and its target).


def _objects(args: StackValidationArgs) -> list[tuple[str, Mapping[str, Any], str]]:
    return [
        (r.resource_type, r.props, r.urn)
        for r in args.resources
        if r.resource_type.startswith("kubernetes:") and isinstance(r.props, Mapping)
    ]


def _namespace(props: Mapping[str, Any]) -> str:
    return str(dig(props, "metadata", "namespace") or "default")


def _workloads(
    objects: list[tuple[str, Mapping[str, Any], str]],
) -> list[tuple[str, Mapping[str, Any], str, Mapping[str, str]]]:
    """(type, props, urn, pod labels) of every object that runs pods."""
    found = []
    for typ, props, urn in objects:
        if typ in POD_TEMPLATE_PATHS or typ == POD:
            template = pod_template(typ, props) or {}
            labels = dig(template, "metadata", "labels") or {}
            found.append((typ, props, urn, labels))
    return found


def _min_replicas(
    objects: list[tuple[str, Mapping[str, Any], str]],
) -> dict[tuple[str, str, str], tuple[int, str]]:
    """(namespace, kind, name) -> the fewest replicas a scalable workload can run, and why."""
    floor: dict[tuple[str, str, str], tuple[int, str]] = {}
    for typ, props, _ in objects:
        if typ in SCALABLE:
            kind = str(props.get("kind") or typ.rsplit(":", 1)[-1])
            key = (_namespace(props), kind, str(dig(props, "metadata", "name")))
            replicas = dig(props, "spec", "replicas")
            floor.setdefault(key, (1 if replicas is None else int(replicas), "spec.replicas"))
    for typ, props, _ in objects:
        target = None
        if typ.endswith(":HorizontalPodAutoscaler"):
            target = dig(props, "spec", "scaleTargetRef")
            low = dig(props, "spec", "minReplicas")
            low, why = (
                (1 if low is None else int(low)),
                f"HPA {dig(props, 'metadata', 'name')} minReplicas",
            )
        elif typ == "kubernetes:keda.sh/v1alpha1:ScaledObject":
            target = dig(props, "spec", "scaleTargetRef")
            low = dig(props, "spec", "minReplicaCount")
            low, why = (
                (0 if low is None else int(low)),
                f"ScaledObject {dig(props, 'metadata', 'name')} minReplicaCount",
            )
        if isinstance(target, Mapping):
            key = (
                _namespace(props),
                str(target.get("kind") or "Deployment"),
                str(target.get("name")),
            )
            floor[key] = (low, why)
    return floor


def _pdb(args: StackValidationArgs, report: ReportViolation) -> None:
    objects = _objects(args)
    floors = _min_replicas(objects)
    workloads = _workloads(objects)
    for typ, props, urn in objects:
        if not typ.endswith(":PodDisruptionBudget"):
            continue
        spec = props.get("spec") or {}
        name = identity(props)
        max_unavailable = spec.get("maxUnavailable")
        min_available = spec.get("minAvailable")
        if max_unavailable in (0, "0", "0%"):
            report(f"{name}: maxUnavailable 0 blocks every drain and node upgrade", urn)
            continue
        if min_available is None:
            continue
        for _, wprops, _, labels in workloads:
            if _namespace(wprops) != _namespace(props) or not matches(spec.get("selector"), labels):
                continue
            key = (
                _namespace(wprops),
                str(wprops.get("kind")),
                str(dig(wprops, "metadata", "name")),
            )
            replicas, why = floors.get(key, (1, "a single pod"))
            if isinstance(min_available, str) and min_available.endswith("%"):
                needed = math.ceil(replicas * float(min_available[:-1]) / 100)
            else:
                needed = int(min_available)
            if needed >= replicas:
                report(
                    f"{name}: minAvailable {min_available} of {identity(wprops)}'s {replicas} "
                    f"replicas ({why}) allows no disruption; use maxUnavailable: 1",
                    urn,
                )


pdb = StackValidationPolicy(
    name="pdb-allows-disruption",
    description="Every PodDisruptionBudget lets at least one pod go at the workload's minimum "
    "replica count, so nodes can be drained and upgraded.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_pdb,
)


def _replicas(args: StackValidationArgs, report: ReportViolation) -> None:
    config = args.get_config()
    minimum = int(config_value(config, "minReplicas", 1))
    exempt: Mapping[str, str] = config_value(config, "exempt", {})
    objects = _objects(args)
    urns = {
        (_namespace(props), str(props.get("kind")), str(dig(props, "metadata", "name"))): urn
        for typ, props, urn in objects
        if typ in SCALABLE
    }
    for key, (replicas, why) in sorted(_min_replicas(objects).items()):
        namespace, kind, name = key
        if key not in urns or replicas >= minimum:
            continue
        if f"{namespace}/{name}" in exempt or name in exempt:
            continue
        report(
            f"{kind} {namespace}/{name} can run {replicas} replica(s) ({why}); this stack needs "
            f"at least {minimum} (or an entry in exempt with the reason)",
            urns[key],
        )


replicas = StackValidationPolicy(
    name="workloads-min-replicas",
    description="Scalable workloads never run fewer replicas than the stack's minimum (counting "
    "the HPA's or KEDA's floor when one scales them); singletons are exempted by name, with a "
    "reason.",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={
            "minReplicas": {"type": "integer", "minimum": 1, "default": 1},
            "exempt": {
                "type": "object",
                "additionalProperties": {"type": "string", "minLength": 1},
                "default": {},
                "description": "name or namespace/name -> why it may run one replica",
            },
        }
    ),
    validate=_replicas,
)


def _covered(policies: list[Mapping[str, Any]], labels: Mapping[str, str], direction: str) -> bool:
    for spec in policies:
        types = spec.get("policyTypes") or (
            ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]
        )
        if direction in types and matches(spec.get("podSelector"), labels):
            return True
    return False


def _network_policies(args: StackValidationArgs, report: ReportViolation) -> None:
    objects = _objects(args)
    by_namespace: dict[str, list[Mapping[str, Any]]] = {}
    for typ, props, _ in objects:
        if typ == "kubernetes:networking.k8s.io/v1:NetworkPolicy":
            by_namespace.setdefault(_namespace(props), []).append(props.get("spec") or {})
    for _, props, urn, labels in _workloads(objects):
        policies = by_namespace.get(_namespace(props), [])
        missing = [d for d in ("Ingress", "Egress") if not _covered(policies, labels, d)]
        if missing:
            report(
                f"{identity(props)}: no NetworkPolicy selects its pods for "
                f"{' and '.join(missing)}: they accept or reach anything",
                urn,
            )


network_policies = StackValidationPolicy(
    name="networkpolicy-covers-workloads",
    description="Every workload's pods are selected by a NetworkPolicy for ingress and for "
    "egress in their namespace (default deny plus what the service catalogue allows).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_network_policies,
)

POLICIES = [
    pod_security,
    requests_limits,
    probes,
    images_pinned,
    images_registries,
    read_only_root,
    services,
    spread,
    pdb,
    replicas,
    network_policies,
]
