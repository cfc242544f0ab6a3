"""Per-branch environments: slugs, injective stack names, stack files and the pulumi CLI calls of
`make branch-up/down` (which act only on a stack tagged for their exact branch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

from components.config.parsing import parse_settings
from tests.azure.support import credentials
from tests.support import records
from tools.branch import BranchNameError, branch_config, branch_hash, branch_slug, label, stack_name
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
        ("a" * 200, "a" * 46),
        ("feat/emoji-🚀-launch", "emoji-launch"),
        (
            "dependabot/npm_and_yarn/frontend/lodash-4.17.21",
            "dependabot-npm-and-yarn-frontend-lodash-4-17-2",  # cut to leave room for the hash
        ),
    ],
)
def test_branch_names_map_to_valid_namespaces(branch: str, slug: str) -> None:
    from components.config.quantities import is_dns_label

    assert branch_slug(branch) == slug
    assert is_dns_label(stack_name(branch)) and len(stack_name(branch)) <= 63
    assert stack_name(branch) == f"feature-{slug}-{branch_hash(branch)}"
    assert is_dns_label(label(branch))  # one label under the staging domain's wildcard


def test_the_longest_name_fills_a_namespace_exactly() -> None:
    import hashlib

    digest = hashlib.sha256(("a" * 200).encode()).hexdigest()[:8]
    assert stack_name("a" * 200) == "feature-" + "a" * 46 + "-" + digest
    assert len(stack_name("a" * 200)) == 63


def test_similar_branches_get_their_own_stacks_and_hosts() -> None:
    """The slug is shared; the name is not: closing one pull request cannot reach another's."""
    similar = [
        "feature/login-page",
        "login-page",
        "feat/Login_Page",
        "Feature/login-page",
        "feature/login_page",
        "features/login-page",
    ]
    assert {branch_slug(b) for b in similar} == {"login-page"}
    assert len({stack_name(b) for b in similar}) == len(similar)
    assert len({branch_config(b)["webapp:domain"] for b in similar}) == len(similar)
    # One branch, however git spells it, is one stack.
    assert stack_name("refs/heads/feature/login-page") == stack_name("feature/login-page")


@pytest.mark.parametrize("branch", ["", "   ", "///", "🚀🚀", "feature/", "---"])
def test_branch_names_without_letters_are_rejected(branch: str) -> None:
    with pytest.raises(BranchNameError, match="branch name"):
        branch_slug(branch)


def test_long_branches_do_not_collide() -> None:
    a, b = "feature/" + "x" * 80 + "-one", "feature/" + "x" * 80 + "-two"
    assert stack_name(a) != stack_name(b)
    assert branch_config(a)["webapp:domain"] != branch_config(b)["webapp:domain"]


def test_branch_stack_runs_and_validates(stack_run: Callable[..., StackRun]) -> None:
    from tools.render import validate_run

    branch = "feature/Login_Page"
    run = run_stack(stack_name(branch), config=branch_config(branch))
    digest = branch_hash(branch)
    assert run.outputs["namespace"] == f"feature-login-page-{digest}"
    assert run.outputs["url"] == f"https://login-page-{digest}.staging.webapp.example.com"
    assert not validate_run(run)
    objects = run.kubernetes_objects()
    assert any(
        o["kind"] == "StatefulSet" and o["metadata"]["name"] == "postgres" for o in objects
    )  # in-cluster database
    assert not records(run, "azure-native:dbforpostgresql:Server")
    assert not records(run, "kubernetes:helm.sh/v3:Release")  # staging's add-ons are shared
    subjects = set(credentials(run))
    assert f"system:serviceaccount:feature-login-page-{digest}:api" in subjects
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
        capsys.readouterr().out.splitlines()[-1]
        == f"https://login-page-{branch_hash('feature/Login-Page')}.staging.webapp.example.com"
    )
    assert main(["name", "feature/Login-Page"]) == 0
    assert capsys.readouterr().out.strip() == stack_name("feature/Login-Page")
    assert json.dumps(branch_config("feature/x"))  # serialisable


FAKE_PULUMI = """#!{python}
# A stand-in `pulumi`: logs its arguments and keeps each stack's tags in a file, as a backend would.
import json, pathlib, sys
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(" ".join(args) + "\\n")
tags = pathlib.Path({tags!r})
def stack():
    return args[args.index("--stack") + 1]
if args[:3] == ["stack", "tag", "ls"]:
    if not (tags / stack()).exists():
        sys.exit(f"error: no stack named '{{stack()}}' found")
    print((tags / stack()).read_text())
elif args[:3] == ["stack", "tag", "set"]:
    known = json.loads((tags / stack()).read_text())
    (tags / stack()).write_text(json.dumps({{**known, args[3]: args[4]}}))
elif args[:2] == ["stack", "init"]:
    (tags / args[2]).write_text(json.dumps({{"pulumi:project": "webapp"}}))
elif args[:2] == ["stack", "rm"]:
    (tags / args[3]).unlink()
"""


@pytest.fixture()
def fake_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A stand-in `pulumi` on PATH: (its call log, its directory of stack tags)."""
    import os
    import stat
    import sys

    log, tags = tmp_path / "calls", tmp_path / "tags"
    tags.mkdir()
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir()
    fake.write_text(FAKE_PULUMI.format(python=sys.executable, log=str(log), tags=str(tags)))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    return log, tags


def test_branch_up_and_down_drive_the_pulumi_cli(fake_pulumi: tuple[Path, Path]) -> None:
    """The commands `make branch-up/branch-down` run, with a stand-in `pulumi` that records its calls."""
    import yaml

    from tools.branch import main, stack_file

    log, tags = fake_pulumi
    branch = "feature/Test-Branch-Env"
    name = stack_name(branch)
    path = stack_file(branch)
    try:
        assert main(["up", branch]) == 0
        written = yaml.safe_load(path.read_text())["config"]
        assert written == branch_config(branch)
        parse_settings(written, name)  # the file it writes is valid config
        assert json.loads((tags / name).read_text())["webapp:branch"] == branch
        assert main(["up", branch, "--policy-pack"]) == 0
        assert main(["up", branch, "--policy-pack", "base/policy"]) == 0
        assert main(["down", branch]) == 0
        assert not path.exists()
        assert log.read_text().splitlines() == [
            f"stack tag ls --json --stack {name}",
            f"stack init {name}",
            f"stack tag set webapp:branch feature/Test-Branch-Env --stack {name}",
            # Always with a pack: policy/ by default, the base branch's when CI names it.
            f"up --yes --stack {name} --policy-pack policy "
            "--policy-pack-config policy/config/dev.json",
            f"stack tag ls --json --stack {name}",  # exists and is this branch's: no init
            f"up --yes --stack {name} --policy-pack policy "
            "--policy-pack-config policy/config/dev.json",
            f"stack tag ls --json --stack {name}",
            f"up --yes --stack {name} --policy-pack base/policy "
            "--policy-pack-config base/policy/config/dev.json",
            f"stack tag ls --json --stack {name}",
            f"destroy --yes --stack {name}",
            f"stack rm --yes {name}",
        ]
    finally:
        path.unlink(missing_ok=True)


def test_a_stack_of_another_branch_is_never_touched(
    fake_pulumi: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """`down` (and `up`) of a stack tagged for another branch, or not tagged at all (created by
    hand or before branches were tagged), is refused and runs nothing that changes it."""
    from tools.branch import main, stack_file

    log, tags = fake_pulumi
    branch = "feature/login-page"
    name = stack_name(branch)
    try:
        # As if a hash collided, or someone pointed the tool at a neighbour's stack.
        (tags / name).write_text(json.dumps({"webapp:branch": "login-page"}))
        assert main(["down", branch]) == 2
        err = capsys.readouterr().err
        assert f"stack {name} was created for branch 'login-page', not 'feature/login-page'" in err
        assert main(["up", branch]) == 2
        (tags / name).write_text(json.dumps({"pulumi:project": "webapp"}))
        assert main(["down", branch]) == 2
        assert "has no webapp:branch tag" in capsys.readouterr().err
        calls = log.read_text().splitlines()
        assert calls and all(call.startswith("stack tag ls") for call in calls), calls
        assert not stack_file(branch).exists()
        # A stack that does not exist (the pull request closed before its first up): nothing to do.
        (tags / name).unlink()
        assert main(["down", branch]) == 0
        assert "nothing to destroy" in capsys.readouterr().err
        assert not any(c.startswith(("destroy", "stack rm")) for c in log.read_text().splitlines())
    finally:
        stack_file(branch).unlink(missing_ok=True)


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
            assert host == f"{label(branch)}.staging.webapp.example.com"
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


def test_review_stacks_are_named_by_pull_request_and_driven_from_the_base_pack(
    fake_pulumi: tuple[Path, Path],
) -> None:
    """`up --pr` / `down --pr` (the workflows'): the stack `feature-pr-<N>`, tagged `pull/<N>`,
    held to the pack directory it is given (the base branch's in CI)."""
    from tools.branch import main, pr_target, target_file

    log, tags = fake_pulumi
    target = pr_target(42)
    try:
        assert main(["up", "--pr", "42", "--policy-pack", "base/policy"]) == 0
        assert json.loads((tags / "feature-pr-42").read_text())["webapp:branch"] == "pull/42"
        assert main(["down", "--pr", "42"]) == 0
        assert log.read_text().splitlines() == [
            "stack tag ls --json --stack feature-pr-42",
            "stack init feature-pr-42",
            "stack tag set webapp:branch pull/42 --stack feature-pr-42",
            "up --yes --stack feature-pr-42 --policy-pack base/policy "
            "--policy-pack-config base/policy/config/dev.json",
            "stack tag ls --json --stack feature-pr-42",
            "destroy --yes --stack feature-pr-42",
            "stack rm --yes feature-pr-42",
        ]
    finally:
        target_file(target).unlink(missing_ok=True)


def test_the_sweep_takes_only_closed_pull_requests_stacks(
    fake_pulumi: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from tools.branch import main, stale

    names = ["feature-pr-1", "org/webapp/feature-pr-2", "feature-pr-3", "staging", "feature-x-1"]
    assert stale(names, {2}) == ["feature-pr-1", "feature-pr-3"]
    assert main(["stale", "--open", "2,3", *names]) == 0
    assert capsys.readouterr().out.split() == ["feature-pr-1"]
    log, tags = fake_pulumi
    (tags / "feature-pr-1").write_text(json.dumps({"webapp:branch": "pull/1"}))
    (tags / "feature-pr-3").write_text(json.dumps({"webapp:branch": "someone-else"}))
    assert main(["sweep", "--open", "2", *names]) == 1  # feature-pr-3 is not a review stack's
    calls = log.read_text().splitlines()
    assert "destroy --yes --stack feature-pr-1" in calls
    assert not any("--stack feature-pr-3" in c and not c.startswith("stack tag ls") for c in calls)
    assert not any("staging" in c or "feature-pr-2" in c for c in calls)


def test_a_target_is_a_branch_or_a_pull_request_not_both(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tools.branch import main

    assert main(["name", "feature/x", "--pr", "4"]) == 2
    assert main(["name", "--pr", "0"]) == 2
    assert "not allowed" in capsys.readouterr().err
    assert main(["name", "--pr", "7"]) == 0
    assert capsys.readouterr().out.strip() == "feature-pr-7"
