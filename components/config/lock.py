"""The data lock (`webapp:dataLock`): the settings whose change would replace or delete data, as
last deployed, so that such a change is refused before any resource is declared.

Pure module. The program cannot see what the stack last deployed while it parses its config, so
the stack file records it: `make lock STACK=<stack>` (`tools.lock`) writes the current values of
the `LOCKED` settings into `webapp:dataLock`, and `check_lock` compares them with the config on
every run. A difference is refused with the key, both values, what the change would replace or
delete, and the safe procedure; `make lock` records a change that loses data only when it is
named (`ACCEPT=<key>`), after that procedure. A difference that loses nothing (volumes turned
on) only asks for `make lock`, so the record stays exact and every change to it is in a reviewed
diff.

This guards every stack, dev included. Production also `protect`s the same resources, so even a
recorded change fails at preview until they are unprotected (README "Changing a running stack").
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from components.config.locked import REPLACING, Locked, flag
from components.config.settings import Settings
from components.config.volumes import SIZES, VERSIONS

__all__ = ["LOCKED", "LOCK_KEY", "Locked", "check_lock", "lock_problems", "lock_values"]

LOCK_KEY = "dataLock"

LOCKED: tuple[Locked, ...] = (*REPLACING, *VERSIONS, *SIZES)
"""Every setting whose change replaces or deletes data, changes the version a data service reads
its data with, or shrinks a volume (`tests/app/test_lock_complete.py` derives them)."""


def lock_values(settings: Settings) -> dict[str, str]:
    """What `webapp:dataLock` must hold for these settings."""
    values = {entry.key: entry.value(settings) for entry in LOCKED}
    return {key: value for key, value in values.items() if value is not None}


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return flag(value)
    return str(value)


def lock_problems(
    settings: Settings, recorded: Mapping[str, Any], *, accepted: tuple[str, ...] = ()
) -> tuple[list[str], list[str]]:
    """(changes that would lose data, out-of-date entries) between the lock and the config.

    `accepted` keys are changes whose procedure was followed (`make lock ACCEPT=<key>`)."""
    stack, current = settings.stack, lock_values(settings)
    old = {str(key): _shown(value) for key, value in recorded.items()}
    known = {entry.key for entry in LOCKED}
    losing: list[str] = []
    stale = [
        f"webapp:{LOCK_KEY}.{key}: unknown; the lock records {', '.join(sorted(known))}"
        for key in sorted(old.keys() - known)
    ]
    relock = f"make lock STACK={stack}"
    protected = (
        " This stack protects its data, so the preview then names the resources to `pulumi state "
        "unprotect` first."
        if settings.protect
        else ""
    )
    for entry in LOCKED:
        before, after = old.get(entry.key), current.get(entry.key)
        if before == after:
            continue
        if before is None or after is None or entry.safe(before, after):
            now = "not recorded" if before is None else repr(before)
            stale.append(
                f"webapp:{LOCK_KEY}.{entry.key}: {now}, the config makes it {after!r} (a change "
                f"that loses no data); record it with `{relock}`"
            )
        elif entry.key not in accepted:
            losing.append(
                f"webapp:{entry.key}: {before!r} -> {after!r} would {entry.loses}. Safe "
                f"procedure: {entry.procedure}. Then record it: `{relock} ACCEPT={entry.key}` "
                f"(webapp:{LOCK_KEY} holds {before!r}).{protected}"
            )
    return losing, stale


def check_lock(
    settings: Settings, recorded: Optional[Mapping[str, Any]], problems: list[str]
) -> None:
    """Refuse a config that differs from the stack's data lock, or a stack without one."""
    if recorded is None:
        problems.append(
            f"webapp:{LOCK_KEY}: missing; it records the settings whose change would replace or "
            f"delete data ({', '.join(entry.key for entry in LOCKED)}). Write it with "
            f"`make lock STACK={settings.stack}` and commit the stack file"
        )
        return
    losing, stale = lock_problems(settings, recorded)
    problems.extend(losing + stale)
