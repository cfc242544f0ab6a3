"""`webapp:secretRotation`: two generations of every rotated credential, and which one clients use.

Pure module. A shared credential (Redis' password, each NATS user's, the JWT key) has two
generations, `a` and `b`, each renewed by a label of its own. The servers always accept both (a
Redis ACL user with two passwords, two NATS users per client, two JWT verification keys); the
clients use one, `use`. So a rotation is two `pulumi up`s, each safe whatever order the pods
restart in:

1. renew the generation clients do *not* use (`b: 2027-Q1`): the servers restart accepting the
   one in use and the new one; no client changes value;
2. switch the clients (`use: b`): they roll onto a value every server already accepts.

The generation left behind stays valid until the next rotation renews it (the alternating-users
scheme of AWS's rotation strategies); renewing it again at once (step 1 on it) revokes it early.
`tools/rotate.py` prints the next step, and the rotation rehearsal (`tools/rehearsal/rotation.py`)
proves each step refuses no client.

A plain label (`secretRotation: 2026-Q4`) is generation `a` alone, in use: the servers then accept
only it, so renewing it would switch every side at once (what the rehearsal refuses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Optional, get_args

from components.config.reader import Reader, Rule

Generation = Literal["a", "b"]
GENERATIONS: tuple[Generation, ...] = get_args(Generation)
KEY = "secretRotation"

LABEL = Rule(
    lambda value: bool(re.fullmatch(r"[A-Za-z0-9._-]{1,40}", value)),
    "a label of letters, digits, '.', '_' or '-' (the rotation period, e.g. 2026-Q4)",
)


@dataclass(frozen=True, kw_only=True)
class SecretRotation:
    """The generations of the rotated credentials (`webapp:secretRotation`)."""

    label_a: str = ""
    """`a`: label of generation a; a new one renews its values. Default none (the first values)."""
    label_b: Optional[str] = None
    """`b`: label of generation b; None: there is no generation b (the servers accept a alone)."""
    use: Generation = "a"
    """The generation the clients use. Default a."""

    @property
    def accepted(self) -> tuple[Generation, ...]:
        """The generations the servers accept: both once b exists."""
        return GENERATIONS if self.label_b is not None else ("a",)

    def label(self, generation: Generation) -> str:
        """The label that renews `generation`'s values ("" for the first ones)."""
        return self.label_a if generation == "a" else (self.label_b or "")

    @property
    def standby(self) -> Optional[Generation]:
        """The accepted generation clients do not use (None with a alone)."""
        return next((found for found in self.accepted if found != self.use), None)


def parse_rotation(reader: Reader) -> SecretRotation:
    """A label (generation a alone) or `{a, b, use}`; every problem names the key."""
    raw: Any = reader.value(KEY)
    if raw is None or raw == "" or isinstance(raw, str):
        label = reader.text(KEY, "", rule=LABEL)
        return SecretRotation(label_a=label)
    if not isinstance(raw, dict):
        reader.problem(
            KEY, raw, "a label, or a mapping {a: <label>, b: <label>, use: a|b} (README: Rotation)"
        )
        return SecretRotation()
    section = reader.section(KEY)
    first = section.text("a", "", rule=LABEL)
    second = section.opt_text("b", rule=LABEL)
    use = section.choice("use", "a", GENERATIONS)
    section.finish()
    if use == "b" and second is None:
        section.report(
            f"{section.key('use')}: 'b' is not allowed; expected a while {section.key('b')} is "
            "unset (set b first: the servers must accept a generation before clients use it)"
        )
        return SecretRotation(label_a=first, label_b=second)
    return SecretRotation(label_a=first, label_b=second, use=use)


def nats_username(user: str, generation: Generation) -> str:
    """A NATS client's user in `generation`: nats-server refuses two entries of one user ("Duplicate
    user", server/opts.go), so generation b is a second user with the same permissions. `_` is in
    no service name (a DNS label), so it names no other client."""
    return user if generation == "a" else f"{user}_b"
