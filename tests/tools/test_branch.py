"""Per-branch environments: slugs, stack files and the pulumi CLI calls of `make branch-up/down`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

from components.config.parsing import parse_settings
from tests.azure.support import credentials
from tests.support import records
from tools.branch import BranchNameError, branch_config, branch_slug, stack_name
from tools.offline import StackRun, load_stack_config, run_stack
from tools.render import validate_run

# --- Per-branch environments ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "branch, slug",
    [
        ("feature/login-page", "login-page"),
        ("Feature/Login_Page", "login-page"),
        ("refs/heads/feature/JIRA-123/fix it!", "jira-123-fix-it"),
        ("bugfix/ünïcødé-brånch", "bugfix-unicode-branch"),
        ("release/1.2.3", "release-1-2-3"),
        ("--leading--and--trailing--", "leading-and-trailing"),
        ("UPPER", "upper"),
        (
            "a" * 200,
            "a" * 47 + "-" + __import__("hashlib").sha256(("a" * 200).encode()).hexdigest()[:7],
        ),
        ("feat/emoji-🚀-launch", "emoji-launch"),
        (
            "dependabot/npm_and_yarn/frontend/lodash-4.17.21",
            "dependabot-npm-and-yarn-frontend-lodash-4-17-21",
        ),
    ],
)
def test_branch_names_map_to_valid_namespaces(branch: str, slug: str) -> None:
    from components.config.quantities import is_dns_label

    assert branch_slug(branch) == slug
    assert is_dns_label(stack_name(branch)) and len(stack_name(branch)) <= 63


@pytest.mark.parametrize("branch", ["", "   ", "///", "🚀🚀", "feature/", "---"])
def test_branch_names_without_letters_are_rejected(branch: str) -> None:
    with pytest.raises(BranchNameError, match="branch name"):
        branch_slug(branch)


def test_long_branches_do_not_collide() -> None:
    a, b = "feature/" + "x" * 80 + "-one", "feature/" + "x" * 80 + "-two"
    assert stack_name(a) != stack_name(b)


def test_branch_stack_runs_and_validates(stack_run: Callable[..., StackRun]) -> None:
    from tools.render import validate_run

    branch = "feature/Login_Page"
    run = run_stack(stack_name(branch), config=branch_config(branch))
    assert run.outputs["namespace"] == "feature-login-page"
    assert run.outputs["url"] == "https://login-page.staging.webapp.example.com"
    assert not validate_run(run)
    objects = run.kubernetes_objects()
    assert any(
        o["kind"] == "StatefulSet" and o["metadata"]["name"] == "postgres" for o in objects
    )  # in-cluster database
    assert not records(run, "azure-native:dbforpostgresql:Server")
    assert not records(run, "kubernetes:helm.sh/v3:Release")  # staging's add-ons are shared
    subjects = set(credentials(run))
    assert "system:serviceaccount:feature-login-page:api" in subjects
    vault = records(run, "azure-native:keyvault:Vault")[0].inputs
    assert vault["properties"].get("enablePurgeProtection") is None  # a branch vault can be purged
    assert (
        vault["vaultName"]
        != records(stack_run("staging"), "azure-native:keyvault:Vault")[0].inputs["vaultName"]
    )


def test_branch_config_command_prints_the_stack_file(capsys: pytest.CaptureFixture[str]) -> None:
    from tools.branch import main

    assert main(["config", "🚀"]) == 2
    assert main(["url", "feature/Login-Page"]) == 0
    assert (
        capsys.readouterr().out.splitlines()[-1] == "https://login-page.staging.webapp.example.com"
    )
    assert json.dumps(branch_config("feature/x"))  # serialisable


def test_branch_up_and_down_drive_the_pulumi_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commands `make branch-up/branch-down` run, with a stand-in `pulumi` that records its calls."""
    import os
    import stat

    import yaml

    from tools.branch import main, stack_file

    log = tmp_path / "calls"
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    branch = "feature/Test-Branch-Env"
    path = stack_file(branch)
    try:
        assert main(["up", branch]) == 0
        written = yaml.safe_load(path.read_text())["config"]
        assert written == branch_config(branch)
        parse_settings(written, stack_name(branch))  # the file it writes is valid config
        assert main(["up", branch, "--policy-pack"]) == 0
        assert main(["down", branch]) == 0
        assert not path.exists()
        assert log.read_text().splitlines() == [
            "stack select --create feature-test-branch-env",
            "up --yes --stack feature-test-branch-env",
            "stack select --create feature-test-branch-env",
            "up --yes --stack feature-test-branch-env --policy-pack policy "
            "--policy-pack-config policy/config/dev.json",
            "destroy --yes --stack feature-test-branch-env",
            "stack rm --yes feature-test-branch-env",
        ]
    finally:
        path.unlink(missing_ok=True)


def test_two_branch_stacks_share_the_staging_gateway(stack_run: Callable[..., StackRun]) -> None:
    """One Gateway, one Envoy fleet, one load balancer and one wildcard DNS record for every
    branch: each branch declares only its routes, attached to staging's `*.<domain>` listener."""
    import fnmatch

    staging = stack_run("staging")
    gateway = staging.find("Gateway", "webapp", "webapp-staging")
    listener = next(
        each for each in gateway["spec"]["listeners"] if each["name"] == "branches-https"
    )
    assert listener["hostname"] == "*.staging.webapp.example.com"
    selector = listener["allowedRoutes"]["namespaces"]
    assert selector == {
        "from": "Selector",
        "selector": {"matchLabels": {"webapp.io/gateway": "webapp-staging"}},
    }
    certificate = staging.find("Certificate", "webapp-branches-tls", "webapp-staging")
    assert certificate["spec"]["dnsNames"] == ["*.staging.webapp.example.com"]
    assert certificate["spec"]["issuerRef"]["name"] == "letsencrypt-dns01"  # DNS-01 for a wildcard
    assert listener["tls"]["certificateRefs"][0]["name"] == "webapp-branches-tls"

    for branch in ("feature/login-page", "feature/Dark_Mode"):
        run = run_stack(stack_name(branch), config=branch_config(branch))
        objects = run.kubernetes_objects()
        kinds = {o["kind"] for o in objects}
        assert not kinds & {"Gateway", "EnvoyProxy", "Certificate", "ClusterIssuer"}, branch
        assert not any(
            o["kind"] == "Service" and o["spec"].get("type") == "LoadBalancer" for o in objects
        )
        namespace = next(o for o in objects if o["kind"] == "Namespace")
        labels = namespace["metadata"]["labels"]
        assert selector["selector"]["matchLabels"].items() <= labels.items(), branch
        routes = [o for o in objects if o["kind"] == "HTTPRoute"]
        assert {r["metadata"]["name"] for r in routes} == {"webapp", "webapp-websocket"}
        for route in routes:
            assert route["spec"]["parentRefs"] == [
                {
                    "name": "webapp",
                    "namespace": "webapp-staging",
                    "sectionName": "branches-https",
                    "kind": "Gateway",
                    "group": "gateway.networking.k8s.io",
                }
            ]
            (host,) = route["spec"]["hostnames"]
            assert host == f"{branch_slug(branch)}.staging.webapp.example.com"
            # The listener's wildcard matches exactly one label.
            assert fnmatch.fnmatch(host, listener["hostname"]) and "." not in host.split(".")[0]
        # Each proxy of the shared fleet enforces its share: the branch divides by the same count.
        assert branch_config(branch)["webapp:routing"]["proxyMinReplicas"] == 2
        assert not validate_run(run), branch


def test_branches_need_a_staging_that_hosts_them() -> None:
    base = load_stack_config("staging")
    routing = {k: v for k, v in base["webapp:routing"].items() if k != "branches"}
    with pytest.raises(SystemExit, match="does not host branch environments"):
        branch_config("feature/x", {**base, "webapp:routing": routing})
