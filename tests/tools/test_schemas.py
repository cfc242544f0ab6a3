"""The vendored CRD schemas are the pinned chart's, each with its provenance."""

from __future__ import annotations

import json

import yaml

from tools import schemas
from tools.validate import validate_custom


def test_every_vendored_schema_has_its_provenance_at_the_pinned_chart() -> None:
    provenance = json.loads((schemas.SCHEMAS / "PROVENANCE.json").read_text())
    files = {path.name for path in schemas.SCHEMAS.glob("*.json")} - {"PROVENANCE.json"}
    assert files and files == set(provenance)
    # A chart bump without `make schemas` fails here: the tag follows the pinned version.
    assert {origin["tag"] for origin in provenance.values()} == {schemas.KPS_TAG}
    assert all(len(origin["commit"]) == 40 for origin in provenance.values())
    expected = {
        f"monitoring.coreos.com_{kind}_{version}.json"
        for kind, version in (
            ("PodMonitor", "v1"),
            ("ServiceMonitor", "v1"),
            ("PrometheusRule", "v1"),
            ("AlertmanagerConfig", "v1alpha1"),
        )
    }
    assert files == expected


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
