"""Adding a service is one edit: an `AppService` entry in the catalogue. Its config keys, workload,
route, NetworkPolicies on both sides and (on Azure with the CSI driver) its federated credential
all follow, with nothing else changed. The edit is made to a copy of the tree and the stacks run
in a fresh interpreter, as `pulumi up` would run them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Any

import pytest

from tools.offline import ROOT

ENTRY = """
CATALOGUE = CATALOGUE + (
    AppService(
        name="search", component="search", runtime="node", port=3004, route="/search",
        probes=HEALTH, calls=("redis",),
        secret_env={"REDIS_URL": SecretEnv(secret="webapp-redis", key="url")},
    ),
)
"""

PROBE = """
import json, sys
from tools.offline import run_stack
found = {}
for stack, overrides in (("dev", {"webapp:services": {"search": {"image": "registry.example.com/search:1.0.0"}}}),
                         ("staging", None)):
    run = run_stack(stack, overrides)
    found[stack] = {
        "objects": [(o["kind"], o["metadata"]["name"]) for o in run.kubernetes_objects()],
        "routes": [o for o in run.kubernetes_objects() if o["kind"] == "HTTPRoute"],
        "policies": {o["metadata"]["name"]: o["spec"] for o in run.kubernetes_objects()
                     if o["kind"] == "NetworkPolicy"},
        "subjects": sorted(str(r.inputs.get("subject")) for r in run.resources
                           if r.type.endswith("FederatedIdentityCredential")),
        "images": {o["metadata"]["name"]: o["spec"]["template"]["spec"]["containers"][0]["image"]
                   for o in run.kubernetes_objects() if o["kind"] == "Deployment"},
    }
json.dump(found, sys.stdout)
"""


@pytest.fixture(scope="module")
def with_search(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tree = tmp_path_factory.mktemp("tree")
    for name in (
        "components",
        "tools",
        "__main__.py",
        "Pulumi.yaml",
        "Pulumi.dev.yaml",
        "Pulumi.staging.yaml",
        "Pulumi.production.yaml",
    ):
        source = ROOT / name
        copy = shutil.copytree if source.is_dir() else shutil.copy
        copy(source, tree / name)
    catalogue = tree / "components" / "config" / "catalogue.py"
    text = catalogue.read_text()
    marker = "\nAPP_SERVICES: tuple[str, ...] ="
    assert marker in text
    # The one edit: a catalogue entry, placed where the file's derived tuples still follow it.
    catalogue.write_text(text.replace(marker, ENTRY + marker, 1))
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tree, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def test_the_new_service_is_deployed_with_its_image(with_search: dict[str, Any]) -> None:
    dev = with_search["dev"]
    for kind in ("Deployment", "Service", "ServiceAccount", "ConfigMap", "NetworkPolicy"):
        assert [kind, "search"] in dev["objects"], kind
    assert dev["images"]["search"] == "registry.example.com/search:1.0.0"


def test_the_new_route_and_both_sides_of_its_connections_are_open(
    with_search: dict[str, Any],
) -> None:
    dev = with_search["dev"]
    paths = [
        rule["matches"][0]["path"]["value"]
        for route in dev["routes"]
        for rule in route["spec"]["rules"]
        if "matches" in rule
    ]
    assert "/search" in paths
    search = dev["policies"]["search"]
    assert any(
        peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name") == "redis"
        for rule in search["egress"]
        for peer in rule.get("to", [])
    )
    redis_callers = [
        peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
        for rule in dev["policies"]["redis"]["ingress"]
        for peer in rule.get("from", [])
    ]
    assert "search" in redis_callers


def test_on_azure_the_new_reader_gets_its_federated_credential(with_search: dict[str, Any]) -> None:
    subjects = with_search["staging"]["subjects"]
    assert "system:serviceaccount:webapp-staging:search" in subjects
