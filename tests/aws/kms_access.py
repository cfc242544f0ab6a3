"""A model of how AWS KMS decides a request on a key, for the subset of the policy language the
program writes, so tests can ask what a key policy *allows* instead of what it *says*.

Read from:
- "Policy evaluation logic" (docs.aws.amazon.com/IAM/latest/UserGuide/
  reference_policies_evaluation-logic.html): an explicit Deny in any policy wins; otherwise a request
  is allowed only if a policy allows it; in a statement, Action, Resource, Principal and every
  condition must match.
- "Determining access to an AWS KMS key" and "Default key policy"
  (docs.aws.amazon.com/kms/latest/developerguide/determining-access.html, key-policy-default.html):
  the key policy is the root of access; a statement whose principal is the account
  (`arn:aws:iam::<account>:root`) lets IAM policies of that account grant access, so an IAM
  principal needs an Allow in both; the root user needs only the key policy's.
- "Condition operators" (reference_policies_elements_condition_operators.html): values of one key
  are ORed, keys and operators ANDed; `StringLike`/`ArnLike` take `*` and `?`; a key missing from
  the request matches no positive operator; `Bool` compares "true"/"false".
- Action names are case-insensitive and `*`/`?` wildcards (reference_policies_elements_action.html).

Not modelled (the program writes none of them): NotAction, NotPrincipal, NotResource, IfExists
operators, policy variables, grants, SCPs, permission boundaries and session policies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

Document = Mapping[str, Any]


def _list(value: Any) -> list[Any]:
    return [value] if isinstance(value, (str, bool)) else list(value)


def _like(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    """IAM's `*`/`?` glob (no character classes)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.fullmatch(regex, value, flags) is not None


def action_matches(pattern: str, action: str) -> bool:
    return pattern == "*" or _like(pattern, action, case_sensitive=False)


@dataclass(frozen=True)
class Request:
    principal: str
    """The caller's ARN: `arn:aws:iam::<account>:root` for the root user, the role's ARN for a
    role session (what `aws:PrincipalArn` carries)."""
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)
    """Request context keys (`kms:ViaService`, `kms:GrantIsForAWSResource`, ...). `aws:PrincipalArn`
    and `kms:CallerAccount` are filled in from the principal."""

    @property
    def account(self) -> str:
        return self.principal.split(":")[4]

    @property
    def is_root_user(self) -> bool:
        return self.principal.endswith(":root")

    def keys(self) -> dict[str, str]:
        keys = {"aws:PrincipalArn": self.principal, "kms:CallerAccount": self.account}
        keys.update(self.context)
        return {k.lower(): v for k, v in keys.items()}


OPERATORS = {
    "StringEquals": lambda want, got: want == got,
    "StringLike": lambda want, got: _like(want, got),
    "ArnEquals": lambda want, got: want == got,
    "ArnLike": lambda want, got: _like(want, got),
    "Bool": lambda want, got: str(want).lower() == str(got).lower(),
}


def conditions_match(conditions: Mapping[str, Mapping[str, Any]], request: Request) -> bool:
    keys = request.keys()
    for operator, pairs in conditions.items():
        if operator not in OPERATORS:
            raise ValueError(f"condition operator {operator} is not modelled")
        for key, wanted in pairs.items():
            got = keys.get(key.lower())
            if got is None:
                return False
            if not any(OPERATORS[operator](w, got) for w in _list(wanted)):
                return False
    return True


def _matches(statement: Document, request: Request) -> bool:
    for unsupported in ("NotAction", "NotResource", "NotPrincipal"):
        if unsupported in statement:
            raise ValueError(f"{unsupported} is not modelled")
    if not any(action_matches(a, request.action) for a in _list(statement["Action"])):
        return False
    if not any(_like(r, request.resource) for r in _list(statement.get("Resource", "*"))):
        return False
    return conditions_match(statement.get("Condition", {}), request)


def _principal_kind(statement: Document, request: Request) -> str | None:
    """How a key policy statement names the caller: "direct" (its own ARN or `*`), "account"
    (the caller's account, i.e. delegated to IAM) or None."""
    principal = statement.get("Principal")
    if principal == "*":
        return "direct"
    for arn in _list((principal or {}).get("AWS", [])):
        if arn == "*" or arn == request.principal:
            return "direct"
        if arn in (f"arn:aws:iam::{request.account}:root", request.account):
            return "account"
    return None


def _statements(document: Document) -> list[Document]:
    return [dict(s) for s in _list(document["Statement"])]


def allowed(key_policy: Document, identity_policies: Sequence[Document], request: Request) -> bool:
    """Whether KMS allows `request` on the key, given the caller's IAM (identity) policies."""
    key_statements = [
        (s, _principal_kind(s, request)) for s in _statements(key_policy) if _matches(s, request)
    ]
    key_statements = [(s, kind) for s, kind in key_statements if kind is not None]
    identity = [s for d in identity_policies for s in _statements(d) if _matches(s, request)]
    if any(s["Effect"] == "Deny" for s, _ in key_statements) or any(
        s["Effect"] == "Deny" for s in identity
    ):
        return False
    kinds = {kind for s, kind in key_statements if s["Effect"] == "Allow"}
    if "direct" in kinds:
        return True
    if "account" in kinds:
        return request.is_root_user or any(s["Effect"] == "Allow" for s in identity)
    return False


def identity_allows(identity_policies: Sequence[Document], request: Request) -> bool:
    """Whether the caller's own IAM policies allow `request` (no Deny, at least one Allow); for a
    resource without a resource policy this is the whole decision."""
    matching = [s for d in identity_policies for s in _statements(d) if _matches(s, request)]
    return bool(matching) and all(s["Effect"] == "Allow" for s in matching)
