"""The vendored CRD schemas are the pinned chart's, each with its provenance."""

from __future__ import annotations

import json
from typing import Callable

import yaml

from components.platform.addons import PROMETHEUS_STACK
from tests.support import STACKS
from tools import schemas
from tools.golden import VARIANTS, variant_overrides
from tools.offline import StackRun
from tools.validate import validate_custom, validate_object


def test_every_vendored_schema_has_its_provenance_at_the_pinned_version() -> None:
    provenance = json.loads((schemas.SCHEMAS / "PROVENANCE.json").read_text())
    files = {path.name for path in schemas.SCHEMAS.glob("*.json")} - {"PROVENANCE.json"}
    assert files == set(provenance)
    # Each source's tag follows a pin in the code; a bump without `make schemas` fails here.
    wanted = {
        (source.repo, source.tag, source.path, kind, version)
        for source in schemas.SOURCES
        for kind, version in source.kinds
    }
    recorded = {
        (origin["repo"], origin["tag"], origin["path"], *name.removesuffix(".json").split("_")[1:])
        for name, origin in provenance.items()
    }
    assert recorded == wanted
    assert all(len(origin["commit"]) == 40 for origin in provenance.values())
    assert schemas.KPS_TAG == f"kube-prometheus-stack-{PROMETHEUS_STACK['version']}"


def test_every_custom_resource_the_stacks_declare_has_a_vendored_schema(
    stack_run: Callable[..., StackRun],
) -> None:
    declared = {
        (obj["apiVersion"], obj["kind"])
        for stack in STACKS
        for variant in VARIANTS
        for obj in stack_run(stack, variant_overrides(stack, variant)).kubernetes_objects()
        if validate_object(obj) == "custom"
    }
    vendored = {
        (f"{name.split('_')[0]}/{name.removesuffix('.json').split('_')[2]}", name.split("_")[1])
        for name in (path.name for path in schemas.SCHEMAS.glob("*_*_*.json"))
    }
    assert declared and declared <= vendored, declared - vendored


def test_extraction_reads_the_served_version_and_bare_equals_signs() -> None:
    manifest = yaml.load(
        "spec:\n  versions:\n  - name: v1\n    schema:\n      openAPIV3Schema:\n"
        "        type: object\n        properties:\n          op: {enum: [=, '!=']}\n",
        schemas._Loader,
    )
    schema = schemas.extract(manifest, "v1")
    assert schema["properties"]["op"]["enum"] == ["=", "!="]


def test_the_validator_reads_the_vendored_schema() -> None:
    """A field the pinned AlertmanagerConfig lacks is refused (closed to unknown fields)."""
    good = {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": {"name": "x", "namespace": "y"},
        "spec": {"route": {"receiver": "discard"}, "receivers": [{"name": "discard"}]},
    }
    validate_custom(good)
    bad = {**good, "spec": {**good["spec"], "route": {"receiver": "discard", "reciever": "x"}}}
    try:
        validate_custom(bad)
    except Exception as error:  # noqa: BLE001 - jsonschema.ValidationError
        assert "reciever" in str(error)
    else:
        raise AssertionError("an unknown field passed")
