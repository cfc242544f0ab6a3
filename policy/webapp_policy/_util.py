"""Reading Pulumi resource inputs as CrossGuard hands them over, and the three mechanisms every
rule goes through:

- `canonical(token)`: one name per kind of resource whatever API version or style declares it
  (`azure-native:keyvault/v20230701:Vault` is `azure-native:keyvault:Vault`;
  `kubernetes:apps/v1:DeploymentPatch` is `kubernetes:apps:Deployment`, a patch);
- `plain(props)`: the analyzer's read-only proxies (pulumi_policy/proxy.py) turned into plain
  data in which a value unknown at preview is an `Unknown`, so that reading one never aborts a
  policy (the analyzer turns an escaped `UnknownValueError` into one advisory note for the whole
  policy, dropping every violation not yet reported: pulumi_policy/policy.py, `Analyze` and
  `AnalyzeStack`, pulumi-policy 1.x);
- `pods(token, props)`: every pod a resource runs or patches, for every pod-bearing kind.

Unknowns, per resource: a value that decides a security question (is the pod privileged, is the
database public) and is unknown fails closed (`Unknown` is truthy and equals nothing, so a check
that it is the safe value fails). A reference to another resource (a key ARN, a role scope, a
policy document built from ARNs) that is unknown cannot be judged at preview: the rule notes it
with `Notes` and raises one `UnknownValueError` *after* reporting everything else, so the engine
adds its advisory note without losing a violation; `pulumi up` checks the resolved value again
before it creates the resource.

Nothing here imports the program: the pack checks what the platform promises from the outside,
so it holds for any code that declares these resources.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Optional

from pulumi_policy.proxy import (
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
    _DictProxy,
    _is_unknown,
    _ListProxy,
)

# --- Type tokens.

_VERSION = re.compile(r"^v\d+(?:(?:alpha|beta|preview)\d*)?$|^v\d{8}(?:preview)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Kind:
    """A resource type token reduced to what decides the rules."""

    token: str
    """the canonical token: `kubernetes:<group>:<Kind>` (core for the core group), or the cloud
    token without an API version segment"""
    patch: bool
    """a Kubernetes `...Patch` resource (server-side apply of some fields of an existing object)"""


def canonical(token: str) -> Kind:
    """`token` without API versions and the `Patch` suffix (which is returned apart)."""
    parts = token.split(":")
    if len(parts) != 3:
        return Kind(token, False)
    provider, module, name = parts
    if provider == "kubernetes":
        patch = name.endswith("Patch") and name != "Patch"
        group = module.split("/")[0] if "/" in module else module
        if group in ("", "v1"):
            group = "core"
        return Kind(f"kubernetes:{group}:{name[:-5] if patch else name}", patch)
    if provider == "azure-native":
        # azure-native:keyvault/v20230701:Vault, azure-native:keyvault/v20240401preview:Vault
        pieces = [p for p in module.split("/") if not _VERSION.match(p)]
        return Kind(f"azure-native:{'/'.join(pieces)}:{name}", False)
    return Kind(token, False)


def kind(token: str) -> str:
    return canonical(token).token


# --- Unknowns.


class Unknown:
    """A value the engine does not know during preview (it is an output of a resource that does
    not exist yet). Truthy and equal to nothing, so a check for a safe value fails closed."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return hash(("unknown", self.path))

    def __repr__(self) -> str:
        return f"<unknown at preview: {self.path or '.'}>"

    __str__ = __repr__


def plain(value: Any, path: str = "") -> Any:
    """`value` (the analyzer's proxies, or plain data) as dicts and lists, unknowns as `Unknown`."""
    if isinstance(value, (_DictProxy, _ListProxy)):
        value = value["__target"]
    if isinstance(value, Mapping):
        return {str(k): plain(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if _is_unknown(value):
        return Unknown(path)
    return value


class Notes:
    """Unknown references a rule could not judge at preview; `done()` raises them as the one
    `UnknownValueError` the analyzer turns into an advisory note, after every violation was
    reported."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def unknown(self, value: Any, where: str) -> bool:
        """True (and noted) when `value` is, or holds, an unknown."""
        if has_unknown(value):
            self.paths.append(where)
            return True
        return False

    def done(self) -> None:
        if self.paths:
            raise UnknownValueError(UNKNOWN_STRING_VALUE, [", ".join(self.paths)])


def has_unknown(value: Any) -> bool:
    if isinstance(value, Unknown):
        return True
    if isinstance(value, Mapping):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_unknown(v) for v in value)
    return False


# --- Reading.


def dig(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[Any]:
    """A list field, or [] when it is absent or not a list (an unknown list is judged by the
    rule that reads it, through `has_unknown` on its parent)."""
    return list(value) if isinstance(value, list) else []


def text(value: Any) -> str:
    """A name for messages: `?` when absent, the unknown marker when unknown."""
    return "?" if value is None else str(value)


def identity(props: Mapping[str, Any]) -> str:
    """`Kind namespace/name` of a Kubernetes object, for messages (any of them may be unknown)."""
    meta = mapping(props.get("metadata"))
    namespace = meta.get("namespace")
    prefix = f"{text(namespace)}/" if namespace else ""
    return f"{text(props.get('kind'))} {prefix}{text(meta.get('name'))}"


# --- Pods.

# Where each pod-bearing kind keeps the pod it runs (canonical kinds).
POD = "kubernetes:core:Pod"
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    POD: (),
    "kubernetes:apps:Deployment": ("spec", "template"),
    "kubernetes:apps:StatefulSet": ("spec", "template"),
    "kubernetes:apps:DaemonSet": ("spec", "template"),
    "kubernetes:apps:ReplicaSet": ("spec", "template"),
    "kubernetes:extensions:Deployment": ("spec", "template"),
    "kubernetes:extensions:DaemonSet": ("spec", "template"),
    "kubernetes:extensions:ReplicaSet": ("spec", "template"),
    "kubernetes:core:ReplicationController": ("spec", "template"),
    "kubernetes:core:PodTemplate": ("template",),
    "kubernetes:batch:Job": ("spec", "template"),
    "kubernetes:batch:CronJob": ("spec", "jobTemplate", "spec", "template"),
    "kubernetes:argoproj.io:Rollout": ("spec", "template"),
    # KEDA ScaledJob: spec.jobTargetRef is a batch/v1 JobSpec (keda v2, apis/keda/v1alpha1/
    # scaledjob_types.go: `JobTargetRef *batchv1.JobSpec`).
    "kubernetes:keda.sh:ScaledJob": ("spec", "jobTargetRef", "template"),
}
# Workloads that run until stopped: they must report readiness and liveness.
LONG_RUNNING = {
    POD,
    "kubernetes:apps:Deployment",
    "kubernetes:apps:StatefulSet",
    "kubernetes:apps:DaemonSet",
    "kubernetes:apps:ReplicaSet",
    "kubernetes:extensions:Deployment",
    "kubernetes:extensions:DaemonSet",
    "kubernetes:extensions:ReplicaSet",
    "kubernetes:core:ReplicationController",
    "kubernetes:argoproj.io:Rollout",
}
# Workloads with a replica count (spec.replicas; an HPA or KEDA can scale them).
SCALABLE = {
    "kubernetes:apps:Deployment",
    "kubernetes:apps:StatefulSet",
    "kubernetes:apps:ReplicaSet",
    "kubernetes:extensions:Deployment",
    "kubernetes:extensions:ReplicaSet",
    "kubernetes:core:ReplicationController",
    "kubernetes:argoproj.io:Rollout",
}


def pod_template(token: str, props: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    """The pod (metadata + spec) a resource runs or patches, or None for anything that runs no
    pod. A whole template that is unknown fails closed: it is returned as an empty pod."""
    path = POD_TEMPLATE_PATHS.get(kind(token))
    if path is None:
        return None
    template = dig(props, *path)
    if isinstance(template, Unknown):
        return {"spec": {"containers": [{"name": str(template), "image": template}]}}
    return template if isinstance(template, Mapping) else None


def pod_spec(token: str, props: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    """The pod spec of `pod_template`; a patch without one patches no pod field."""
    template = pod_template(token, props)
    if template is None:
        return None
    spec = template.get("spec")
    if isinstance(spec, Mapping):
        return spec
    if isinstance(spec, Unknown) or not canonical(token).patch:
        return {"containers": [{"name": str(spec), "image": spec}]} if spec else {}
    return None


def containers(
    spec: Mapping[str, Any], init: bool = True
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(`containers[name]`-style label, container) for every container the pod starts; an
    unknown container list or container fails closed as a container with nothing set."""
    fields = ("initContainers", "containers", "ephemeralContainers") if init else ("containers",)
    for field in fields:
        listed = spec.get(field)
        if isinstance(listed, Unknown):
            yield f"{field}[{listed}]", {"image": listed}
            continue
        for container in items(listed):
            if isinstance(container, Mapping):
                yield f"{field}[{text(container.get('name'))}]", container
            elif isinstance(container, Unknown):
                yield f"{field}[{container}]", {"image": container}


def matches(selector: Any, labels: Mapping[str, Any]) -> bool:
    """Kubernetes label selector semantics (an empty selector selects everything)."""
    if not isinstance(selector, Mapping):
        return False
    for key, value in mapping(selector.get("matchLabels")).items():
        if labels.get(key) != value:
            return False
    for expression in items(selector.get("matchExpressions")):
        key, operator = expression.get("key"), expression.get("operator")
        values = items(expression.get("values"))
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


# --- IAM documents and names.


def document(value: Any) -> Optional[Mapping[str, Any]]:
    """An IAM policy document given as JSON text or as an object; None when it is neither."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, Mapping) else None


def as_list(value: Any) -> list[Any]:
    """A value or a list of values as a list."""
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
