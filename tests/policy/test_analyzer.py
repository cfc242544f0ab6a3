"""The pack through pulumi_policy's own analyzer service, as the CLI drives it: config sent with
Configure, each resource's properties as a protobuf Struct (numbers as doubles, lists as
proxies), preview-time unknowns as the engine's sentinels. No engine and no gRPC server: the
servicer's methods are called directly."""

from __future__ import annotations

import json
from typing import Any, Mapping

from google.protobuf import json_format, struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer

from tools.offline import StackRun, normalise
from tools.policy_check import checked, config_file, policies

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""The engine's sentinel for a value not known during preview."""


def servicer(stack: str | None = None) -> _PolicyAnalyzerServicer:
    service = _PolicyAnalyzerServicer("webapp", "1.0.0", policies(), EnforcementLevel.MANDATORY)
    if stack:
        config = json.loads(config_file(stack).read_text())
        request = proto.ConfigureAnalyzerRequest(
            policyConfig={
                name: proto.PolicyConfig(
                    enforcementLevel=proto.MANDATORY,
                    properties=json_format.ParseDict(values, struct_pb2.Struct()),
                )
                for name, values in config.items()
            }
        )
        service.Configure(request, None)
    return service


def struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(json.loads(json.dumps(props)), struct_pb2.Struct())


def analyze(
    service: _PolicyAnalyzerServicer, typ: str, props: Mapping[str, Any], protect: bool = False
) -> list[Any]:
    request = proto.AnalyzeRequest(
        type=typ,
        properties=struct(props),
        urn=f"urn:pulumi:s::webapp::{typ}::r",
        name="r",
        options=proto.AnalyzerResourceOptions(protect=protect),
    )
    return list(service.Analyze(request, None).diagnostics)


def analyze_stack(
    service: _PolicyAnalyzerServicer, resources: list[tuple[str, str, Mapping[str, Any], bool]]
) -> list[Any]:
    request = proto.AnalyzeStackRequest(
        resources=[
            proto.AnalyzerResource(
                type=typ,
                urn=urn,
                name=urn.rsplit("::", 1)[-1],
                properties=struct(props),
                options=proto.AnalyzerResourceOptions(protect=protect),
            )
            for typ, urn, props, protect in resources
        ]
    )
    return list(service.AnalyzeStack(request, None).diagnostics)


def custom(run: StackRun) -> list[tuple[str, str, Mapping[str, Any], bool]]:
    return [(r.type, r.urn, normalise(r.inputs, reveal=True), r.protect) for r in checked(run)]


def test_shipped_stacks_pass_through_the_analyzer(stack_run: Any) -> None:
    from tools.golden import variant_overrides

    for stack, variant in (
        ("production", "cloud-aws"),
        ("production", "cloud-azure"),
        ("staging", "as-shipped"),
        ("dev", "as-shipped"),
    ):
        service = servicer(stack)
        resources = custom(stack_run(stack, variant_overrides(stack, variant) or None))
        found = [
            d.message
            for typ, _, props, protect in resources
            for d in analyze(service, typ, props, protect)
        ]
        found += [d.message for d in analyze_stack(service, resources)]
        assert found == [], (stack, variant)


def test_a_violation_is_mandatory_with_the_policy_description() -> None:
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "api", "image": "nginx:latest"}]}}},
    }
    diagnostics = [
        d
        for d in analyze(servicer("production"), "kubernetes:apps/v1:Deployment", deployment)
        if d.policyName == "images-pinned"
    ]
    (only,) = diagnostics
    assert only.enforcementLevel == proto.MANDATORY
    assert only.message.startswith("Every container image names a release tag")
    assert "uses the latest tag" in only.message


def test_preview_unknowns_are_advisory_notes_not_violations() -> None:
    diagnostics = analyze(
        servicer("production"),
        "aws:secretsmanager/secret:Secret",
        {"name": "s", "kmsKeyId": UNKNOWN},
        protect=True,
    )
    (only,) = diagnostics
    assert only.enforcementLevel == proto.ADVISORY and "during preview" in only.message


def test_stack_config_reaches_the_policies() -> None:
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "web"},
        "spec": {"template": {"metadata": {"labels": {"a": "b"}}}},
    }
    hpa = {
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "api", "namespace": "web"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "api"},
            "minReplicas": 2,
            "maxReplicas": 5,
        },
    }
    resources = [
        ("kubernetes:apps/v1:Deployment", "urn:a::d", deployment, False),
        ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "urn:a::h", hpa, False),
    ]

    def replicas(stack: str) -> list[str]:
        return [
            d.message
            for d in analyze_stack(servicer(stack), resources)
            if d.policyName == "workloads-min-replicas"
        ]

    assert replicas("dev") == []
    (message,) = replicas("production")
    assert "can run 2 replica(s) (HPA api minReplicas); this stack needs at least 3" in message
