"""RBAC subjects in config (pure; part of parsing): `webapp:namespaceDeleters` and the review
stacks' identities under `webapp:routing.branches`."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from components.config import quantities as q
from components.config.reader import Reader, Rule
from components.config.settings import SUBJECT_KINDS, Subject


def parse_subject(reader: Reader, key: str, value: Any) -> Optional[Subject]:
    """One `{kind, name[, namespace]}` at config key `key`; None (reported) when invalid."""
    if not isinstance(value, Mapping):
        reader.report(f"{key}: {value!r} is not allowed; expected an object with kind and name")
        return None
    sub = reader.nested(value, key)
    kind = sub.opt_choice("kind", SUBJECT_KINDS)
    name = sub.opt_text(
        "name", rule=Rule(lambda value: True, "a user, group or service account name")
    )
    namespace = sub.opt_text(
        "namespace", rule=Rule(q.is_dns_label, "a namespace name", q.dns_label_problem)
    )
    sub.finish()
    if kind is None or name is None:
        if kind is None and "kind" not in value:
            reader.report(f"{key}.kind: missing; expected one of {', '.join(SUBJECT_KINDS)}")
        if name is None and "name" not in value:
            reader.report(f"{key}.name: missing; expected a name")
        return None
    if kind == "ServiceAccount" and namespace is None:
        reader.report(f"{key}.namespace: missing; a ServiceAccount subject needs its namespace")
        return None
    return Subject(kind=kind, name=name, namespace=namespace)


def parse_subjects(reader: Reader, name: str) -> tuple[Subject, ...]:
    """The list of subjects at `reader`'s key `name` (empty when absent)."""
    return tuple(
        subject
        for index, value in enumerate(reader.sequence(name))
        if (subject := parse_subject(reader, f"{reader.key(name)}[{index}]", value)) is not None
    )
