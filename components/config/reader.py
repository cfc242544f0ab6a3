"""Typed, problem-collecting access to a decoded config mapping (pure; used by settings parsing).

A `Reader` reads one level of `webapp:*` config. Every bad value is recorded as
`<key>: <value> is not allowed; expected <what>`, nothing raises, and `finish()` reports the keys
nobody read, so a misspelt key is an error instead of a silently ignored setting.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence, TypeVar

import yaml

from components.config import quantities as q


@dataclass(frozen=True)
class Rule:
    """A check on a string value and the words that say what it allows."""

    check: Callable[[str], bool]
    expected: str
    why: Optional[Callable[[str], Optional[str]]] = None
    """Why a value fails, when there is more to say than `expected` (uppercase in a hostname, a
    cron field out of range): appended to the problem in parentheses."""


ANY_TEXT = Rule(lambda value: True, "a string")
CPU = Rule(q.is_cpu, "a CPU quantity such as 250m or 1")
MEMORY = Rule(q.is_memory, "a memory quantity such as 256Mi or 1Gi")
STORAGE = Rule(q.is_memory, "a storage quantity such as 10Gi")
# Pinned in every stack: the policy pack's `images-pinned` rule (policy/webapp_policy) is
# mandatory everywhere, so an untagged image would pass here and block every `pulumi up`.
IMAGE = Rule(
    q.is_pinned_image,
    "an image reference pinned to a version tag or digest, such as "
    "registry.example.com/webapp-api:1.2.3 (no tag means :latest, which the policy pack's "
    "images-pinned rule refuses in every stack)",
)
CRON = Rule(q.is_cron, "a five-field cron expression", q.cron_problem)
DNS_LABEL = Rule(q.is_dns_label, "a DNS-1123 label of at most 63 characters", q.dns_label_problem)
HOSTNAME = Rule(q.is_hostname, "a hostname such as app.example.com", q.hostname_problem)
IDENTIFIER = Rule(
    q.is_sql_identifier, "a PostgreSQL identifier (lower case, digits, underscore; at most 63)"
)


_MISSING = object()


def shown(value: Any) -> str:
    """A value as the stack file would spell it (YAML): `false`, `null`, `'text'`, `[a, b]`."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return str(yaml.safe_dump(value, default_flow_style=True, width=10000)).strip()


Choice = TypeVar("Choice", bound=str)
"""A mode: one of a `Literal` type's values (`choice` returns it typed: a typo is a type error)."""


class Reader:
    """Typed access to one level of config; problems and unread (unknown) keys are recorded."""

    def __init__(
        self,
        data: Mapping[str, Any],
        path: str,
        problems: list[str],
        consulted: Optional[set[str]] = None,
    ):
        self._data = data
        self._path = path
        self._problems = problems
        self._seen: set[str] = set()
        self._consulted = consulted if consulted is not None else set()
        """Every dotted key any reader of this tree looked at (the config reference is checked
        against it).
        """

    @property
    def path(self) -> str:
        """This reader's own dotted key, e.g. `webapp:aws`."""
        return self._path

    def key(self, name: str) -> str:
        sep = "" if self._path.endswith(":") else "."
        return f"{self._path}{sep}{name}"

    def problem(self, name: str, value: Any, allowed: str) -> None:
        self._problems.append(
            f"{self.key(name)}: {shown(value)} is not allowed; expected {allowed}"
        )

    def nested(self, value: Mapping[str, Any], key: str) -> Reader:
        """A reader for a value found inside this one (a list item), sharing the problem list."""
        return Reader(value, key, self._problems, self._consulted)

    def report(self, message: str) -> None:
        """Record a problem that is not about one value (missing keys, cross-field rules)."""
        self._problems.append(message)

    def _raw(self, name: str) -> Any:
        self._seen.add(name)
        self._consulted.add(self.key(name))
        return self._data.get(name, _MISSING)

    def value(self, name: str) -> Any:
        """The raw value at `name` (None when unset), for a key of more than one shape; the caller
        checks it."""
        found = self._raw(name)
        return None if found is _MISSING else found

    def has(self, name: str) -> bool:
        """Whether the key is set (null and "" count as unset)."""
        return self._data.get(name) not in (None, "")

    def text(
        self,
        name: str,
        default: str,
        *,
        allowed: Optional[Sequence[str]] = None,
        rule: Rule = ANY_TEXT,
    ) -> str:
        found = self.opt_text(name, allowed=allowed, rule=rule)
        return default if found is None else found

    def opt_text(
        self, name: str, *, allowed: Optional[Sequence[str]] = None, rule: Rule = ANY_TEXT
    ) -> Optional[str]:
        """The string at `name`, or None when unset or invalid (the problem is recorded)."""
        value = self._raw(name)
        # "" is how Pulumi.yaml declares "no value" for a key whose default depends on the stack.
        if value is _MISSING or value is None or value == "":
            return None
        expected = f"one of {', '.join(allowed)}" if allowed is not None else rule.expected
        if (
            not isinstance(value, str)
            or (allowed is not None and value not in allowed)
            or not rule.check(value)
        ):
            why = rule.why(value) if isinstance(value, str) and rule.why else None
            self.problem(name, value, expected + (f" ({why})" if why else ""))
            return None
        return value

    def choice(self, name: str, default: Choice, allowed: Sequence[Choice]) -> Choice:
        """One of `allowed` (a `Literal` type's values), or `default` when unset or invalid."""
        found = self.opt_choice(name, allowed)
        return default if found is None else found

    def opt_choice(self, name: str, allowed: Sequence[Choice]) -> Optional[Choice]:
        """The member of `allowed` at `name`, or None when unset or invalid (recorded)."""
        found = self.opt_text(name, allowed=allowed)
        return next((option for option in allowed if option == found), None)

    def integer(self, name: str, default: int, *, minimum: int, maximum: int, why: str = "") -> int:
        """A whole number in [minimum, maximum]; `why` explains a bound in the problem."""
        value = self._raw(name)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            expected = (
                f"{minimum}"
                if minimum == maximum
                else f"a whole number from {minimum} to {maximum}"
            )
            self.problem(name, value, expected + (f" ({why})" if why else ""))
            return default
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            self.problem(name, value, "true or false")
            return default
        return value

    def section(self, name: str) -> Reader:
        value = self._raw(name)
        if value is _MISSING or value is None:
            value = {}
        elif not isinstance(value, Mapping):
            self.problem(name, value, "an object")
            value = {}
        return Reader(value, self.key(name), self._problems, self._consulted)

    def items(self) -> list[tuple[str, Any]]:
        return list(self._data.items())

    def sequence(self, name: str) -> list[Any]:
        value = self._raw(name)
        if value is _MISSING or value is None:
            return []
        if not isinstance(value, list):
            self.problem(name, value, "a list")
            return []
        return value

    def finish(self, known: Sequence[str] = ()) -> None:
        """Report keys nobody read: a typo must not be silently ignored."""
        allowed = sorted(self._seen | set(known))
        for name in self._data:
            if name in self._seen or name in known:
                continue
            message = f"{self.key(name)}: unknown key"
            close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
            first = name.split(".", 1)[0]
            if "." in name and first in allowed:
                # `pulumi config set webapp:services.api.image x` without --path stores a flat key.
                message += (
                    f"; to set {name} inside {self.key(first)}, use "
                    f"pulumi config set --path '{self.key(name)}' <value>"
                )
            elif close:
                message += f"; did you mean {close[0]}?"
            self._problems.append(f"{message} (allowed keys here: {', '.join(allowed) or 'none'})")
