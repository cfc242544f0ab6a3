"""`routing.branches` (hosting branch environments) and `routing.sharedGateway` (being one)."""

from __future__ import annotations

from typing import Any

import pytest

from components.config.parsing import parse_settings
from components.config.settings import Settings, SettingsError
from tools.offline import load_stack_config

DEV = {"webapp:domain": "app.example.com", "webapp:kubernetes": {"context": "kind-webapp"}}
REVIEW = {
    "resourceGroup": "rg-webapp-review",
    "deployers": [{"kind": "User", "name": "review"}],
    "admins": [{"kind": "User", "name": "review-admin"}],
}
"""What a stack hosting review stacks must say besides its certificate source."""


def hosting(**listener: str) -> dict[str, Any]:
    return {**REVIEW, **listener}


def parse(routing: dict[str, Any], stack: str = "dev") -> Settings:
    return parse_settings({**DEV, "webapp:routing": routing}, stack, check_data_lock=False)


def problems(routing: dict[str, Any], stack: str = "dev") -> list[str]:
    with pytest.raises(SettingsError) as info:
        parse(routing, stack)
    return info.value.problems


def test_staging_hosts_branches_with_a_dns01_wildcard_certificate() -> None:
    routing = parse_settings(load_stack_config("staging"), "staging").routing
    assert routing.branches is not None and routing.branches.issuer == "letsencrypt-dns01"
    assert routing.shared_gateway is None
    secret = parse({"branches": hosting(secretName="wildcard-tls")}).routing.branches
    assert secret is not None and secret.secret_name == "wildcard-tls" and secret.issuer is None


@pytest.mark.parametrize(
    "branches,found",
    [({}, "found neither"), ({"issuer": "dns01", "secretName": "tls"}, "found issuer, secretName")],
)
def test_branches_need_exactly_one_certificate_source(branches: dict[str, str], found: str) -> None:
    (problem,) = problems({"branches": {**REVIEW, **branches}})
    assert problem.startswith("webapp:routing.branches: set exactly one of issuer")
    assert "a wildcard certificate needs DNS-01" in problem and problem.endswith(found)


def test_branches_only_on_a_gateway_outside_production() -> None:
    (ingress,) = problems({"mode": "ingress", "branches": hosting(issuer="dns01")})
    assert ingress == (
        "webapp:routing.branches: needs routing.mode gateway (branch hosts are Gateway listeners)"
    )
    production = problems({"branches": hosting(issuer="dns01")}, "production")
    assert any(p.startswith("webapp:routing.branches: not in production") for p in production)


def test_a_branch_on_a_shared_gateway_sets_nothing_about_its_own_certificate() -> None:
    shared = parse({"sharedGateway": "webapp-staging"}).routing
    assert shared.shared_gateway == "webapp-staging"
    found = problems(
        {"sharedGateway": "webapp-staging", "issuer": "acme", "acmeEmail": "ops@example.com"}
    )
    assert found == [
        f"webapp:routing.{key}: would be ignored with sharedGateway (the shared Gateway's "
        "wildcard certificate serves this host); remove it"
        for key in ("issuer", "acmeEmail")
    ]


def test_shared_gateway_combinations_are_refused() -> None:
    assert problems({"sharedGateway": "webapp-staging", "branches": hosting(issuer="x")}) == [
        "webapp:routing.sharedGateway: a stack either hosts branches (routing.branches) or is one"
    ]
    assert problems({"sharedGateway": "webapp-staging", "mode": "ingress"}) == [
        "webapp:routing.sharedGateway: needs routing.mode gateway"
    ]
    (bad,) = problems({"sharedGateway": "Webapp_Staging"})
    assert bad.startswith("webapp:routing.sharedGateway: 'Webapp_Staging' is not allowed")


def test_hosting_review_stacks_names_their_resource_group_and_identities() -> None:
    """Review stacks run pull-request code: staging must say where they may write (their own
    resource group) and who creates their namespaces, or it cannot host them."""
    found = problems({"branches": {"issuer": "dns01"}})
    assert [p.split(":")[1].strip() for p in found] == [
        "routing.branches.resourceGroup",
        "routing.branches.deployers",
        "routing.branches.admins",
    ]
    assert all("missing" in p for p in found)
    (bad,) = problems(
        {"branches": {**hosting(issuer="x"), "admins": [{"kind": "Robot", "name": "x"}]}}
    )
    assert bad.startswith("webapp:routing.branches.admins[0].kind: 'Robot' is not allowed")
    staging = parse_settings(load_stack_config("staging"), "staging").routing.branches
    assert staging is not None and staging.resource_group == "rg-webapp-review"
    assert staging.deployers and staging.admins and staging.deployers != staging.admins
