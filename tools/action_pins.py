"""Vendor the inputs of every GitHub Action the workflows pin, from its `action.yml` at the
pinned commit, into schemas/actions/inputs.json (with tag, commit and source URL).

actionlint knows action inputs only for version tags it ships data for; with commit pins it
checks none, so the suite checks each step's `with:` against this file instead. Bumping an
action is: change the pin (`owner/name@<commit> # vX.Y.Z`) in the workflows, then

    python -m tools.action_pins --clone actions/checkout=<git dir> --clone ...

with a clone (or bare mirror) of each bumped repository; the others keep their entries.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Optional

import yaml

from .offline import ROOT
from .schemas import git

OUT = ROOT / "schemas" / "actions" / "inputs.json"
PIN = re.compile(
    r"^\s*(?:-\s+)?uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)\s*$", re.M
)


def pins(root: Path = ROOT) -> dict[str, tuple[str, str]]:
    """owner/name (lower case) -> (commit, tag) of every pinned action of the workflows."""
    files = [
        *(root / ".github" / "workflows").glob("*.yml"),
        *(root / ".github" / "actions").glob("*/action.yml"),
    ]
    found: dict[str, tuple[str, str]] = {}
    for path in files:
        for name, commit, tag in PIN.findall(path.read_text()):
            found[name.lower()] = (commit, tag)
    return found


def entry(name: str, commit: str, tag: str, git_dir: Path) -> dict[str, Any]:
    tagged = git(git_dir, "rev-list", "-n1", tag).strip()
    if tagged != commit:
        raise SystemExit(f"{name}: {tag} is commit {tagged} in {git_dir}, the pin says {commit}")
    meta = yaml.safe_load(git(git_dir, "show", f"{commit}:action.yml"))
    inputs = {
        key: {"required": bool((spec or {}).get("required")) and "default" not in (spec or {})}
        for key, spec in (meta.get("inputs") or {}).items()
    }
    return {
        "tag": tag,
        "commit": commit,
        "source": f"https://github.com/{name}/blob/{commit}/action.yml",
        "runs": meta["runs"]["using"],
        "inputs": inputs,
        "outputs": sorted(meta.get("outputs") or {}),
    }


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="vendor pinned actions' inputs")
    parser.add_argument("--clone", action="append", default=[], help="owner/name=<git dir>")
    args = parser.parse_args(argv)
    clones = dict(c.split("=", 1) for c in args.clone)
    current = json.loads(OUT.read_text()) if OUT.exists() else {}
    wanted = pins()
    result: dict[str, Any] = {}
    for name, (commit, tag) in sorted(wanted.items()):
        clone = next((d for n, d in clones.items() if n.lower() == name), None)
        if clone:
            result[name] = entry(name, commit, tag, Path(clone))
        elif current.get(name, {}).get("commit") == commit:
            result[name] = current[name]
        else:
            raise SystemExit(f"{name}@{tag} is not vendored yet: pass --clone {name}=<git dir>")
    OUT.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(
        f"{OUT.relative_to(ROOT)}: {', '.join(f'{n}@{t}' for n, (_, t) in sorted(wanted.items()))}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
