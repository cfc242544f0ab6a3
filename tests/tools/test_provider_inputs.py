"""Every AWS, Azure, random and Helm input, at any depth, is one the pinned provider has."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable

import pytest

from tests.support import STACKS
from tools import provider_inputs
from tools.golden import VARIANTS, variant_overrides
from tools.offline import Registered, StackRun


def provider_resources(run: StackRun) -> list[Registered]:
    return [
        record
        for record in run.resources
        if record.custom
        and not record.is_kubernetes_object
        and not record.type.startswith(("pulumi:", "webapp:"))
    ]


@pytest.mark.parametrize("stack,variant", [(s, v) for s in STACKS for v in VARIANTS])
def test_every_provider_input_is_the_schemas(
    stack: str, variant: str, stack_run: Callable[..., StackRun]
) -> None:
    for record in provider_resources(stack_run(stack, variant_overrides(stack, variant))):
        assert provider_inputs.problems(record) == [], record.type


def test_every_provider_resource_type_is_checked(stack_run: Callable[..., StackRun]) -> None:
    types = {
        record.type
        for stack in STACKS
        for variant in VARIANTS
        for record in provider_resources(stack_run(stack, variant_overrides(stack, variant)))
    }
    unchecked = {token for token in types if provider_inputs.args_class(token) is None}
    assert len(types) >= 20 and unchecked == {
        token for token in types if token.startswith("kubernetes:") and "helm" not in token
    }


def _one(run: StackRun, token: str) -> Registered:
    return next(record for record in run.resources if record.type == token)


def _broken(record: Registered, change: Callable[[dict[str, Any]], None]) -> list[str]:
    inputs = copy.deepcopy(record.inputs)
    change(inputs)
    return provider_inputs.problems(dataclasses.replace(record, inputs=inputs))


def test_a_broken_input_of_each_kind_is_caught(stack_run: Callable[..., StackRun]) -> None:
    rds = _one(stack_run("production"), "aws:rds/instance:Instance")
    server = _one(stack_run("staging"), "azure-native:dbforpostgresql:Server")
    vault = _one(stack_run("staging"), "azure-native:keyvault:Vault")
    secret = _one(stack_run("staging"), "azure-native:keyvault:Secret")
    cases = [
        (rds, lambda i: i.update(allocatedStorag=100), "allocatedStorag: unknown property"),
        (server, lambda i: i["sku"].update(nam="x"), "sku.nam: unknown property of SkuArgs"),
        (rds, lambda i: i.update(allocatedStorage="100"), "allocatedStorage: expected int"),
        (
            vault,
            lambda i: i["properties"]["sku"].update(name="gold"),
            "properties.sku.name: 'gold' is not one of",
        ),
        (secret, lambda i: i.pop("vaultName"), "vaultName: required by SecretArgs, missing"),
    ]
    for record, change, expected in cases:
        problems = _broken(record, change)
        assert any(expected in problem for problem in problems), (expected, problems)


def test_the_schemas_read_are_the_pinned_sdks() -> None:
    """The check reads the installed SDKs: they must be the versions requirements.txt pins."""
    from importlib.metadata import version

    from tools.offline import ROOT

    pins = dict(
        line.split("==")
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    for package in ("pulumi-aws", "pulumi-azure-native", "pulumi-random", "pulumi-kubernetes"):
        assert version(package) == pins[package], package
