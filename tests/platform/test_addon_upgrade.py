"""The README's add-on upgrade procedure, run on a copy of the tree: bumping a pin moves its CRDs.

Envoy Gateway is bumped to a tag of a stand-in `envoyproxy/gateway` repository built here, laid
out as upstream is from v1.8.0 (gateway-helm's CRDs in a `charts/crds` subchart's `crds/`, the
same CRDs in `charts/gateway-crds-helm/templates/`, each wrapped in one `{{- if }}`; read from
the tags v1.8.0 and v1.7.0 of envoyproxy/gateway). Its CRDs differ from the vendored ones by a
marker, so the test sees them arrive: in `schemas/crds` (README step 2, `make schemas`) and in
the CRD chart the program applies (step 1: the chart follows the pin).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.platform.addons import ENVOY_GATEWAY
from components.platform.crds import CRD_LIFECYCLE, GATEWAY_API_CHANNEL
from tools import schemas
from tools.offline import ROOT

NEW = "v99.0.0"
MARKER = f"served by the stand-in at {NEW}"
README = (ROOT / "README.md").read_text()
GATEWAY_API = (
    ("Gateway", "gateways"),
    ("GatewayClass", "gatewayclasses"),
    ("HTTPRoute", "httproutes"),
)
ENVOY = (
    ("EnvoyProxy", "envoyproxies"),
    ("BackendTrafficPolicy", "backendtrafficpolicies"),
    ("ClientTrafficPolicy", "clienttrafficpolicies"),
    ("SecurityPolicy", "securitypolicies"),
)


def _crd(group: str, kind: str, plural: str, version: str) -> dict[str, Any]:
    """A CRD whose schema is the vendored one with the marker as its description."""
    schema = json.loads((schemas.SCHEMAS / f"{group}_{kind}_{version}.json").read_text())
    schema["description"] = MARKER
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def _wrapped(condition: str, documents: list[dict[str, Any]]) -> str:
    return f"{{{{- if {condition} }}}}\n---\n" + yaml.safe_dump_all(documents) + "{{- end }}\n"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def stand_in_gateway(repo: Path) -> Path:
    """An envoyproxy/gateway with one tag, `NEW`, in the v1.8 layout; returns its git dir."""
    gateway_api = [
        _crd("gateway.networking.k8s.io", kind, plural, "v1") for kind, plural in GATEWAY_API
    ]
    files = {
        # v1.8: gateway-helm's CRDs moved into a subchart (not read: the CRD chart is).
        "charts/gateway-helm/charts/crds/crds/gatewayapi-crds.yaml": yaml.safe_dump_all(
            gateway_api
        ),
        "charts/gateway-helm/values.tmpl.yaml": (
            schemas.CHARTS / "envoy-gateway/values.yaml"
        ).read_text(),
        "charts/gateway-crds-helm/values.yaml": (
            schemas.CHARTS / "envoy-gateway-crds/values.yaml"
        ).read_text(),
        f"charts/gateway-crds-helm/templates/{GATEWAY_API_CHANNEL}-gatewayapi-crds.yaml": _wrapped(
            ".Values.crds.gatewayAPI.enabled", gateway_api
        ),
    }
    for kind, plural in ENVOY:
        files[
            f"charts/gateway-crds-helm/templates/generated/gateway.envoyproxy.io_{plural}.yaml"
        ] = _wrapped(
            ".Values.crds.envoyGateway.enabled",
            [_crd("gateway.envoyproxy.io", kind, plural, "v1alpha1")],
        )
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", NEW)
    _git(repo, "tag", NEW)
    return repo / ".git"


def copy_of_the_tree(target: Path) -> Path:
    """What the program and `tools.schemas` read (no tests, no git, no virtualenv)."""
    for name in ("components", "tools", "gitops", "policy", "schemas"):
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    for path in ROOT.glob("*"):
        if path.is_file():
            shutil.copy(path, target / path.name)
    return target


def bump(tree: Path, version: str) -> None:
    """README step 1: the pin in components/platform/addons.py."""
    path = tree / "components/platform/addons.py"
    text = path.read_text()
    line = next(line for line in text.splitlines() if line.startswith("ENVOY_GATEWAY = "))
    assert f'"{ENVOY_GATEWAY["version"]}"' in line
    path.write_text(text.replace(line, line.replace(ENVOY_GATEWAY["version"], version)))


def make_schemas(tree: Path, clones: dict[str, Path]) -> None:
    """README step 2, as the Makefile's `schemas` target runs it."""
    recipe = re.search(r"^schemas:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert recipe and "-m tools.schemas $(foreach clone,$(CLONES),--clone $(clone))" in recipe[1]
    arguments = [f"--clone={repo}={path}" for repo, path in clones.items()]
    subprocess.run(
        [sys.executable, "-m", "tools.schemas", *arguments],
        cwd=tree,
        check=True,
        capture_output=True,
    )


RENDER = """
import json
from tools.offline import run_stack
run = run_stack("dev")
print(json.dumps({r.name: {k: r.inputs.get(k) for k in ("chart", "version", "skipCrds")}
                  for r in run.resources if r.type.startswith("kubernetes:helm.sh/")}))
"""


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("upgrade")
    upstream = stand_in_gateway(base / "gateway")
    tree = copy_of_the_tree(base / "tree")
    bump(tree, NEW)
    make_schemas(tree, {schemas.EG: upstream})
    return tree


def test_the_vendored_crds_move_with_the_pin(upgraded: Path) -> None:
    provenance = json.loads((upgraded / "schemas/crds/PROVENANCE.json").read_text())
    moved = {name for name, origin in provenance.items() if origin["tag"] == NEW}
    expected = {f"gateway.networking.k8s.io_{kind}_v1.json" for kind, _ in GATEWAY_API} | {
        f"gateway.envoyproxy.io_{kind}_v1alpha1.json" for kind, _ in ENVOY
    }
    assert moved == expected
    for name in expected:
        assert json.loads((upgraded / "schemas/crds" / name).read_text())["description"] == MARKER
        assert provenance[name]["path"].startswith("charts/gateway-crds-helm/templates/")
    # Every other source kept its files (no clone given, pin not moved).
    assert all(
        (upgraded / "schemas/crds" / name).read_bytes() == (schemas.SCHEMAS / name).read_bytes()
        for name in set(provenance) - expected
    )


def test_the_crds_the_program_applies_move_with_the_pin(upgraded: Path) -> None:
    shown = subprocess.run(
        [sys.executable, "-c", RENDER], cwd=upgraded, check=True, capture_output=True, text=True
    ).stdout
    charts = json.loads(shown.strip().splitlines()[-1])
    crds = charts["webapp-addons-gateway-crds"]
    assert crds["chart"].endswith("gateway-crds-helm") and crds["version"] == NEW
    release = charts["webapp-addons-envoy-gateway"]
    assert release["version"] == NEW and release["skipCrds"] is True


def test_a_moved_file_stops_make_schemas_with_its_source(tmp_path: Path) -> None:
    """A tag without the file (a layout the tool does not know) names repository, tag and path."""
    repo = tmp_path / "gateway"
    repo.mkdir()
    (repo / "README.md").write_text("nothing here\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "empty")
    _git(repo, "tag", ENVOY_GATEWAY["version"])
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(schemas.SCHEMAS / "PROVENANCE.json", out)  # the other sources are kept
    with pytest.raises(SystemExit, match=rf"envoyproxy/gateway@{ENVOY_GATEWAY['version']}: cannot"):
        schemas.vendor({schemas.EG: repo / ".git"}, out)


def _subsection(heading: str) -> str:
    """The README's text under `### heading`, up to the next heading."""
    start = README.index(f"\n### {heading}\n")
    end = README.index("\n#", start + 1)
    return README[start:end]


def test_the_readme_lists_each_addons_crd_mechanism() -> None:
    section = _subsection("Add-on CRDs: how they are upgraded and kept")
    rows = dict(re.findall(r"^\| ([a-z-]+) \| (.+) \|$", section, re.MULTILINE))
    rows.pop("add-on", None)
    assert rows == CRD_LIFECYCLE
    upgrading = _subsection("Upgrading an add-on")
    assert "make schemas" in upgrading and "tests/platform/test_addon_upgrade.py" in upgrading
