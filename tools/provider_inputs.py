"""Check every non-Kubernetes resource's inputs, at any depth, against its provider's schema.

The providers' Python SDKs (pinned in requirements.txt) are generated from their package schemas
(`schema.json` of pulumi-aws, pulumi-azure-native, pulumi-random, pulumi-kubernetes): each
resource's `<Name>Args` and every nested `...Args` input type carries the schema's property
names (`@pulumi.getter(name=...)`), types and enums, and its constructor the required inputs. So
the SDK installed for the pinned version is the simpler, exact source, read here directly rather
than a vendored copy of the multi-megabyte schemas. Mocks accept any nested dict or string; this
refuses what the provider would: an unknown property, a wrong type, a value outside a closed enum,
a missing required input. (Kubernetes objects are checked by `tools.validate`; of the Kubernetes
provider's own resources, the Helm release is checked here.)
"""

from __future__ import annotations

import collections.abc
import enum
import functools
import importlib
import inspect
import sys
import typing
from typing import Any, Optional

from .offline import Registered, normalise

PACKAGES = {
    "aws": "pulumi_aws",
    "azure-native": "pulumi_azure_native",
    "random": "pulumi_random",
    "kubernetes": "pulumi_kubernetes",
}
CHECKED_KUBERNETES = ("kubernetes:helm.sh/v3:Release",)


def args_class(token: str) -> Optional[type]:
    """The SDK's `<Name>Args` for a resource type token (None: not a provider resource)."""
    package, module, name = token.split(":")
    if package not in PACKAGES or package == "pulumi":
        return None
    if package == "kubernetes" and token not in CHECKED_KUBERNETES:
        return None
    path = module.split("/")[0]
    parts = [PACKAGES[package]]
    if package == "kubernetes":
        parts += module.replace(".sh", "").split("/")
    elif path != "index":
        parts.append(path)
    found: Optional[type] = getattr(importlib.import_module(".".join(parts)), f"{name}Args", None)
    return found


@functools.cache
def properties(cls: type) -> dict[str, tuple[str, Any]]:
    """Schema name -> (Python name, annotation) of an input type's properties."""
    found = {}
    for attribute, value in vars(cls).items():
        getter = getattr(value, "fget", None)
        name = getattr(getter, "_pulumi_name", None)
        if name:
            found[name] = (attribute, getter.__annotations__.get("return"))
    return found


@functools.cache
def required(cls: type) -> set[str]:
    """Schema names of the inputs the constructor requires."""
    names = {python: schema for schema, (python, _) in properties(cls).items()}
    signature = inspect.signature(cls.__init__)  # type: ignore[misc]
    return {
        names[parameter]
        for parameter, spec in signature.parameters.items()
        if spec.default is inspect.Parameter.empty
        and parameter in names
        and spec.kind == inspect.Parameter.KEYWORD_ONLY
    }


def _resolve(annotation: Any, module: str) -> Any:
    if isinstance(annotation, typing.ForwardRef):
        name = annotation.__forward_arg__
        if name.startswith("Output"):
            return None
        return vars(sys.modules[module]).get(name.split(".")[-1])
    return annotation


def _choices(annotation: Any, module: str) -> list[Any]:
    """The types a value may have, Awaitable/Output/None wrappers removed."""
    annotation = _resolve(annotation, module)
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        found = []
        for member in typing.get_args(annotation):
            if typing.get_origin(member) is collections.abc.Awaitable or member is type(None):
                continue
            found += _choices(member, module)
        return found
    return [] if annotation is None else [annotation]


def check(value: Any, annotation: Any, module: str, path: str) -> list[str]:
    """Problems of one value against the SDK type (an empty list: it fits)."""
    choices = _choices(annotation, module)
    if not choices or Any in choices or value is None:
        return []
    errors: list[list[str]] = []
    for choice in choices:
        found = _check_one(value, choice, module, path)
        if not found:
            return []
        errors.append(found)
    return min(errors, key=len)


def _check_one(value: Any, choice: Any, module: str, path: str) -> list[str]:
    if inspect.isclass(choice) and getattr(choice, "_pulumi_input_type", False):
        if not isinstance(value, dict):
            return [f"{path}: expected an object ({choice.__name__})"]
        return check_object(value, choice, path)
    if inspect.isclass(choice) and issubclass(choice, enum.Enum):
        # A closed enum; an extensible one (`Union[str, Enum]`: RDS instance classes, Azure SKU
        # names) also accepts any string, as the provider does.
        allowed = [member.value for member in choice]
        return [] if value in allowed else [f"{path}: {value!r} is not one of {allowed}"]
    if typing.get_origin(choice) is not None:
        return _check_collection(value, choice, module, path)
    return _check_scalar(value, choice, path)


def _check_collection(value: Any, choice: Any, module: str, path: str) -> list[str]:
    origin, arguments = typing.get_origin(choice), typing.get_args(choice)
    if origin in (list, collections.abc.Sequence):
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [
            error
            for index, item in enumerate(value)
            for error in check(item, arguments[0], module, f"{path}[{index}]")
        ]
    if origin in (dict, collections.abc.Mapping):
        if not isinstance(value, dict):
            return [f"{path}: expected a map"]
        return [
            error
            for key, item in value.items()
            for error in check(item, arguments[1], module, f"{path}.{key}")
        ]
    return []


def _check_scalar(value: Any, choice: Any, path: str) -> list[str]:
    if choice is bool:
        return [] if isinstance(value, bool) else [f"{path}: expected a bool, got {value!r}"]
    if choice in (int, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = ok and (choice is float or float(value).is_integer())
        return [] if ok else [f"{path}: expected {choice.__name__}, got {value!r}"]
    if choice is str:
        return [] if isinstance(value, str) else [f"{path}: expected a string, got {value!r}"]
    return []


def check_object(value: dict[str, Any], cls: type, path: str) -> list[str]:
    """An input object: its properties known, typed, and the required ones present."""
    props = properties(cls)
    module = cls.__module__
    found = [
        f"{path}.{key}: unknown property of {cls.__name__}" for key in value if key not in props
    ]
    found += [
        f"{path}.{name}: required by {cls.__name__}, missing"
        for name in sorted(required(cls) - set(value))
    ]
    for key, item in value.items():
        if key in props:
            found += check(item, props[key][1], module, f"{path}.{key}")
    return found


def problems(record: Registered) -> list[str]:
    """Every problem of a resource's inputs (none for resources no provider schema covers)."""
    cls = args_class(record.type)
    if cls is None:
        return []
    revealed = normalise(record.inputs, reveal=True)
    inputs = {key: value for key, value in revealed.items() if not key.startswith("__")}
    return check_object(inputs, cls, record.name)
