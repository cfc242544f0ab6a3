"""Vendor the CRD schemas of the custom resources this program declares, at the pinned versions.

    python -m tools.schemas --git-dir <mirror of prometheus-community/helm-charts>   # make schemas

Reads each CRD manifest at the tag of the pinned chart (`git show <tag>:<path>`), and writes the
`openAPIV3Schema` of every version the program uses to `schemas/crds/<group>_<kind>_<version>.json`,
with its provenance (repository, tag, commit, path) in `schemas/crds/PROVENANCE.json`. The
validator (`tools.validate`) reads this directory before the shared one, so a kind vendored here
is checked at the version the program deploys. Bumping the chart is one command and a reviewed
diff.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from components.platform.addons import PROMETHEUS_STACK

from .offline import ROOT

SCHEMAS = ROOT / "schemas" / "crds"


@dataclass(frozen=True)
class Source:
    repo: str
    tag: str
    path: str
    versions: tuple[str, ...]


CRDS = "charts/kube-prometheus-stack/charts/crds/crds"
KPS_TAG = f"kube-prometheus-stack-{PROMETHEUS_STACK['version']}"
SOURCES = (
    Source("prometheus-community/helm-charts", KPS_TAG, f"{CRDS}/crd-podmonitors.yaml", ("v1",)),
    Source(
        "prometheus-community/helm-charts", KPS_TAG, f"{CRDS}/crd-servicemonitors.yaml", ("v1",)
    ),
    Source(
        "prometheus-community/helm-charts", KPS_TAG, f"{CRDS}/crd-prometheusrules.yaml", ("v1",)
    ),
    Source(
        "prometheus-community/helm-charts",
        KPS_TAG,
        f"{CRDS}/crd-alertmanagerconfigs.yaml",
        ("v1alpha1",),
    ),
)
"""Per CRD manifest: the repository, the tag of the pinned chart, the path, the versions used."""


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads a bare `=` (the CRDs' matchType enum) as the `value` type; it is a string."""


def _scalar(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    assert isinstance(node, yaml.ScalarNode)
    return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:value", _scalar)


def _git(git_dir: Path, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], capture_output=True, text=True, check=True
    ).stdout


def extract(manifest: dict[str, Any], version: str) -> dict[str, Any]:
    """One served version's `openAPIV3Schema` from a CRD manifest."""
    for served in manifest["spec"]["versions"]:
        if served["name"] == version:
            schema: dict[str, Any] = served["schema"]["openAPIV3Schema"]
            return schema
    raise SystemExit(f"{manifest['metadata']['name']}: no version {version}")


def vendor(git_dir: Path, out: Path = SCHEMAS) -> dict[str, dict[str, str]]:
    provenance: dict[str, dict[str, str]] = {}
    out.mkdir(parents=True, exist_ok=True)
    for source in SOURCES:
        manifest = yaml.load(_git(git_dir, "show", f"{source.tag}:{source.path}"), _Loader)
        commit = _git(git_dir, "rev-list", "-n", "1", source.tag).strip()
        group, kind = manifest["spec"]["group"], manifest["spec"]["names"]["kind"]
        for version in source.versions:
            name = f"{group}_{kind}_{version}.json"
            (out / name).write_text(json.dumps(extract(manifest, version), indent=1) + "\n")
            provenance[name] = {
                "repo": source.repo,
                "tag": source.tag,
                "commit": commit,
                "path": source.path,
            }
    (out / "PROVENANCE.json").write_text(json.dumps(provenance, indent=1, sort_keys=True) + "\n")
    return provenance


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="vendor CRD schemas at the pinned versions")
    parser.add_argument("--git-dir", type=Path, required=True, help="a clone of the source repo")
    args = parser.parse_args(argv)
    for name, origin in vendor(args.git_dir).items():
        print(f"{name}: {origin['repo']}@{origin['tag']}:{origin['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
