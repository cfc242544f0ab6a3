"""Reading Pulumi resource inputs as CrossGuard hands them over: read-only Mapping and Sequence
proxies (not dict and list) in the engine's (camelCase) property names, IAM documents either as
JSON text or already parsed.

Nothing here imports the program: the pack checks what the platform promises from the outside,
so it holds for any code that declares these resources.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Iterator, Mapping, Optional

# Kinds whose pod template the platform's rules apply to, and where the template sits.
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:apps/v1:Deployment": ("spec", "template"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template"),
    "kubernetes:batch/v1:Job": ("spec", "template"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template"),
    "kubernetes:argoproj.io/v1alpha1:Rollout": ("spec", "template"),
}
POD = "kubernetes:core/v1:Pod"
# Workloads that run until stopped: they must report readiness and liveness.
LONG_RUNNING = {
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:ReplicaSet",
    "kubernetes:argoproj.io/v1alpha1:Rollout",
    POD,
}
# Workloads with a replica count that can be scaled (an HPA can target them).
SCALABLE = {
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:argoproj.io/v1alpha1:Rollout",
}


def dig(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def pod_template(resource_type: str, props: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    """The pod (metadata + spec) a workload runs, or None for anything that runs no pod."""
    if resource_type == POD:
        return props
    path = POD_TEMPLATE_PATHS.get(resource_type)
    if path is None:
        return None
    template = dig(props, *path)
    return template if isinstance(template, Mapping) else None


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    template = pod_template(resource_type, props)
    spec = dig(template, "spec")
    return spec if isinstance(spec, Mapping) else None


def containers(
    spec: Mapping[str, Any], init: bool = True
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(`containers[name]`-style label, container) for every container the pod starts."""
    fields = ("initContainers", "containers", "ephemeralContainers") if init else ("containers",)
    for field in fields:
        for container in spec.get(field) or []:
            if isinstance(container, Mapping):
                yield f"{field}[{container.get('name', '?')}]", container


def identity(props: Mapping[str, Any]) -> str:
    """`Kind namespace/name` of a Kubernetes object, for messages."""
    meta = props.get("metadata") or {}
    namespace = meta.get("namespace")
    name = meta.get("name", "?")
    return f"{props.get('kind', '?')} {namespace + '/' if namespace else ''}{name}"


def matches(selector: Optional[Mapping[str, Any]], labels: Mapping[str, str]) -> bool:
    """Kubernetes label selector semantics (an empty selector selects everything)."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def document(value: Any) -> Optional[Mapping[str, Any]]:
    """An IAM policy document given as JSON text or as an object; None when it is neither."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, Mapping) else None


def as_list(value: Any) -> list[Any]:
    """A value or a list of values as a list. CrossGuard hands lists over as read-only
    Sequence proxies (pulumi_policy.proxy), not as `list`."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return list(value)
    return [value]


def statements(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in as_list(doc.get("Statement")) if isinstance(s, Mapping)]


DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
SERVICE_ACCOUNT_SUBJECT = re.compile(
    r"^system:serviceaccount:(?P<namespace>[^:]+):(?P<name>[^:]+)$"
)


def subject_problem(subject: Any) -> Optional[str]:
    """Why `subject` does not name one ServiceAccount (system:serviceaccount:<ns>:<name>)."""
    if not isinstance(subject, str):
        return f"subject {subject!r} is not a string"
    found = SERVICE_ACCOUNT_SUBJECT.match(subject)
    if not found:
        return f"subject {subject!r} is not system:serviceaccount:<namespace>:<name>"
    if not DNS_LABEL.match(found.group("namespace")):
        return (
            f"subject {subject!r}: namespace {found.group('namespace')!r} is not a Kubernetes name"
        )
    if not DNS_SUBDOMAIN.match(found.group("name")):
        return f"subject {subject!r}: account {found.group('name')!r} is not a Kubernetes name"
    return None


def config_value(config: Mapping[str, Any], key: str, default: Any) -> Any:
    value = config.get(key)
    return default if value is None else value
