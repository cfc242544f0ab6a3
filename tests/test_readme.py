"""The README stays true: its commands exist, CI runs the same one, every config key is documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import pytest

from components.config.catalogue import APP_SERVICES
from components.config.parsing import parse_settings
from components.platform import addons as addons
from tests.support import STACKS, github_anchor, readme_sections
from tools.offline import ROOT, StackRun, load_stack_config

README = (ROOT / "README.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()


def documented_keys() -> set[str]:
    return set(re.findall(r"`([a-zA-Z][\w.<>\[\]]*)`", README))


def consulted_keys(stack: str) -> set[str]:
    keys: set[str] = set()
    parse_settings(load_stack_config(stack), stack, keys)
    services = "|".join(APP_SERVICES)
    out = set()
    for key in keys:
        key = key.removeprefix("webapp:")
        key = re.sub(rf"^services\.({services})", "services.<name>", key)
        key = re.sub(r"\[\d+\]", "[]", key)
        key = re.sub(r"\.resources\..*$", ".resources", key)
        out.add(key)
    return out


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_every_config_key_is_in_the_reference(stack: str) -> None:
    documented = documented_keys()
    # A parent key counts as documented when its children are (e.g. `routing` via `routing.mode`).
    missing = sorted(
        k
        for k in consulted_keys(stack)
        if k not in documented
        and not any(d.startswith(k + ".") for d in documented)
        and not re.search(rf"`{re.escape(k)}` /|/ `{re.escape(k)}`", README)
    )
    assert not missing, f"config keys missing from the README reference: {missing}"


def test_the_two_commands_come_first_and_exist() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make test", "make render STACK=dev"]
    for target in ("test", "render", "up", "preview", "destroy", "golden", "bench", "kind"):
        assert re.search(rf"^{target}:", MAKEFILE, re.M), target


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


def test_chart_versions_in_the_readme_match_the_code() -> None:
    for chart in (
        addons.CERT_MANAGER,
        addons.ENVOY_GATEWAY,
        addons.PROMETHEUS_STACK,
        addons.EXTERNAL_SECRETS,
        addons.KEDA,
        addons.ISTIO_BASE,
        addons.ISTIOD,
        addons.ISTIO_CNI,
        addons.ECK,
    ):
        assert f"| {chart['version']} |" in README, chart
    # Argo Rollouts: the chart, the controller and the plugin in one cell.
    assert (
        f"| {addons.ARGO_ROLLOUTS['version']} (controller {addons.ARGO_ROLLOUTS_APP}) + "
        f"Gateway API plugin {addons.GATEWAY_API_PLUGIN} |" in README
    )
    assert f"| {addons.RABBITMQ_OPERATOR} |" in README


def test_every_path_the_readme_names_exists() -> None:
    """The file tree and the prose point at real files (a move that forgets the README fails)."""
    named = set(re.findall(r"`((?:components|tests|tools)/[\w/.-]+)`", README))
    assert named, "the README names no file"
    missing = sorted(path for path in named if not (ROOT / path.rstrip("/")).exists())
    assert missing == []


def test_the_branch_hostname_in_the_readme_is_the_one_the_code_builds() -> None:
    from tools.branch import branch_config, stack_name

    host = branch_config("feature/login-page")["webapp:domain"]
    assert f"namespace {stack_name('feature/login-page')}\n" in README
    assert f"`feature/login-page` -> `{host}`" in README
    assert (
        "`<slug>-<hash>.staging.webapp.example.com`" in README and "<branch>.staging" not in README
    )


def test_the_rate_limit_table_is_what_each_stack_declares(
    stack_run: Callable[..., StackRun],
) -> None:
    """Each row of "The rate limit a client gets": the limit each Envoy pod enforces, read from
    the stack's BackendTrafficPolicies, and what a client gets between one pod and every pod at
    the HPA maximum."""
    section = README.split("### The rate limit a client gets", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\w+) \| (\d+) \| (\d+)-(\d+) \| (\d+) \| ([^|]+) \|$", section, re.M)
    assert sorted(row[0] for row in rows) == sorted(STACKS)
    for stack, per_minute, low, high, per_pod, gets in rows:
        routing = parse_settings(load_stack_config(stack), stack).routing
        assert (routing.rate_limit_per_minute, routing.proxy_min_replicas) == (
            int(per_minute),
            int(low),
        )
        assert routing.proxy_max_replicas == int(high)
        declared = {
            rule["limit"]["requests"]
            for obj in stack_run(stack).kubernetes_objects()
            if obj["kind"] == "BackendTrafficPolicy" and "rateLimit" in obj["spec"]
            for rule in obj["spec"]["rateLimit"]["local"]["rules"]
        }
        assert declared == {int(per_pod)}, stack
        most = int(per_pod) * int(high)
        expected = per_pod if most == int(per_pod) else f"{per_pod} to {most}"
        assert gets.startswith(expected), (stack, gets)


SECTIONS = readme_sections(README)


def test_the_anchor_rule_follows_github() -> None:
    """GitHub's rule (github/cmark-gfm's anchor filter): lower case, punctuation but '-' and '_'
    dropped, each space a '-', a repeated heading suffixed -1, -2."""
    assert github_anchor("Deploying for real: `make up STACK=dev`") == (
        "deploying-for-real-make-up-stackdev"
    )
    assert github_anchor("The data lock (`make lock`)") == "the-data-lock-make-lock"
    assert set(readme_sections("# A\n## A\n```\n# A\n```\n### A\n")) == {"a", "a-1", "a-2"}
    assert "webappnosuchalert" not in SECTIONS


def test_every_link_in_the_readme_to_its_own_sections_resolves() -> None:
    links = re.findall(r"\]\((?:README\.md)?#([^)\s]+)\)", README)
    links += re.findall(r"README\.md#([\w-]+)", README)
    assert len(links) >= 5
    assert sorted({link for link in links if link not in SECTIONS}) == []


def _references(text: str) -> list[str]:
    """The README sections a file names: `README "Section"` (in comments, possibly wrapped over
    two comment lines), `README: Section` (in messages) and `README.md#anchor` links."""
    text = re.sub(r'"\s*\n\s*"', "", text)  # implicitly concatenated string literals
    text = re.sub(r"\s*\n\s*(?:#|//)?\s*", " ", text)  # wrapped comments
    names = re.findall(r'README "([^"]+)"', text)
    names += re.findall(r"README: ([A-Z][^),;.\"]*)", text)
    return [github_anchor(name) for name in names] + re.findall(r"README\.md#([\w-]+)", text)


def referring_files() -> list[Path]:
    found = [*ROOT.glob("Pulumi.*.yaml"), ROOT / "__main__.py", ROOT / "Makefile"]
    for folder in ("components", "tools", "policy", ".github", "tests"):
        found += [
            path
            for path in (ROOT / folder).rglob("*")
            if path.is_file()
            and path.suffix in {".py", ".yaml", ".yml", ".json", ".sh", ".js", ".md"}
        ]
    return found


def test_every_reference_to_a_readme_section_resolves() -> None:
    """Stack files, code, workflows, the policy pack and the tests point readers at README
    sections by name or anchor: each must be a heading the README has."""
    broken, seen = [], 0
    for path in referring_files():
        if path == Path(__file__):
            continue  # this module's docstrings show the forms
        for anchor in _references(path.read_text()):
            seen += 1
            if anchor not in SECTIONS:
                broken.append(f"{path.relative_to(ROOT)}: #{anchor}")
    assert seen >= 10
    assert broken == []


def test_the_architecture_names_every_tool() -> None:
    """The file tree's `tools/` entry names every module in tools/ (a new tool is listed)."""
    tree = README.split("\n## Architecture", 1)[1].split("\n## ", 1)[0]
    entry = re.search(r"^tools/ +(.*?)\n(?=\S)", tree, re.M | re.S)
    assert entry, "no tools/ entry in the architecture's file tree"
    named = set(re.findall(r"\w+", entry.group(1)))
    modules = {
        path.stem if path.is_file() else path.name
        for path in (ROOT / "tools").iterdir()
        if (path.suffix == ".py" or (path / "__init__.py").exists()) and path.stem != "__init__"
    }
    assert sorted(modules - named) == []


def test_the_prerequisites_of_make_up_name_what_it_runs_on() -> None:
    section = README.split("## Deploying for real", 1)[1].split("```", 1)[0]
    for tool in ("Pulumi CLI", "kubectl", "kind", "Docker", "`make kind`"):
        assert tool in section, tool


def test_no_unexplained_seed_numbers() -> None:
    """ "seed 003" means nothing to a reader: the README says what each earlier deployment was."""
    assert re.findall(r"\bseeds?\b(?: \d+)?", README, re.I) == []


def checklists() -> dict[str, str]:
    """Each `### Checklist: <cloud>` of "From clone to production", by cloud."""
    section = README.split("\n## From clone to production\n", 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"^### Checklist: (\w+)\n", section, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def steps(checklist: str) -> list[tuple[int, str]]:
    """The numbered steps, each with its continuation lines."""
    found = re.findall(r"^(\d+)\. (.*?)(?=^\d+\. |^\S|\Z)", checklist, re.M | re.S)
    return [(int(number), " ".join(text.split())) for number, text in found]


def read_keys() -> set[str]:
    return set().union(*(consulted_keys(stack) for stack in STACKS))


def test_there_is_a_checklist_per_cloud_numbered_in_order() -> None:
    lists = checklists()
    assert set(lists) == {"AWS", "Azure"}
    for cloud, checklist in lists.items():
        numbered = steps(checklist)
        assert [number for number, _ in numbered] == list(range(1, len(numbered) + 1)), cloud
        assert len(numbered) >= 10, cloud
        for number, text in numbered:
            assert "`" in text, f"{cloud} step {number} names no command or config key"
        texts = [text for _, text in numbered]
        at = {
            command: next(i for i, text in enumerate(texts) if f"`{command}" in text)
            for command in ("make test", "make lock", "make preview", "make up STACK=production")
        }
        assert at["make test"] == 0 and at["make lock"] < at["make preview"], cloud
        assert at["make preview"] < at["make up STACK=production"], cloud


@pytest.mark.parametrize("cloud", ["AWS", "Azure"])
def test_every_command_key_and_file_a_checklist_names_exists(cloud: str) -> None:
    text = " ".join(text for _, text in steps(checklists()[cloud]))
    targets = set(re.findall(r"\bmake ([a-z][\w-]*)", text))
    assert {"test", "lock", "render", "policy", "preview", "up"} <= targets
    assert sorted(t for t in targets if not re.search(rf"^{t}:", MAKEFILE, re.M)) == []
    for module in re.findall(r"-m (tools(?:\.\w+)+)", text):
        path = ROOT / module.replace(".", "/")
        assert path.with_suffix(".py").exists() or (path / "__init__.py").exists(), module
    keys = {key.rstrip(".") for key in re.findall(r"webapp:([A-Za-z][\w.<>]*)", text)}
    assert len(keys) >= 15
    read = read_keys()
    unknown = sorted(
        k for k in keys if k not in read and not any(r.startswith(k + ".") for r in read)
    )
    assert unknown == [], f"keys the program does not read: {unknown}"
    # Files: a path under a top-level entry, or a file name with an extension, in the steps or
    # the checklist's introduction.
    top = {path.name for path in ROOT.iterdir()}
    files = [
        span
        for span in re.findall(r"`([^`\s]+)`", checklists()[cloud])
        if ("/" in span and span.split("/")[0] in top)
        or re.fullmatch(r"[\w.-]+\.(?:yaml|json|py|md)", span)
    ]
    assert "Pulumi.production.yaml" in files
    assert [f for f in files if not (ROOT / f).exists()] == []
