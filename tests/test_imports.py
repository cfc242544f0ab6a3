"""The package boundaries of components/: each package imports only what its docstring declares,
and the declared table keeps the architecture (`tools/imports.py`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tools.imports import ROOT, declared, rule_problems, violations


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of components/ to break on purpose."""
    shutil.copytree(ROOT / "components", tmp_path / "components")
    return tmp_path


def append(tree: Path, module: str, line: str) -> None:
    path = tree / "components" / module
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_components_keep_their_boundaries() -> None:
    assert violations(ROOT) == []
    assert rule_problems(declared(ROOT)) == []


def test_every_package_declares_what_it_may_import() -> None:
    table = declared(ROOT)
    assert set(table) == {
        "app",
        "aws",
        "azure",
        "config",
        "data",
        "kube",
        "platform",
        "secrets",
        "workloads",
    }
    assert table["config"] == set() and table["kube"] == set()
    assert "app" not in set().union(*table.values())


def test_a_cloud_importing_the_other_cloud_fails(tree: Path) -> None:
    append(tree, "aws/kms.py", "from components.azure.store import AzureStore  # noqa")
    problems = violations(tree)
    assert len(problems) == 1
    assert problems[0].startswith("components/aws/kms.py:")
    assert "aws imports components.azure.store; aws may import config, kube, secrets" in problems[0]


@pytest.mark.parametrize(
    "module, line, expected",
    [
        ("data/redis.py", "from components.aws import rds", "data imports components.aws"),
        ("config/settings.py", "import components.kube.objects", "config imports components.kube"),
        ("kube/objects.py", "from components import secrets", "kube imports components.secrets"),
        (
            "workloads/nginx.py",
            "from components.app import stores",
            "workloads imports components.app",
        ),
        ("platform/edge.py", "import pulumi_aws", "platform imports the aws SDK pulumi_aws"),
        ("aws/kms.py", "import pulumi_azure_native", "aws imports the azure SDK"),
        # A function-local or TYPE_CHECKING import couples the packages just the same.
        ("secrets/store.py", "def f():\n    from components.data import nats", "secrets imports"),
    ],
)
def test_each_forbidden_import_is_named(tree: Path, module: str, line: str, expected: str) -> None:
    append(tree, module, line)
    problems = violations(tree)
    assert len(problems) == 1 and expected in problems[0], problems


def test_a_module_outside_every_package_fails(tree: Path) -> None:
    (tree / "components" / "loose.py").write_text("import pulumi\n")
    assert violations(tree) == [
        "components/loose.py:1: a module outside every package; move it into one"
    ]


@pytest.mark.parametrize(
    "package, allow, expected",
    [
        ("aws", "components.azure", "aws may not import ['azure']: the clouds stay apart"),
        ("config", "components.kube", "config may import no other package"),
        ("data", "components.aws", "data may not import a cloud package"),
        ("platform", "components.app", "platform may not import app"),
        ("secrets", "components.aws", "packages import each other: aws -> secrets -> aws"),
    ],
)
def test_a_loosened_rule_is_refused(tree: Path, package: str, allow: str, expected: str) -> None:
    """Editing a docstring to allow a forbidden import does not get it past the suite."""
    init = tree / "components" / package / "__init__.py"
    text = init.read_text()
    marker = "May import: (no other package of components)"
    if marker in text:
        text = text.replace(marker, f"May import: {allow}")
    else:
        text = text.replace("May import: ", f"May import: {allow}, ", 1)
    init.write_text(text)
    assert any(expected in problem for problem in rule_problems(declared(tree))), rule_problems(
        declared(tree)
    )


def test_a_package_without_the_declaration_is_an_error(tree: Path) -> None:
    (tree / "components" / "data" / "__init__.py").write_text('"""data."""\n')
    with pytest.raises(ValueError, match="no 'May import:' paragraph"):
        declared(tree)
