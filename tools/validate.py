"""Strict validation of rendered Kubernetes objects.

- Built-in kinds: the Kubernetes 1.32 OpenAPI schema, strict (unknown fields rejected), via the
  PyPI package `kubernetes-validate`.
- Custom resources: the upstream CRD `openAPIV3Schema` at the version the program pins, vendored
  in `schemas/crds` (`tools.schemas`; `WEBAPP_CRD_SCHEMAS` points elsewhere, to try other
  versions), closed to unknown fields, with
  OpenAPI 3.0 semantics (nullable, int-or-string) under a Draft 4 validator, plus the CRD's
  `x-kubernetes-validations` CEL rules evaluated with cel-python where the rule uses only standard
  CEL (rules needing Kubernetes-only CEL functions are counted as skipped, never as passed).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import jsonschema
import kubernetes_validate
from kubernetes_validate import utils as kv_utils

from .offline import ROOT

K8S_VERSION = "1.32.0"
CRD_SCHEMA_ENV = "WEBAPP_CRD_SCHEMAS"

# kubernetes-validate re-reads its 10 MB definitions file for every object; cache the parsed files.
kv_utils.schema_contents = functools.lru_cache(maxsize=None)(kv_utils.schema_contents)


def crd_schema_dir() -> Path:
    return Path(os.environ.get(CRD_SCHEMA_ENV, ROOT / "schemas" / "crds"))


class SchemaMissing(Exception):
    """No schema for a kind: in CI this is a failure, never a skip."""


@dataclass
class CelReport:
    evaluated: int = 0
    skipped: list[str] = field(default_factory=list)


_RE2_INLINE = re.compile(r"\(\?([imsU]+)\)")


def _fix_pattern(pattern: str) -> str:
    """Go RE2 allows inline flags mid-pattern; Python needs them at the front."""
    flags = "".join(sorted(set("".join(_RE2_INLINE.findall(pattern))) - {"U"}))
    stripped = _RE2_INLINE.sub("", pattern)
    return f"(?{flags}){stripped}" if flags else stripped


_DROPPED = ("description", "format")
"""Annotations only (and `format`, which Draft 4 would check differently from the API server)."""


def _close_value(key: str, value: Any) -> Any:
    """One keyword of a schema node, closed recursively where it holds schemas."""
    if key in ("properties", "patternProperties"):
        return {name: close_schema(schema) for name, schema in value.items()}
    if key in ("items", "additionalProperties") and isinstance(value, (dict, list)):
        return close_schema(value)
    if key == "pattern" and isinstance(value, str):
        return _fix_pattern(value)
    return value  # allOf/anyOf/oneOf/not are left as upstream wrote them


def close_schema(node: Any) -> Any:
    """OpenAPI v3 structural schema -> Draft 4 schema closed to unknown fields (see module doc)."""
    if isinstance(node, list):
        return [close_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: _close_value(key, value)
        for key, value in node.items()
        if not key.startswith("x-kubernetes-") and key not in _DROPPED
    }
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    out.pop("nullable", None)
    if (
        "properties" in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
        and "additionalProperties" not in node
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def _crd_schema(api_version: str, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    group, version = api_version.split("/")
    path = crd_schema_dir() / f"{group}_{kind}_{version}.json"
    if not path.exists():
        raise SchemaMissing(
            f"no CRD schema for {api_version} {kind} at {path} (set {CRD_SCHEMA_ENV})"
        )
    raw = json.loads(path.read_text())
    closed = close_schema(copy.deepcopy(raw))
    props = closed.setdefault("properties", {})
    for root_key in ("apiVersion", "kind"):
        props.setdefault(root_key, {"type": "string"})
    props.setdefault("metadata", {"type": "object"})
    return raw, closed


def validate_custom(obj: dict[str, Any], cel: Optional[CelReport] = None) -> None:
    """Raise jsonschema.ValidationError (or SchemaMissing, or CelRuleFailed) for a
    custom resource.
    """
    raw, closed = _crd_schema(obj["apiVersion"], obj["kind"])
    jsonschema.Draft4Validator(closed).validate(obj)
    _check_cel(raw, obj, cel if cel is not None else CelReport(), path=obj["kind"])


class CelRuleFailed(Exception):
    pass


@functools.cache
def _cel_program(rule: str) -> Any:
    import celpy  # imported lazily: only custom resources need it

    env = celpy.Environment()
    return env.program(env.compile(rule))


def _walk(
    schema: dict[str, Any], value: Any, path: str
) -> Iterator[tuple[dict[str, Any], Any, str]]:
    yield schema, value, path
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key in value:
                yield from _walk(sub, value[key], f"{path}.{key}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                yield from _walk(extra, item, f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from _walk(schema["items"], item, f"{path}[{i}]")


def _check_cel(schema: dict[str, Any], obj: dict[str, Any], report: CelReport, path: str) -> None:
    import celpy

    for node, value, where in _walk(schema, obj, path):
        for rule in node.get("x-kubernetes-validations") or []:
            expr = rule.get("rule", "")
            if "oldSelf" in expr:
                continue  # transition rules need the previous object
            try:
                program = _cel_program(expr)
                result = program.evaluate({"self": celpy.json_to_cel(value)})
            except Exception as error:  # noqa: BLE001 - unsupported Kubernetes CEL extension
                report.skipped.append(f"{where}: {expr[:80]} ({type(error).__name__})")
                continue
            if isinstance(result, celpy.CELEvalError):
                report.skipped.append(f"{where}: {expr[:80]} ({result})")
                continue
            report.evaluated += 1
            if not bool(result):
                raise CelRuleFailed(f"{where}: {rule.get('message') or expr}")


def validate_object(obj: dict[str, Any], cel: Optional[CelReport] = None) -> str:
    """Validate one object; returns "builtin" or "custom". Raises on any violation or missing
    schema.
    """
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        return "builtin"
    except kubernetes_validate.SchemaNotFoundError:
        validate_custom(obj, cel)
        return "custom"
