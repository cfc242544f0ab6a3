"""`make render STACK=<stack> [OUT=<dir>]`: write every Kubernetes object of a stack, validated.

Runs the program under the offline mocks, validates every object (see tools/validate.py), and
writes one YAML file per component (`<component>.yaml`, objects sorted by kind/namespace/name)
plus `_other-resources.yaml` listing the non-Kubernetes resources with their settings (cloud
resources with every input, IAM documents as structure; Helm releases with chart,
version and values; random passwords; the provider) and `_outputs.yaml` with the stack outputs.
Secret values are written as `<secret>`, but for a catalogued Secret's `public_keys` (a
database host). Exit status: 0 rendered, 2 invalid config (or a stack
file that cannot be read, or an output directory it may not write), 1 invalid manifests.

It writes only what it owns: a new or empty directory, or one it wrote before (it holds the
`.webapp-render` marker listing the files written). There it replaces exactly those files; anything
else in the directory is left alone (a file of yours that a render would now write is refused,
naming it), and nothing outside it is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Optional

import pulumi
import yaml

from components.config.settings import SettingsError
from components.secrets import catalogue as cat

from .offline import Registered, StackFileError, StackRun, normalise, require_stack_file, run_stack
from .validate import CRD_SCHEMA_ENV, CelReport, SchemaMissing, crd_schema_dir, validate_object


def _component_of(record: Registered, by_urn: dict[str, Registered]) -> str:
    parent = by_urn.get(record.parent)
    while parent is not None and parent.custom:
        parent = by_urn.get(parent.parent)
    return parent.name if parent is not None else "stack"


def _sort_key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata", {})
    return obj.get("kind", ""), meta.get("namespace") or "", meta.get("name", "")


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def _shown(record: Registered) -> dict[str, Any]:
    """A manifest with secret values as `<secret>`, except a catalogued Secret's coordinates
    (`public_keys`: a database host is not a credential, and a reviewer needs to see it)."""
    shown: dict[str, Any] = normalise(record.inputs)
    spec = cat.BY_NAME.get(shown.get("metadata", {}).get("name", ""))
    if shown.get("kind") == "Secret" and spec is not None and spec.public_keys:
        revealed = normalise(record.inputs, reveal=True).get("stringData") or {}
        for key in spec.public_keys:
            if key in revealed:
                shown["stringData"][key] = revealed[key]
    return shown


def _readable(value: Any) -> Any:
    """JSON documents (IAM policies) as structure, so the render shows them like the rest."""
    if isinstance(value, dict):
        return {key: _readable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_readable(item) for item in value]
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def dump(documents: list[Any]) -> str:
    return yaml.dump_all(
        documents, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=120
    )


def render(run: StackRun) -> dict[str, str]:
    """File name -> content for one stack run (deterministic: golden files compare byte
    for byte).
    """
    by_urn = run.by_urn()
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    others: list[dict[str, Any]] = []
    for record in run.resources:
        if record.is_kubernetes_object:
            groups[_component_of(record, by_urn)].append(_shown(record))
        elif record.custom:
            entry: dict[str, Any] = {
                "type": record.type,
                "name": record.name,
                "component": _component_of(record, by_urn),
            }
            if record.protect:
                entry["protect"] = True
            if not record.type.startswith(("kubernetes:helm.sh", "pulumi:providers:")):
                # Cloud resources with every reviewable setting (policies, instance and vault
                # properties); secret values stay `<secret>`.
                entry["inputs"] = _readable(normalise(record.inputs))
            if record.type.startswith("kubernetes:helm.sh"):
                inputs = normalise(record.inputs)
                entry.update(
                    {
                        k: inputs.get(k)
                        for k in ("chart", "version", "namespace", "values")
                        if inputs.get(k) is not None
                    }
                )
                entry["repository"] = (inputs.get("repositoryOpts") or {}).get("repo")
            others.append(entry)
    files = {
        f"{component}.yaml": dump(sorted(objs, key=_sort_key))
        for component, objs in sorted(groups.items())
    }
    files["_other-resources.yaml"] = dump([sorted(others, key=lambda e: (e["type"], e["name"]))])
    outputs = {
        k: (normalise(v) if k not in run.secret_outputs else "<secret>")
        for k, v in sorted(run.outputs.items())
    }
    files["_outputs.yaml"] = dump([outputs])
    return files


def validate_run(run: StackRun, skipped: Optional[list[str]] = None) -> list[str]:
    """Problems of every object. With `skipped` given, a custom resource whose CRD schema directory
    is absent is listed there instead of failing (a user without the schemas); CI never passes it.
    """
    problems = []
    cel = CelReport()
    for obj in run.kubernetes_objects(reveal=True):
        try:
            validate_object(obj, cel)
        except SchemaMissing as error:
            if skipped is not None and not crd_schema_dir().is_dir():
                skipped.append(f"{obj.get('kind')} {obj.get('metadata', {}).get('name')}")
                continue
            problems.append(str(error))
        except Exception as error:  # noqa: BLE001 - every failure is reported, none hides another
            meta = obj.get("metadata", {})
            problems.append(
                f"{obj.get('kind')} {meta.get('namespace') or ''}/{meta.get('name')}: "
                f"{str(error).splitlines()[0]}"
            )
    return problems


MARKER = ".webapp-render"
"""Written into every directory this command fills: the names of the files it wrote."""


class OutputDirectoryError(Exception):
    """The output directory holds files this command did not write."""


def write(files: dict[str, str], out: Path) -> None:
    """Write `files` into `out`, replacing only what an earlier render wrote there."""
    marker = out / MARKER
    if out.exists() and not out.is_dir():
        raise OutputDirectoryError(f"{out} is a file, not a directory; choose a directory")
    if out.is_dir():
        entries = sorted(entry.name for entry in out.iterdir())
        if entries and not marker.is_file():
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            raise OutputDirectoryError(
                f"refusing to write into {out}: it holds {len(entries)} entries this command did "
                f"not write ({shown}) and no {MARKER} marker; name a new or empty directory "
                "(OUT=...)"
            )
        previous = marker.read_text().splitlines() if marker.is_file() else []
        # A file of yours that this render would now write (a component added since the last
        # render shares its name) is not replaced: refused before anything is written.
        theirs = sorted(name for name in files if (out / name).exists() and name not in previous)
        if theirs:
            raise OutputDirectoryError(
                f"refusing to write into {out}: {', '.join(theirs)} would be replaced and "
                f"{MARKER} does not list it as written by an earlier render; move it away, or "
                "name another directory (OUT=...)"
            )
        for name in previous:
            # Only plain file names the marker lists, never a path out of the directory.
            written = out / name
            if Path(name).name == name and name.endswith(".yaml") and written.is_file():
                written.unlink()
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (out / name).write_text(content)
    marker.write_text("".join(f"{name}\n" for name in sorted(files)))


STACK_ERRORS = (SettingsError, StackFileError, pulumi.RunError)
"""What a stack's config or file can be wrong with, as opposed to a defect of the program: a
missing or unreadable stack file, YAML that does not parse, config the settings refuse."""


def run_or_report(stack: str, overrides: Optional[Mapping[str, Any]] = None) -> Optional[StackRun]:
    """The offline run of `stack`, or None after saying on stderr why there is none: each problem
    on its own line, prefixed with the stack (the CLIs then exit 2). Shared by every tool that
    runs a stack (render, timeline, policy, rehearse), so they all report a bad stack alike."""
    try:
        require_stack_file(stack)
        return run_stack(stack, overrides)
    except STACK_ERRORS as error:
        print(f"stack {stack}: {error}", file=sys.stderr)
        return None


def parse_set(items: list[str]) -> dict[str, Any]:
    """`--set KEY=YAML` items as config overrides (a `null` value removes the key)."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key.startswith("webapp:"):
            raise ValueError(
                f"--set {item!r}: expected webapp:<key>=<YAML value>, e.g. "
                "--set webapp:logLevel=Debug or --set 'webapp:routing={mode: ingress}'"
            )
        try:
            overrides[key] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            said = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise ValueError(f"--set {key}: the value is not valid YAML ({said})") from None
    return overrides


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", required=True, help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument("--out", default=None, help="output directory (default rendered/<stack>)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=YAML",
        help="override a config key, e.g. --set webapp:routing='{mode: ingress}'",
    )
    args = parser.parse_args(argv)
    try:
        overrides = parse_set(args.set)
    except ValueError as error:
        print(f"stack {args.stack}: {error}", file=sys.stderr)
        return 2
    run = run_or_report(args.stack, overrides)
    if run is None:
        return 2
    skipped: list[str] = []
    # In CI a missing schema directory is a failure; elsewhere it is said, loudly, and not hidden.
    problems = validate_run(run, None if os.environ.get("CI") == "true" else skipped)
    if skipped:
        print(
            f"stack {args.stack}: WARNING: {len(skipped)} custom resources NOT validated: no CRD "
            "schemas at "
            f"{crd_schema_dir()} (set {CRD_SCHEMA_ENV} to the directory of "
            "<group>_<Kind>_<version>.json files)",
            file=sys.stderr,
        )
    if problems:
        print(f"stack {args.stack}: {len(problems)} invalid object(s):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else Path("rendered") / args.stack
    files = render(run)
    try:
        write(files, out)
    except OutputDirectoryError as error:
        print(f"stack {args.stack}: {error}", file=sys.stderr)
        return 2
    count = len(run.kubernetes_objects()) - len(skipped)
    print(
        f"stack {args.stack}: {count} Kubernetes objects validated, written to {out}/ "
        f"({len(files)} files)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
