"""Checks across stack files (`tools.stacks`): one VNet has one address space, one namespace one
stack; `make lock` refuses to write while they disagree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tools import lock as lock_tool
from tools import stacks
from tools.offline import ROOT, load_stack_config, stack_names

SUBNET = (
    "/subscriptions/1c5b4a3e-0000-4000-8000-00000000000b/resourceGroups/rg-network/providers/"
    "Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet}"
)


def azure(vnet: str, cidr: str) -> dict[str, object]:
    return {
        "webapp:azure": {
            "clusterSubnetId": SUBNET.format(vnet=vnet, subnet="snet-aks"),
            "databaseSubnetId": SUBNET.format(vnet=vnet, subnet="snet-postgres"),
            "vnetCidr": cidr,
        }
    }


def test_the_shipped_stacks_agree() -> None:
    assert stacks.problems() == []
    vnets = {
        stack: stacks.vnet_of(load_stack_config(stack)["webapp:azure"]["databaseSubnetId"])
        for stack in stack_names()
    }
    assert len(set(vnets.values())) == 1  # the check has something to compare


def test_one_vnet_with_two_address_spaces_is_refused() -> None:
    # What staging and production shipped before issue 22.
    (found,) = stacks.vnet_problems(
        {
            "staging": azure("vnet-webapp", "10.41.0.0/16"),
            "production": azure("vnet-webapp", "10.42.0.0/16"),
        }
    )
    assert found == (
        "webapp:azure.vnetCidr: VNet vnet-webapp is given different address spaces (production "
        "10.42.0.0/16, staging 10.41.0.0/16); expected the one address space of that VNet in "
        "every stack that names it"
    )
    # ARM ids are case-insensitive: the same VNet spelt in another case is still one VNet.
    assert stacks.vnet_problems(
        {"a": azure("vnet-webapp", "10.41.0.0/16"), "b": azure("VNET-WEBAPP", "10.42.0.0/16")}
    )
    assert not stacks.vnet_problems(
        {"a": azure("vnet-a", "10.41.0.0/16"), "b": azure("vnet-b", "10.42.0.0/16")}
    )


def test_two_stacks_in_one_namespace_are_refused() -> None:
    (found,) = stacks.namespace_problems({"dev": "webapp", "scratch": "webapp", "staging": "x"})
    assert found.startswith("webapp:namespace: 'webapp' is the namespace of stacks dev, scratch; ")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.staging.yaml", "Pulumi.production.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_make_lock_refuses_while_a_sibling_stack_disagrees(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    production = project / "Pulumi.production.yaml"
    production.write_text(
        production.read_text().replace("vnetCidr: 10.41.0.0/16", "vnetCidr: 10.42.0.0/16")
    )
    before = (project / "Pulumi.staging.yaml").read_text()
    assert lock_tool.main(["staging"], root=project) == 2
    out = capsys.readouterr().out
    assert out.startswith("refused, nothing written:\n  - webapp:azure.vnetCidr: VNet vnet-webapp")
    assert (project / "Pulumi.staging.yaml").read_text() == before
    assert stacks.main(project) == 2


def test_a_broken_sibling_stack_file_does_not_block_the_others(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "Pulumi.scratch.yaml").write_text("config:\n  webapp:redis: {a: 1\n")
    assert stacks.problems(project) == []
    assert lock_tool.main(["staging"], root=project) == 0
