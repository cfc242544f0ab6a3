"""The pull-request comment for one stack: what will change, replacements and deletions first.

Two sources, one format:

- `preview`: the engine events of `pulumi preview --event-log <file>` (the workflow runs the real
  preview with the policy pack, against the stack's state). Event fields are the engine's
  (`resourcePreEvent.metadata.op/urn/type/old/new/keys/diffs/detailedDiff`, `policyEvent`,
  `diagnosticEvent`, `summaryEvent`), as pulumi.automation.events reads them.
- `offline`: the golden renders (tests/golden/<stack>/) at the base and head commits, for pull
  requests that get no cloud credentials (forks). The suite fails when a golden render differs
  from what the code renders, so on a green pull request the goldens are the code's manifests.
  Replacement and data loss are judged by tools.changes (`replacing`, `holds_data`); only a
  real preview knows the live state, so the comment says which source it is.

The comment starts with a marker (`<!-- webapp-preview:<stack> -->`) so the workflow edits the
stack's comment in place, and is cut to fit GitHub's 65,536-character limit: the summary,
replacements, deletions, policy violations and errors are kept whole; updates and creations are
listed until the budget runs out, the rest is counted and left to the full diff artifact.

    python -m tools.pr_comment preview --stack production --events events.json --out c.md
    python -m tools.pr_comment offline --stack production --base origin/main --head HEAD --out c.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

from .changes import flatten, holds_data, replacing
from .offline import ROOT

LIMIT = 65_536
"""GitHub's limit on a comment body, in characters."""
BUDGET = LIMIT - 1_536
"""What the comment may use: room is kept for the workflow's footer (run link, artifact)."""
ORDER = ("replace", "delete", "update", "create", "import")
TITLES = {
    "replace": "Replaced",
    "delete": "Deleted",
    "update": "Updated in place",
    "create": "Created",
    "import": "Imported",
}
_REPLACE_OPS = {"replace", "create-replacement", "delete-replaced", "discard-replaced"}
_QUIET_OPS = {"same", "read", "refresh", "remove-pending-replace", "read-replacement"}


@dataclass
class Entry:
    op: str
    name: str
    type: str
    paths: tuple[str, ...] = ()
    """Changed properties (updates), or the ones forcing the replacement (replacements)."""
    protected: bool = False
    """`protect`ed: the engine refuses to delete it, so a replace or delete fails the update."""
    stateful: bool = False
    """Holds data: a replacement or deletion loses it."""


@dataclass
class Report:
    entries: list[Entry] = field(default_factory=list)
    policy: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    source: str = "pulumi preview"


def _name_and_type(urn: str) -> tuple[str, str]:
    parts = urn.split("::")
    typ = parts[-2].rsplit("$", 1)[-1] if len(parts) >= 2 else ""
    return parts[-1], typ


def from_events(lines: Iterable[str]) -> Report:
    """A report from an engine event log (one JSON event per line)."""
    report = Report()
    steps: dict[str, Entry] = {}
    for line in lines:
        if not line.strip():
            continue
        event = json.loads(line)
        if "resourcePreEvent" in event:
            meta = event["resourcePreEvent"].get("metadata") or {}
            op, urn = meta.get("op", ""), meta.get("urn", "")
            if op in _QUIET_OPS or not urn:
                continue
            kind = "replace" if op in _REPLACE_OPS else "delete" if op == "discard" else op
            name, typ = _name_and_type(urn)
            old = meta.get("old") or {}
            detailed = meta.get("detailedDiff") or {}
            if kind == "replace":
                forced = [
                    p
                    for p, d in detailed.items()
                    if str(d.get("diffKind", "")).endswith("-replace")
                ]
                paths = tuple(sorted(set(forced) | set(meta.get("keys") or [])))
            else:
                paths = tuple(sorted(detailed or meta.get("diffs") or []))
            entry = steps.get(urn)
            if entry is None or ORDER.index(kind) < ORDER.index(entry.op):
                steps[urn] = Entry(
                    kind,
                    name,
                    meta.get("type") or typ,
                    paths or (entry.paths if entry else ()),
                    protected=bool(old.get("protect")),
                    stateful=holds_data(
                        meta.get("type") or typ, (old or meta.get("new") or {}).get("inputs") or {}
                    ),
                )
        elif "policyEvent" in event:
            policy = event["policyEvent"]
            where = (
                _name_and_type(policy.get("resourceUrn") or "")[0]
                if policy.get("resourceUrn")
                else "stack"
            )
            report.policy.append(
                f"[{policy.get('enforcementLevel', '?')}] {policy.get('policyName', '?')} "
                f"({where}): {' '.join(str(policy.get('message', '')).split())}"
            )
        elif "diagnosticEvent" in event:
            diagnostic = event["diagnosticEvent"]
            if diagnostic.get("severity") == "error":
                report.errors.append(" ".join(str(diagnostic.get("message", "")).split()))
    report.entries = list(steps.values())
    return report


# --- Offline: the golden renders at two commits.


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def golden_files(ref: str, stack: str) -> dict[str, str]:
    """{file name: text} of tests/golden/<stack>/ at `ref` (empty when the stack is new)."""
    folder = f"tests/golden/{stack}/"
    names = [
        n for n in _git("ls-tree", "--name-only", ref, folder).splitlines() if n.endswith(".yaml")
    ]
    return {Path(n).name: _git("show", f"{ref}:{n}") for n in names}


def _kubernetes_type(obj: dict[str, Any]) -> str:
    api = str(obj.get("apiVersion", ""))
    group, _, version = api.rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{obj.get('kind', '')}"


def resources(files: dict[str, str]) -> dict[tuple[str, str], tuple[dict[str, Any], bool]]:
    """(type, name) -> (properties, protected) for every resource of a golden render."""
    found: dict[tuple[str, str], tuple[dict[str, Any], bool]] = {}
    for file, text in files.items():
        if file == "_outputs.yaml":
            continue
        if file == "_other-resources.yaml":
            for record in yaml.safe_load(text) or []:
                found[(record["type"], record["name"])] = (
                    record.get("inputs") or {},
                    bool(record.get("protect")),
                )
            continue
        for obj in yaml.safe_load_all(text):
            if isinstance(obj, dict):
                meta = obj.get("metadata") or {}
                name = "/".join(p for p in (meta.get("namespace"), meta.get("name")) if p)
                found[(_kubernetes_type(obj), name)] = (obj, False)
    return found


def diff_renders(base: dict[str, str], head: dict[str, str]) -> Report:
    report = Report(source="offline render (no cloud credentials)")
    old, new = resources(base), resources(head)
    for key in sorted(old.keys() | new.keys()):
        typ, name = key
        before, after = old.get(key), new.get(key)
        if before is None and after is not None:
            report.entries.append(Entry("create", name, typ))
            continue
        if after is None and before is not None:
            stateful = holds_data(typ, before[0])
            report.entries.append(Entry("delete", name, typ, (), before[1], stateful))
            continue
        assert before is not None and after is not None
        a, b = dict(flatten(before[0])), dict(flatten(after[0]))
        paths = tuple(sorted(p for p in a.keys() | b.keys() if a.get(p) != b.get(p)))
        if not paths:
            continue
        forced = replacing(typ, paths)
        stateful = holds_data(typ, before[0])
        if forced:
            report.entries.append(Entry("replace", name, typ, forced, before[1], stateful))
        else:
            report.entries.append(Entry("update", name, typ, paths))
    return report


def policy_findings(stack: str, pack: Optional[Path] = None) -> list[str]:
    """The policy pack over an offline run of the checked-out program, as comment lines. `pack`:
    another checkout's pack directory (CI: the base branch's), with that pack's thresholds."""
    from .offline import run_stack
    from .policy_check import PACK, check, load_config, policies

    directory = (pack or PACK).resolve()
    return [
        f"[{f.level}] {f.policy} ({_name_and_type(f.urn)[0] if f.urn else 'stack'}): {f.message}"
        for f in check(run_stack(stack), load_config(stack, directory), policies(directory))
    ]


# --- The comment.


def marker(stack: str) -> str:
    return f"<!-- webapp-preview:{stack} -->"


def _paths(paths: tuple[str, ...], most: int = 6) -> str:
    if not paths:
        return ""
    shown = ", ".join(f"`{p}`" for p in paths[:most])
    return shown + (f" and {len(paths) - most} more" if len(paths) > most else "")


def _line(entry: Entry) -> str:
    flags = []
    if entry.protected:
        flags.append("**protected: the update will stop here**")
    if entry.stateful:
        flags.append("**holds data**")
    why = _paths(entry.paths)
    detail = "; ".join(
        x for x in (why and f"because of {why}" if entry.op == "replace" else why, *flags) if x
    )
    return f"- `{entry.name}` ({entry.type})" + (f": {detail}" if detail else "")


def summary(report: Report) -> str:
    counts = {op: sum(e.op == op for e in report.entries) for op in ORDER}
    parts = [f"{n} {TITLES[op].lower()}" for op, n in counts.items() if n]
    blocking = sum(p.startswith("[mandatory]") for p in report.policy)
    text = ", ".join(parts) or "no changes"
    if blocking:
        text += f"; **{blocking} mandatory policy violation(s): the update is blocked**"
    elif report.policy:
        text += f"; {len(report.policy)} advisory policy finding(s)"
    if report.errors:
        text += f"; **{len(report.errors)} error(s)**"
    return text


def _kept_whole(report: Report) -> list[str]:
    """Errors, replacements and deletions, policy findings: never cut."""
    lines: list[str] = []
    if report.errors:
        lines += ["#### Errors", *(f"- {e}" for e in report.errors), ""]
    risky = [e for e in report.entries if e.op in ("replace", "delete")]
    if risky:
        lines.append("#### Replacements and deletions (read these first)")
        for op in ("replace", "delete"):
            chosen = sorted(
                (e for e in risky if e.op == op), key=lambda e: (not e.stateful, e.type, e.name)
            )
            lines += [f"- **{TITLES[op].lower()}** " + _line(e)[2:] for e in chosen]
        lines.append("")
    if report.policy:
        lines += ["#### Policy", *(f"- {p}" for p in sorted(report.policy)), ""]
    return lines


def _listed(op: str, entries: list[Entry], room: int) -> tuple[str, int]:
    """A collapsed section of `entries` in at most `room` characters, and how many it left off."""
    section = [f"<details><summary>{TITLES[op]} ({len(entries)})</summary>", ""]
    closing = ["", "</details>", ""]
    shown = 0
    for entry in entries:
        line = _line(entry)
        if len("\n".join(section + [line] + closing)) + 200 > room:
            break
        section.append(line)
        shown += 1
    if shown < len(entries):
        section.append(f"- ... {len(entries) - shown} more: see the full diff")
    return "\n" + "\n".join(section + closing), len(entries) - shown


def comment(stack: str, report: Report, footer: str = "", budget: int = BUDGET) -> str:
    """The whole comment, at most `budget` characters (plus the footer)."""
    head = [marker(stack), f"### `{stack}`: {summary(report)}", f"_Source: {report.source}._", ""]
    text = "\n".join(head + _kept_whole(report))
    left_off = 0
    for op in ("update", "create", "import"):
        entries = sorted((e for e in report.entries if e.op == op), key=lambda e: (e.type, e.name))
        if entries:
            section, missing = _listed(op, entries, budget - len(text))
            text += section
            left_off += missing
    if left_off:
        text += f"\n_{left_off} change(s) left off to fit the comment limit._\n"
    return text + (f"\n{footer}\n" if footer else "")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="the pull-request comment for one stack")
    sub = parser.add_subparsers(dest="source", required=True)
    preview = sub.add_parser("preview", help="from `pulumi preview --event-log`")
    preview.add_argument("--events", type=Path, required=True)
    offline = sub.add_parser("offline", help="from the golden renders at two commits")
    offline.add_argument("--base", required=True)
    offline.add_argument("--head", default="HEAD")
    offline.add_argument(
        "--policy", action="store_true", help="run the policy pack over the checked-out program"
    )
    offline.add_argument(
        "--pack",
        type=Path,
        default=None,
        help="with --policy: the pack's directory (CI: the base branch's), default policy/",
    )
    for p in (preview, offline):
        p.add_argument("--stack", required=True)
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--footer", default="")
    args = parser.parse_args(argv)
    if args.source == "preview":
        if not args.events.exists():
            report = Report(
                errors=[f"the preview wrote no event log ({args.events}): see the job log"]
            )
        else:
            report = from_events(args.events.read_text().splitlines())
    else:
        report = diff_renders(
            golden_files(args.base, args.stack), golden_files(args.head, args.stack)
        )
        if args.policy:
            report.policy = policy_findings(args.stack, args.pack)
    text = comment(args.stack, report, args.footer)
    args.out.write_text(text)
    print(f"{args.stack}: {summary(report)} ({len(text)} characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
