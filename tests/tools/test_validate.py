"""The validator itself must fail on bad objects, or the whole-stack tests prove nothing."""

from __future__ import annotations

import copy
import re
from typing import Any, Callable

import jsonschema
import kubernetes_validate
import pytest

from tests.support import require
from tools.offline import StackRun
from tools.validate import (
    CelReport,
    CelRuleFailed,
    SchemaMissing,
    _fix_pattern,
    close_schema,
    crd_schema_dir,
    validate_object,
)


@pytest.fixture(scope="module")
def objects(stack_run: Callable[..., StackRun]) -> list[dict[str, Any]]:
    require(crd_schema_dir().is_dir(), "CRD schemas are needed")
    return stack_run("dev").kubernetes_objects(reveal=True)


def pick(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return copy.deepcopy(
        next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)
    )


def test_unknown_field_in_builtin_kind_is_rejected(objects: list[dict[str, Any]]) -> None:
    deployment = pick(objects, "Deployment", "api")
    validate_object(deployment)
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_object(deployment)


def test_wrong_type_in_builtin_kind_is_rejected(objects: list[dict[str, Any]]) -> None:
    service = pick(objects, "Service", "api")
    service["spec"]["ports"][0]["port"] = "eighty"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_object(service)


def test_unknown_field_in_custom_resource_is_rejected(objects: list[dict[str, Any]]) -> None:
    route = pick(objects, "HTTPRoute", "webapp")
    validate_object(route)
    route["spec"]["rules"][0]["backendRef"] = []
    with pytest.raises(jsonschema.ValidationError):
        validate_object(route)


def test_cel_rule_violation_is_rejected(objects: list[dict[str, Any]]) -> None:
    route = pick(objects, "HTTPRoute", "webapp-websocket")
    route["spec"]["rules"][0]["timeouts"] = {"request": "10s", "backendRequest": "20s"}
    with pytest.raises(
        CelRuleFailed, match="backendRequest timeout cannot be longer than request timeout"
    ):
        validate_object(route, CelReport())


def test_rate_limit_policy_rules_are_evaluated(objects: list[dict[str, Any]]) -> None:
    policy = pick(objects, "BackendTrafficPolicy", "webapp")
    report = CelReport()
    validate_object(policy, report)
    assert report.evaluated > 0
    policy["spec"]["rateLimit"]["local"]["rules"][0]["shadowMode"] = True
    with pytest.raises(CelRuleFailed, match="shadow mode is not supported for Local"):
        validate_object(policy, CelReport())


def test_missing_crd_schema_is_an_error_not_a_pass() -> None:
    with pytest.raises(SchemaMissing):
        validate_object(
            {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}}
        )


def test_close_schema_semantics() -> None:
    schema = close_schema(
        {
            "type": "object",
            "properties": {
                "port": {"x-kubernetes-int-or-string": True},
                "maybe": {"type": "string", "nullable": True},
                "free": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"a": {"type": "string"}},
                },
            },
        }
    )
    validator = jsonschema.Draft4Validator(schema)
    validator.validate({"port": 80, "maybe": None, "free": {"anything": 1}})
    validator.validate({"port": "http"})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"typo": 1})


def test_re2_inline_flags_move_to_the_front() -> None:
    pattern = _fix_pattern("^(?i)(abort|warn)?$")
    assert re.match(pattern, "ABORT")
    assert not re.match(pattern, "other")
