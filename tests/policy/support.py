"""Calling the pack's policies directly, as CrossGuard does, without the engine."""

from __future__ import annotations

import copy
from typing import Any, Mapping, Optional

from pulumi_policy import (
    Policy,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from tools.policy_check import options, policies

PACK = {p.name: p for p in policies()}


def violations(
    name: str,
    typ: str,
    props: Mapping[str, Any],
    config: Optional[Mapping[str, Any]] = None,
    protect: bool = False,
) -> list[str]:
    """What resource policy `name` reports for one resource."""
    policy = PACK[name]
    assert isinstance(policy, ResourceValidationPolicy), name
    found: list[str] = []
    args = ResourceValidationArgs(
        typ,
        unknown_checking_proxy(copy.deepcopy(dict(props))),
        f"urn:pulumi:t::p::{typ}::r",
        "r",
        options(protect),
        None,
        dict(config or {}),
    )
    policy.validate(args, lambda message, urn=None: found.append(message))
    return found


def stack_violations(
    name: str,
    resources: list[tuple[str, Mapping[str, Any]]],
    config: Optional[Mapping[str, Any]] = None,
) -> list[str]:
    """What stack policy `name` reports for a stack of (type, props)."""
    policy: Policy = PACK[name]
    assert isinstance(policy, StackValidationPolicy), name
    found: list[str] = []
    items = [
        PolicyResource(
            typ,
            unknown_checking_proxy(copy.deepcopy(dict(props))),
            f"urn:pulumi:t::p::{typ}::r{i}",
            f"r{i}",
            options(),
            None,
            None,
            [],
            {},
        )
        for i, (typ, props) in enumerate(resources)
    ]
    policy.validate(
        StackValidationArgs(items, dict(config or {})),
        lambda message, urn=None: found.append(message),
    )
    return found
