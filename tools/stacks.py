"""Checks across the stack files of this directory: what one stack file cannot see alone.

    python -m tools.stacks        # every Pulumi.<stack>.yaml here; exit 2 with one line a problem

- Two stacks naming the same Azure VNet (the `virtualNetworks/<name>` of `clusterSubnetId` or
  `databaseSubnetId`) give it the same `azure.vnetCidr`: a VNet has one address space, and the
  NetworkPolicies of the stack with the wrong one would open or close the wrong range.
- No two stacks deploy into the same namespace: each deletes its namespace with everything in it
  when it is destroyed, and both would fight over its quota and policies.

`make lock` runs these before it writes; `tests/config/test_stacks.py` runs them on the shipped
stack files.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Mapping, Optional

from components.config.settings import SettingsError

from .offline import ROOT, StackFileError, load_stack_config, stack_names

VNET = re.compile(
    r"^(/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/virtualNetworks/[^/]+)/",
    re.I,
)


def vnet_of(subnet_id: Any) -> Optional[str]:
    """The VNet resource id of a subnet id, lowercased (ARM ids are case-insensitive)."""
    match = VNET.match(subnet_id) if isinstance(subnet_id, str) else None
    return match.group(1).lower() if match else None


def vnet_problems(configs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Stacks that name one VNet with different `azure.vnetCidr`s (pure)."""
    cidrs: dict[str, dict[str, str]] = {}
    for stack, config in sorted(configs.items()):
        azure = config.get("webapp:azure")
        if not isinstance(azure, Mapping) or not isinstance(azure.get("vnetCidr"), str):
            continue
        for key in ("clusterSubnetId", "databaseSubnetId"):
            vnet = vnet_of(azure.get(key))
            if vnet:
                cidrs.setdefault(vnet, {})[stack] = azure["vnetCidr"]
    problems = []
    for vnet, by_stack in sorted(cidrs.items()):
        if len(set(by_stack.values())) > 1:
            name = vnet.rsplit("/", 1)[1]
            given = ", ".join(f"{stack} {cidr}" for stack, cidr in sorted(by_stack.items()))
            problems.append(
                f"webapp:azure.vnetCidr: VNet {name} is given different address spaces ({given}); "
                "expected the one address space of that VNet in every stack that names it"
            )
    return problems


def namespace_problems(namespaces: Mapping[str, str]) -> list[str]:
    """Stacks that deploy into one namespace (pure): `namespaces` maps stack -> its namespace."""
    owners: dict[str, list[str]] = {}
    for stack, namespace in sorted(namespaces.items()):
        owners.setdefault(namespace, []).append(stack)
    return [
        f"webapp:namespace: {namespace!r} is the namespace of stacks {', '.join(stacks)}; expected "
        "a namespace of each stack's own (destroying one would delete the other's data)"
        for namespace, stacks in sorted(owners.items())
        if len(stacks) > 1
    ]


def _namespace(config: Mapping[str, Any], stack: str) -> Optional[str]:
    from .lock import settings_without_lock

    try:
        return settings_without_lock(config, stack).namespace
    except SettingsError:
        return None  # the stack's own problems are reported when it runs


def problems(root: Path = ROOT) -> list[str]:
    """Every cross-stack problem of the stack files in `root`."""
    configs = {}
    for stack in stack_names(root):
        try:
            configs[stack] = load_stack_config(stack, root=root)
        except StackFileError:
            continue  # its own runs report it; a broken scratch file must not block the others
    namespaces = {
        stack: namespace
        for stack, config in configs.items()
        if (namespace := _namespace(config, stack)) is not None
    }
    return vnet_problems(configs) + namespace_problems(namespaces)


def main(root: Path = ROOT) -> int:
    try:
        found = problems(root)
    except StackFileError as error:
        print(error, file=sys.stderr)
        return 2
    for problem in found:
        print(problem, file=sys.stderr)
    return 2 if found else 0


if __name__ == "__main__":
    sys.exit(main())
