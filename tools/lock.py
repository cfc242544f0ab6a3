"""Write a stack's data lock (`webapp:dataLock`, `components.config.lock`) into its stack file.

    python -m tools.lock staging                          # make lock STACK=staging
    python -m tools.lock staging --accept nats.storageClass

Records the current values of the settings whose change would replace or delete data. A change
that loses data is recorded only when named with `--accept`, after its safe procedure (the
program's error spells both); anything else the lock is missing or holds stale is recorded as is.
The block is rewritten in place (comments elsewhere in the file stay as they are).
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from components.config.lock import LOCK_KEY, LOCKED, lock_problems, lock_values
from components.config.parsing import parse_settings
from components.config.settings import NAMESPACE, Settings

from . import stacks
from .offline import ROOT, SecretConfig, load_stack_config

BLOCK = re.compile(rf"^  {NAMESPACE}:{LOCK_KEY}:\n(?:    .*\n|\s*\n)*", re.MULTILINE)
COMMENT = (
    "  # What a change would replace or delete with its data, as deployed: the program refuses a\n"
    '  # config that differs. Written by `make lock` (README "Changing a running stack").\n'
)


def _plain(value: Any) -> tuple[Any, bool]:
    """A config value as the program reads it, and whether it holds a secret (offline wrappers
    and the stack file's encrypted `secure:` values stand for a value the lock never records)."""
    if isinstance(value, SecretConfig):
        return _plain(value.value)[0], True
    if isinstance(value, dict) and set(value) == {"secure"}:
        return "secret", True
    if isinstance(value, dict):
        pairs = {key: _plain(item) for key, item in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(s for _, s in pairs.values())
    if isinstance(value, list):
        items = [_plain(item) for item in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def decode(config: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The config as the program reads it, and the keys the runtime holds as secrets."""
    decoded = {key: _plain(value) for key, value in config.items()}
    raw = {key: value for key, (value, _) in decoded.items()}
    return raw, [key for key, (_, is_secret) in decoded.items() if is_secret]


def settings_without_lock(config: Mapping[str, Any], stack: str) -> Settings:
    """The stack's settings, validated in every way but the data lock."""
    raw, secret = decode(config)
    return parse_settings(raw, stack, secret_keys=secret, check_data_lock=False)


def current_lock(config: Mapping[str, Any], stack: str) -> dict[str, str]:
    """The lock the config needs."""
    return lock_values(settings_without_lock(config, stack))


def _scalar(value: str) -> str:
    """A lock value as YAML: flags bare (they read back as booleans, which the lock accepts)."""
    if value in ("true", "false"):
        return value
    return yaml.safe_dump(value, default_style=None).splitlines()[0]


def block(values: Mapping[str, str]) -> str:
    lines = [f"  {NAMESPACE}:{LOCK_KEY}:\n"]
    lines += [f"    {key}: {_scalar(value)}\n" for key, value in values.items()]
    return "".join(lines)


def write_lock(path: Path, values: Mapping[str, str]) -> None:
    """Replace the stack file's lock block, or append one (with its comment) to `config:`."""
    text = path.read_text()
    if BLOCK.search(text):
        text = BLOCK.sub(lambda _: block(values), text, count=1)
    else:
        text = text.rstrip("\n") + "\n" + COMMENT + block(values)
    path.write_text(text)


LOCKABLE = tuple(entry.key for entry in LOCKED)


def accept_problem(key: str) -> str:
    """One line for `ACCEPT=<key>` naming no locked setting (a typo would otherwise record
    nothing and leave the refusal standing, or worse, be read as accepted)."""
    close = difflib.get_close_matches(key, LOCKABLE, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"ACCEPT={key}: not a locked setting; {hint}expected one of {', '.join(LOCKABLE)}"


def main(argv: Optional[list[str]] = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(description="record a stack's data lock")
    parser.add_argument("stack")
    parser.add_argument(
        "--accept",
        action="append",
        default=[],
        help="a setting whose data-losing change was prepared by its safe procedure",
    )
    args = parser.parse_args(argv)
    unknown = [key for key in args.accept if key not in LOCKABLE]
    if unknown:
        for key in unknown:
            print(accept_problem(key))
        return 2
    shared = stacks.problems(root)
    if shared:
        print("refused, nothing written:\n" + "\n".join(f"  - {problem}" for problem in shared))
        return 2
    config = load_stack_config(args.stack, root=root)
    settings = settings_without_lock(config, args.stack)
    recorded = config.get(f"{NAMESPACE}:{LOCK_KEY}") or {}
    losing, _ = lock_problems(settings, recorded, accepted=tuple(args.accept))
    if losing:
        print("refused, nothing written:\n" + "\n".join(f"  - {problem}" for problem in losing))
        return 1
    values = lock_values(settings)
    write_lock(root / f"Pulumi.{args.stack}.yaml", values)
    print(f"Pulumi.{args.stack}.yaml: {NAMESPACE}:{LOCK_KEY} records {len(values)} settings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
