"""Kubernetes rules: what every pod the program declares must look like, how it is exposed, and
how it is kept available.

Every pod-bearing kind is inspected through `_util.pods`-style helpers whatever its API version
(Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob,
Rollout, KEDA ScaledJob), and its `...Patch` form (server-side apply with `patchForce` can take
over any field of an existing object): a patch is held to what it sets, never to what it leaves
out. A Helm release reaches CrossGuard as one `helm.sh/v3:Release` whose objects the pack cannot
see; what the program sets in its values is walked for the same settings (`helm_values`), and
the charts' own defaults are checked against each chart's schema by the offline suite.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterator, Mapping, Optional

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
    POD_TEMPLATE_PATHS,
    SCALABLE,
    Notes,
    Unknown,
    canonical,
    config_value,
    containers,
    dig,
    identity,
    items,
    kind,
    mapping,
    matches,
    plain,
    pod_spec,
    pod_template,
    text,
)

HELM = {"kubernetes:helm.sh:Release", "kubernetes:helm.sh:Chart"}
SERVICE = "kubernetes:core:Service"
NAMESPACE = "kubernetes:core:Namespace"

# Pod Security Standards, "restricted" profile
# (kubernetes.io/docs/concepts/security/pod-security-standards, v1.33).
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
# Baseline "SELinux": type unset or one of these; user and role unset. spc_t ("super privileged
# container") is unconfined.
SELINUX_TYPES = {"container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
# Baseline "AppArmor": the field (1.30+) or the beta annotation, RuntimeDefault/Localhost only.
APPARMOR_OK = {"RuntimeDefault", "Localhost"}
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
PSA_LEVELS = {"restricted": 2, "baseline": 1, "privileged": 0}


def _context_problems(context: Mapping[str, Any], where: str) -> list[str]:
    """SELinux, AppArmor and Windows host-process settings of a pod or container context."""
    problems = []
    selinux = mapping(context.get("seLinuxOptions"))
    if selinux.get("type") not in (None, "", *SELINUX_TYPES):
        problems.append(f"{where}seLinuxOptions.type {text(selinux.get('type'))!r}")
    for field in ("user", "role"):
        if selinux.get(field) not in (None, ""):
            problems.append(f"{where}seLinuxOptions.{field} is set")
    apparmor = dig(context, "appArmorProfile", "type")
    if apparmor is not None and apparmor not in APPARMOR_OK:
        problems.append(f"{where}appArmorProfile {text(apparmor)!r}")
    if dig(context, "windowsOptions", "hostProcess"):
        problems.append(f"{where}windowsOptions.hostProcess")
    return problems


def _pod_level_problems(spec: Mapping[str, Any], meta: Mapping[str, Any]) -> list[str]:
    problems = [f"spec.{f} is true" for f in ("hostNetwork", "hostPID", "hostIPC") if spec.get(f)]
    for volume in items(spec.get("volumes")):
        kinds = set(mapping(volume)) - ALLOWED_VOLUMES
        if kinds or not isinstance(volume, Mapping):
            problems.append(
                f"volume {text(mapping(volume).get('name'))!r} is {', '.join(sorted(kinds))} "
                f"(allowed: {', '.join(sorted(ALLOWED_VOLUMES - {'name'}))})"
            )
    pod = mapping(spec.get("securityContext"))
    for sysctl in items(pod.get("sysctls")):
        if mapping(sysctl).get("name") not in SAFE_SYSCTLS:
            problems.append(f"sysctl {text(mapping(sysctl).get('name'))!r} is not in the safe set")
    problems += _context_problems(pod, "pod ")
    for key, value in mapping(meta.get("annotations")).items():
        if key.startswith(APPARMOR_ANNOTATION) and not (
            value == "runtime/default" or str(value).startswith("localhost/")
        ):
            problems.append(f"annotation {key}: {text(value)}")
    return problems


def _privilege_problems(own: Mapping[str, Any], strict: bool) -> list[str]:
    problems = []
    if own.get("privileged"):
        problems.append("privileged")
    escalation = own.get("allowPrivilegeEscalation")
    if escalation is not False and (strict or escalation is not None):
        problems.append("allowPrivilegeEscalation is not false")
    caps = mapping(own.get("capabilities"))
    drop = caps.get("drop")
    if strict and "ALL" not in items(drop):
        problems.append("capabilities.drop does not include ALL")
    added = caps.get("add")
    extra = {text(c) for c in items(added)} - {"NET_BIND_SERVICE"}
    if extra or isinstance(added, Unknown):
        problems.append(f"adds capabilities {', '.join(sorted(extra)) or text(added)}")
    if own.get("procMount", "Default") != "Default":
        problems.append(f"procMount {text(own.get('procMount'))!r}")
    return problems


def _identity_problems(own: Mapping[str, Any], pod: Mapping[str, Any], strict: bool) -> list[str]:
    """runAsNonRoot, runAsUser and seccomp: the container's setting, else the pod's."""
    problems = []
    non_root = own.get("runAsNonRoot", pod.get("runAsNonRoot"))
    if non_root is not True and (strict or non_root is not None):
        problems.append("runAsNonRoot is not true (pod or container)")
    if own.get("runAsUser", pod.get("runAsUser")) == 0 or isinstance(
        own.get("runAsUser", pod.get("runAsUser")), Unknown
    ):
        problems.append(f"runAsUser is {text(own.get('runAsUser', pod.get('runAsUser')))}")
    seccomp = dig(own, "seccompProfile", "type") or dig(pod, "seccompProfile", "type")
    if seccomp not in SECCOMP_OK and (strict or seccomp is not None):
        problems.append(f"seccompProfile is {seccomp or 'unset'} (RuntimeDefault or Localhost)")
    return problems


def restricted_problems(
    spec: Mapping[str, Any], meta: Optional[Mapping[str, Any]] = None, strict: bool = True
) -> list[str]:
    """Every way `spec` breaks the restricted Pod Security Standard. Not `strict` (a patch):
    only what it sets is judged, a field it leaves out stays as the object has it."""
    problems = _pod_level_problems(spec, meta or {})
    pod = mapping(spec.get("securityContext"))
    for where, container in containers(spec):
        own = mapping(container.get("securityContext"))
        found = _privilege_problems(own, strict) + _identity_problems(own, pod, strict)
        found += _context_problems(own, "")
        found += [
            f"hostPort {text(mapping(p).get('hostPort'))}"
            for p in items(container.get("ports"))
            if mapping(p).get("hostPort")
        ]
        problems += [f"{where}: {problem}" for problem in found]
    return problems


def _workload(
    args: ResourceValidationArgs,
) -> tuple[Mapping[str, Any], Optional[Mapping[str, Any]]]:
    """The resource's plain properties and the pod spec it runs or patches (None if none)."""
    props = plain(args.props)
    return props, pod_spec(args.resource_type, props)


# --- Helm values the program sets: the same settings, wherever a chart keeps them.

_DANGEROUS_TRUE = ("privileged", "hostNetwork", "hostPID", "hostIPC", "allowPrivilegeEscalation")


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) of every entry of nested values."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            where = f"{path}.{key}" if path else str(key)
            yield where, str(key), child
            yield from _walk(child, where)
    elif isinstance(value, list):
        for number, child in enumerate(value):
            yield from _walk(child, f"{path}[{number}]")


def _helm_pod_problem(where: str, key: str, value: Any) -> Optional[str]:
    if key in _DANGEROUS_TRUE and (value is True or isinstance(value, Unknown)):
        return f"values {where}: {text(value)}"
    if (key == "runAsNonRoot" and value is False) or (key == "runAsUser" and value == 0):
        return f"values {where}: {text(value)}"
    if key == "hostPath" and value:
        return f"values {where}: a hostPath volume"
    if key in ("seccompProfile", "appArmorProfile") and mapping(value).get("type") == "Unconfined":
        return f"values {where}.type: Unconfined"
    if key == "seLinuxOptions" and mapping(value).get("type") not in (None, "", *SELINUX_TYPES):
        return f"values {where}.type: {text(mapping(value).get('type'))}"
    if key == "capabilities":
        extra = {text(c) for c in items(mapping(value).get("add"))} - {"NET_BIND_SERVICE"}
        if extra:
            return f"values {where}.add: {', '.join(sorted(extra))}"
    return None


def helm_pod_problems(values: Any) -> list[str]:
    """Settings in a release's values that would make a pod privileged, wherever they sit."""
    found = (_helm_pod_problem(where, key, value) for where, key, value in _walk(values))
    return [problem for problem in found if problem]


def _pod_security(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props, spec = _workload(args)
    if kind(args.resource_type) in HELM:
        for problem in helm_pod_problems(props.get("values")):
            report(f"Helm release {text(props.get('name'))}: {problem}", None)
        return
    if spec is None:
        return
    template = pod_template(args.resource_type, props) or {}
    strict = not canonical(args.resource_type).patch
    for problem in restricted_problems(spec, mapping(template.get("metadata")), strict):
        report(f"{identity(props)}: {problem}", None)


pod_security = ResourceValidationPolicy(
    name="pods-restricted-security",
    description="Every pod meets the restricted Pod Security Standard (non-root, no privilege "
    "escalation, all capabilities dropped, RuntimeDefault seccomp, confined SELinux and "
    "AppArmor, no host namespaces or paths), in every kind that runs or patches one and in the "
    "Helm values the program sets.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_pod_security,
)


def _requests_limits(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props, spec = _workload(args)
    if spec is None or canonical(args.resource_type).patch:
        return  # a patch keeps the object's resources where it sets none
    cpu_limit = bool(config_value(args.get_config(), "requireCpuLimit", False))
    for where, container in containers(spec, init=True):
        if where.startswith("ephemeralContainers"):
            continue  # debug containers take no resources field
        resources = mapping(container.get("resources"))
        needed = [("requests", "cpu"), ("requests", "memory"), ("limits", "memory")]
        if cpu_limit:
            needed.append(("limits", "cpu"))
        missing = [f"{a}.{b}" for a, b in needed if not dig(resources, a, b)]
        if missing:
            report(f"{identity(props)}: {where} sets no {', '.join(missing)}", None)


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
    if kind(args.resource_type) not in LONG_RUNNING or canonical(args.resource_type).patch:
        return
    props, spec = _workload(args)
    if spec is None:
        return
    for where, container in containers(spec, init=False):
        missing = [p for p in ("readinessProbe", "livenessProbe") if not container.get(p)]
        if missing:
            report(f"{identity(props)}: {where} has no {' or '.join(missing)}", None)


probes = ResourceValidationPolicy(
    name="containers-probes",
    description="Every container of a long-running workload has a readiness and a liveness probe "
    "(rollouts, Services and the provider's await all go by readiness).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_probes,
)

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# A tag names a release when it carries at least major.minor (1.27.3, v0.20.1, 16.10-alpine);
# `1`, `v2`, `1-alpine`, `stable`, `mainline`, `latest` move to whatever is released next.
_VERSIONED_TAG = re.compile(r"(^|[^0-9])v?\d+\.\d+")


def tag_problem(tag: Any) -> Optional[str]:
    """Why an image tag (without repository) moves, or None."""
    if not isinstance(tag, str) or not tag:
        return f"tag {text(tag)!r} is empty or unknown"
    if tag == "latest":
        return "uses the latest tag"
    if not _VERSIONED_TAG.search(tag):
        return f"tag {tag!r} is mutable (it names no major.minor release)"
    return None


def image_problem(image: Any) -> Optional[str]:
    """Why an image reference is not pinned (a release tag, or a digest), or None."""
    if not isinstance(image, str) or not image:
        return f"image {text(image)!r} is empty or unknown"
    if "@" in image:
        return None if _DIGEST.search(image) else f"image {image!r} has a malformed digest"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag (it means :latest)"
    problem = tag_problem(last.rsplit(":", 1)[1])
    return f"image {image!r}: {problem}" if problem else None


def helm_image_problems(values: Any) -> list[str]:
    """Image references and tags in a release's values that move."""
    found = []
    for where, key, value in _walk(values):
        if key == "image" and isinstance(value, str) and ":" in value.rsplit("/", 1)[-1]:
            problem = image_problem(value)
        elif key == "tag" and "image" in where.lower() and value not in (None, ""):
            problem = tag_problem(value)  # "" means the chart's appVersion, pinned with it
        else:
            continue
        if problem:
            found.append(f"values {where}: {problem}")
    return found


def _images(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props, spec = _workload(args)
    if kind(args.resource_type) in HELM:
        for problem in helm_image_problems(props.get("values")):
            report(f"Helm release {text(props.get('name'))}: {problem}", None)
        return
    if spec is None:
        return
    for where, container in containers(spec):
        if canonical(args.resource_type).patch and "image" not in container:
            continue
        image = image_problem(container.get("image"))
        if image:
            report(f"{identity(props)}: {where}: {image}; pin a release or digest", None)


images_pinned = ResourceValidationPolicy(
    name="images-pinned",
    description="Every container image names a release tag (at least major.minor) or a digest, "
    "never latest or a moving tag such as stable or 1 (a restart must not change what runs).",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_images,
)


def _registries(args: ResourceValidationArgs, report: ReportViolation) -> None:
    allowed = [r.rstrip("/") + "/" for r in config_value(args.get_config(), "registries", [])]
    props, spec = _workload(args)
    if spec is None or not allowed:
        return
    for where, container in containers(spec):
        image = str(container.get("image") or "")
        if not any(image.startswith(prefix) for prefix in allowed):
            report(
                f"{identity(props)}: {where}: image {image!r} is not from {', '.join(allowed)}",
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
    props, spec = _workload(args)
    if spec is None or canonical(args.resource_type).patch:
        return
    for where, container in containers(spec, init=True):
        if where.startswith("ephemeralContainers"):
            continue
        if dig(container, "securityContext", "readOnlyRootFilesystem") is not True:
            report(f"{identity(props)}: {where}: root filesystem is writable", None)


read_only_root = ResourceValidationPolicy(
    name="containers-read-only-root",
    description="Containers run with a read-only root filesystem and write only to declared "
    "volumes (advisory).",
    enforcement_level=EnforcementLevel.ADVISORY,
    validate=_read_only_root,
)


# --- Exposure.

EXPOSED_TYPES = ("LoadBalancer", "NodePort")


def helm_service_problems(values: Any) -> list[str]:
    """Service types and external IPs a release's values ask for (`service.type`, ...)."""
    found = []
    for where, key, value in _walk(values):
        if "service" not in where.lower():
            continue
        if key == "type" and (value in EXPOSED_TYPES or isinstance(value, Unknown)):
            found.append(f"values {where}: {text(value)}")
        elif key == "externalIPs" and value:
            found.append(f"values {where}: {text(value)}")
    return found


def _service_problems(props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    spec = mapping(props.get("spec"))
    service_type = spec.get("type") or "ClusterIP"
    meta = mapping(props.get("metadata"))
    key = f"{text(meta.get('namespace') or 'default')}/{text(meta.get('name'))}"
    problems = []
    if service_type not in ("ClusterIP", "ExternalName", *EXPOSED_TYPES):
        problems.append(f"type {text(service_type)} (unknown types fail closed)")
    if service_type == "LoadBalancer" and key not in config_value(
        config, "allowedLoadBalancers", []
    ):
        problems.append(
            "is a LoadBalancer: only the gateway's proxies are exposed (route through the "
            "Gateway, or list the Service in allowedLoadBalancers)"
        )
    if service_type == "NodePort" and not config_value(config, "allowNodePort", False):
        problems.append("is a NodePort: it opens a port on every node")
    if spec.get("externalIPs"):
        problems.append(
            f"sets externalIPs {text(spec.get('externalIPs'))}: a way in past the Gateway"
        )
    return problems


def _services(args: ResourceValidationArgs, report: ReportViolation) -> None:
    token = kind(args.resource_type)
    props = plain(args.props)
    if token in HELM:
        for problem in helm_service_problems(props.get("values")):
            report(f"Helm release {text(props.get('name'))}: {problem}", None)
    elif token == SERVICE:
        for problem in _service_problems(props, args.get_config()):
            report(f"{identity(props)} {problem}", None)


services = ResourceValidationPolicy(
    name="services-no-load-balancer",
    description="No LoadBalancer or NodePort Service and no external IPs besides the gateway: "
    "traffic enters through the Gateway (or ingress controller) only, with its TLS and rate "
    "limits; Service patches and Helm values included.",
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

GATEWAY = "kubernetes:gateway.networking.k8s.io:Gateway"


def _gateways(args: StackValidationArgs, report: ReportViolation) -> None:
    gateways = [r for r in args.resources if kind(r.resource_type) == GATEWAY]
    if len(gateways) > 1:
        names = ", ".join(identity(plain(r.props)) for r in gateways)
        for resource in gateways:
            report(
                f"{len(gateways)} Gateways ({names}): each gets its own cloud load balancer; "
                "the stack has one way in (add listeners to it instead)",
                resource.urn,
            )


gateways = StackValidationPolicy(
    name="gateways-one-entry",
    description="A stack declares at most one Gateway: under Envoy Gateway each Gateway is its "
    "own LoadBalancer Service, so a second one is a second way in.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_gateways,
)


def _spread(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if kind(args.resource_type) not in SCALABLE or canonical(args.resource_type).patch:
        return
    props, spec = _workload(args)
    if dig(props, "spec", "replicas") == 1:
        return
    spec = spec or {}
    if not spec.get("topologySpreadConstraints") and not dig(spec, "affinity", "podAntiAffinity"):
        report(
            f"{identity(props)}: replicas are not spread (no podAntiAffinity or "
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
# Each resource is judged on its own: one whose deciding values are unknown at preview is noted
# (`Notes`) and the others are still judged, the note raised after every violation.

Object = tuple[str, Mapping[str, Any], str]


def _objects(args: StackValidationArgs) -> list[Object]:
    """(canonical type, plain props, urn) of every Kubernetes object, patches included."""
    return [
        (kind(r.resource_type), plain(r.props), r.urn)
        for r in args.resources
        if r.resource_type.startswith("kubernetes:")
    ]


def _namespace(props: Mapping[str, Any]) -> Any:
    return dig(props, "metadata", "namespace") or "default"


def _workloads(objects: list[Object]) -> list[tuple[str, Mapping[str, Any], str, Any]]:
    """(type, props, urn, pod labels) of every object that runs pods."""
    found = []
    for typ, props, urn in objects:
        if typ in POD_TEMPLATE_PATHS:
            template = pod_template(typ, props) or {}
            found.append((typ, props, urn, dig(template, "metadata", "labels") or {}))
    return found


Key = tuple[Any, str, Any]


def _key(props: Mapping[str, Any], typ: str) -> Key:
    return (
        _namespace(props),
        str(props.get("kind") or typ.rsplit(":", 1)[-1]),
        dig(props, "metadata", "name"),
    )


def _scaler_floor(typ: str, props: Mapping[str, Any]) -> Optional[tuple[Any, Any, str]]:
    """(target, fewest replicas, why) of an HPA or KEDA ScaledObject, else None."""
    spec = mapping(props.get("spec"))
    name = text(dig(props, "metadata", "name"))
    if typ.endswith(":HorizontalPodAutoscaler"):
        low = spec.get("minReplicas")
        return spec.get("scaleTargetRef"), 1 if low is None else low, f"HPA {name} minReplicas"
    if typ == "kubernetes:keda.sh:ScaledObject":
        # KEDA scales to idleReplicaCount while its triggers are inactive, below minReplicaCount
        # (keda v2, apis/keda/v1alpha1/scaledobject_types.go; default minReplicaCount 0).
        idle = spec.get("idleReplicaCount")
        if idle is not None:
            return spec.get("scaleTargetRef"), idle, f"ScaledObject {name} idleReplicaCount"
        low = spec.get("minReplicaCount")
        return (
            spec.get("scaleTargetRef"),
            0 if low is None else low,
            (f"ScaledObject {name} minReplicaCount"),
        )
    return None


def _min_replicas(objects: list[Object]) -> dict[Key, tuple[Any, str]]:
    """(namespace, kind, name) -> the fewest replicas a scalable workload can run, and why; a
    patch that sets spec.replicas counts as the object's replicas."""
    floor: dict[Key, tuple[Any, str]] = {}
    for typ, props, _ in objects:
        if typ in SCALABLE:
            replicas = dig(props, "spec", "replicas")
            key = _key(props, typ)
            if key not in floor or replicas is not None:
                floor[key] = (1 if replicas is None else replicas, "spec.replicas")
    for typ, props, _ in objects:
        scaler = _scaler_floor(typ, props)
        if scaler and isinstance(scaler[0], Mapping):
            target = scaler[0]
            key = (_namespace(props), str(target.get("kind") or "Deployment"), target.get("name"))
            floor[key] = (scaler[1], scaler[2])
    return floor


def _needed(min_available: Any, replicas: int) -> int:
    if isinstance(min_available, str) and min_available.endswith("%"):
        return math.ceil(replicas * float(min_available[:-1]) / 100)
    return int(min_available)


def _pdb_one(
    props: Mapping[str, Any],
    urn: str,
    floors: dict[Key, tuple[Any, str]],
    workloads: list[tuple[str, Mapping[str, Any], str, Any]],
    report: ReportViolation,
) -> None:
    spec = mapping(props.get("spec"))
    name = identity(props)
    if spec.get("maxUnavailable") in (0, "0", "0%"):
        report(f"{name}: maxUnavailable 0 blocks every drain and node upgrade", urn)
        return
    min_available = spec.get("minAvailable")
    if min_available is None:
        return
    for typ, wprops, _, labels in workloads:
        if _namespace(wprops) != _namespace(props) or not matches(spec.get("selector"), labels):
            continue
        replicas, why = floors.get(_key(wprops, typ), (1, "a single pod"))
        if _needed(min_available, int(replicas)) >= int(replicas):
            report(
                f"{name}: minAvailable {min_available} of {identity(wprops)}'s {replicas} "
                f"replicas ({why}) allows no disruption; use maxUnavailable: 1",
                urn,
            )


def _pdb(args: StackValidationArgs, report: ReportViolation) -> None:
    objects = _objects(args)
    notes = Notes()
    floors = _min_replicas(objects)
    known = {
        k: v
        for k, v in floors.items()
        if not notes.unknown((k, v[0]), f"{k[1]} {text(k[2])} replicas")
    }
    workloads = [
        w
        for w in _workloads(objects)
        if not notes.unknown((w[1].get("metadata"), w[3]), identity(w[1]))
    ]
    for typ, props, urn in objects:
        if typ.endswith(":PodDisruptionBudget") and not notes.unknown(
            props.get("spec"), identity(props)
        ):
            _pdb_one(props, urn, known, workloads, report)
    notes.done()


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
    notes = Notes()
    urns = {_key(props, typ): urn for typ, props, urn in objects if typ in SCALABLE}
    for key, (replicas, why) in _min_replicas(objects).items():
        namespace, workload_kind, name = key
        if key not in urns or notes.unknown(key, f"{workload_kind} {text(name)}"):
            continue
        if isinstance(replicas, Unknown):
            # Fails closed: how many pods serve is unknown, so the floor cannot be shown.
            report(
                f"{workload_kind} {namespace}/{name}: replicas unknown at preview ({why})",
                urns[key],
            )
            continue
        if int(replicas) >= minimum or f"{namespace}/{name}" in exempt:
            continue
        report(
            f"{workload_kind} {namespace}/{name} can run {int(replicas)} replica(s) ({why}); this "
            f"stack needs at least {minimum} (or an exempt namespace/name entry with the reason)",
            urns[key],
        )
    notes.done()


replicas = StackValidationPolicy(
    name="workloads-min-replicas",
    description="Scalable workloads never run fewer replicas than the stack's minimum (counting "
    "the HPA's or KEDA's floor, idle count included, when one scales them); singletons are "
    "exempted by namespace/name, with a reason.",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={
            "minReplicas": {"type": "integer", "minimum": 1, "default": 1},
            "exempt": {
                "type": "object",
                "propertyNames": {
                    "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
                },
                "additionalProperties": {"type": "string", "minLength": 1},
                "default": {},
                "description": "namespace/name -> why it may run fewer replicas",
            },
        }
    ),
    validate=_replicas,
)

# A peer that selects everything: every pod of every namespace, or every address.
_EVERYWHERE: tuple[dict[str, Any], ...] = (
    {"namespaceSelector": {}},
    {"namespaceSelector": {}, "podSelector": {}},
)
_ANY_ADDRESS = {"0.0.0.0/0", "::/0"}


def _allows_all(rule: Any, peers_field: str) -> bool:
    """A NetworkPolicy rule admitting any peer on any port (`{}`, or open peers, no ports)."""
    rule = mapping(rule)
    if rule.get("ports"):
        return False
    peers = items(rule.get(peers_field))
    if not peers:
        return True
    return any(
        peer in _EVERYWHERE
        or (dig(peer, "ipBlock", "cidr") in _ANY_ADDRESS and not dig(peer, "ipBlock", "except"))
        for peer in peers
    )


def _covered(policies: list[Mapping[str, Any]], labels: Mapping[str, Any], direction: str) -> bool:
    """Whether a policy selects the pods for `direction` without allowing everything there."""
    field, peers = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for spec in policies:
        types = spec.get("policyTypes") or (
            ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]
        )
        if direction not in types or not matches(spec.get("podSelector"), labels):
            continue
        if any(_allows_all(rule, peers) for rule in items(spec.get(field))):
            return False  # policies add up: one allow-all rule opens the direction
        return True
    return False


def _network_policies(args: StackValidationArgs, report: ReportViolation) -> None:
    objects = _objects(args)
    notes = Notes()
    by_namespace: dict[Any, list[Mapping[str, Any]]] = {}
    for typ, props, _ in objects:
        if typ == "kubernetes:networking.k8s.io:NetworkPolicy":
            by_namespace.setdefault(_namespace(props), []).append(mapping(props.get("spec")))
    for _, props, urn, labels in _workloads(objects):
        if notes.unknown((_namespace(props), labels), identity(props)):
            continue
        policies = by_namespace.get(_namespace(props), [])
        missing = [d for d in ("Ingress", "Egress") if not _covered(policies, labels, d)]
        if missing:
            report(
                f"{identity(props)}: no NetworkPolicy selects its pods for "
                f"{' and '.join(missing)}: they accept or reach anything",
                urn,
            )
    notes.done()


network_policies = StackValidationPolicy(
    name="networkpolicy-covers-workloads",
    description="Every workload's pods are selected by a NetworkPolicy for ingress and for "
    "egress in their namespace (default deny plus what the service catalogue allows); a rule "
    "that allows every peer on every port is no cover.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=_network_policies,
)


def _effective_labels(args: StackValidationArgs) -> dict[Any, tuple[dict[str, Any], str]]:
    """Namespace name -> its labels once every NamespacePatch has applied its own over the
    Namespace's or the Helm-created one's (server-side apply: a patch sets the fields it
    names), and the URN to report."""
    found: dict[Any, tuple[dict[str, Any], str]] = {}
    # A Helm release with createNamespace makes its namespace with no labels at all.
    for resource in args.resources:
        props = plain(resource.props)
        if kind(resource.resource_type) in HELM and props.get("createNamespace") is True:
            found.setdefault(props.get("namespace") or "default", ({}, resource.urn))
    for patches in (False, True):
        for resource in args.resources:
            token = canonical(resource.resource_type)
            if token.token != NAMESPACE or token.patch != patches:
                continue
            props = plain(resource.props)
            name = dig(props, "metadata", "name")
            labels, first = found.get(name, ({}, resource.urn))
            found[name] = ({**labels, **mapping(dig(props, "metadata", "labels"))}, first)
    return found


def _namespace_labels(args: StackValidationArgs, report: ReportViolation) -> None:
    exempt: Mapping[str, str] = config_value(args.get_config(), "privileged", {})
    notes = Notes()
    for name, (labels, urn) in _effective_labels(args).items():
        level = labels.get("pod-security.kubernetes.io/enforce")
        if notes.unknown(name, "Namespace name") or (isinstance(name, str) and name in exempt):
            continue
        if level not in ("restricted", "baseline"):
            shown = text(level) if level is not None else "unset (the cluster default, privileged)"
            report(
                f"Namespace {text(name)}: pod-security.kubernetes.io/enforce is {shown}; set "
                "restricted (or baseline), or exempt the namespace with the reason",
                urn,
            )
    notes.done()


namespace_labels = StackValidationPolicy(
    name="namespaces-pod-security",
    description="Every Namespace the program declares, patches or has Helm create (its labels "
    "after every NamespacePatch) enforces the restricted (or baseline) Pod Security Standard; "
    "a namespace that must run privileged pods is exempted by name with the reason.",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={
            "privileged": {
                "type": "object",
                "additionalProperties": {"type": "string", "minLength": 1},
                "default": {},
                "description": "namespace name -> why its pods need more than baseline",
            }
        }
    ),
    validate=_namespace_labels,
)

POLICIES = [
    pod_security,
    requests_limits,
    probes,
    images_pinned,
    images_registries,
    read_only_root,
    services,
    gateways,
    spread,
    pdb,
    replicas,
    network_policies,
    namespace_labels,
]
