"""The code conventions the layout depends on, read from the source with `ast` (nothing runs):
type tokens name the package a component lives in, every Args field is documented, functions stay
short, names are words, and `register_outputs` is a component's last statement."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator

import pytest

from tools.offline import ROOT

COMPONENTS = ROOT / "components"
MODULES = sorted(COMPONENTS.rglob("*.py"))
MAX_FUNCTION_LINES = 80


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def component_classes() -> Iterator[tuple[Path, ast.ClassDef, str]]:
    """(module, class, type token) of every ComponentResource subclass."""
    for path in MODULES:
        for node in ast.walk(parsed(path)):
            if not isinstance(node, ast.ClassDef):
                continue
            for call in ast.walk(node):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "__init__"
                    and isinstance(call.func.value, ast.Call)
                    and getattr(call.func.value.func, "id", "") == "super"
                    and call.args
                    and isinstance(call.args[0], ast.Constant)
                    and str(call.args[0].value).startswith("webapp:")
                ):
                    yield path, node, str(call.args[0].value)


def test_there_are_components() -> None:
    assert len(list(component_classes())) >= 20


@pytest.mark.parametrize(
    "path, node, token", list(component_classes()), ids=lambda v: getattr(v, "name", "")
)
def test_type_token_names_the_package_and_the_class(
    path: Path, node: ast.ClassDef, token: str
) -> None:
    package = path.relative_to(COMPONENTS).parts[0]
    assert token == f"webapp:{package}:{node.name}"


@pytest.mark.parametrize(
    "path, node, token", list(component_classes()), ids=lambda v: getattr(v, "name", "")
)
def test_register_outputs_is_the_last_statement(path: Path, node: ast.ClassDef, token: str) -> None:
    init = next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    last = init.body[-1]
    assert (
        isinstance(last, ast.Expr)
        and isinstance(last.value, ast.Call)
        and getattr(last.value.func, "attr", "") == "register_outputs"
    ), f"{relative(path)}:{last.lineno}: {token} does not end with register_outputs"


def undocumented_fields(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        for node in ast.walk(parsed(path)):
            if not (isinstance(node, ast.ClassDef) and node.name.endswith("Args")):
                continue
            for index, statement in enumerate(node.body):
                if not isinstance(statement, ast.AnnAssign):
                    continue
                following = node.body[index + 1] if index + 1 < len(node.body) else None
                if not (
                    isinstance(following, ast.Expr)
                    and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)
                ):
                    found.append(f"{path.name}:{statement.lineno} {node.name}")
    return found


def long_functions(paths: list[Path]) -> list[str]:
    return [
        f"{path.name}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in paths
        for node in ast.walk(parsed(path))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]


def letter_names(paths: list[Path]) -> list[str]:
    """Single-letter parameters, locals and loop variables (`_` excepted)."""
    found = []
    for path in paths:
        for node in ast.walk(parsed(path)):
            names: list[tuple[str, int]] = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                names += [(argument.arg, node.lineno) for argument in arguments]
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.append((node.id, node.lineno))
            found += [
                f"{path.name}:{line} {name}"
                for name, line in names
                if len(name) == 1 and name != "_"
            ]
    return found


def test_every_args_field_is_documented() -> None:
    assert undocumented_fields(MODULES) == []


def test_no_function_is_longer_than_80_lines() -> None:
    assert long_functions(MODULES) == []


def test_names_are_words_not_letters() -> None:
    assert letter_names(MODULES) == []


def test_the_checks_find_a_violation(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text(
        "from dataclasses import dataclass\n\n\n@dataclass\nclass ThingArgs:\n    size: int\n\n\n"
        "def build(x):\n" + "    total = [item for item in range(3)]\n" * 80
    )
    assert undocumented_fields([module]) == ["bad.py:6 ThingArgs"]
    assert long_functions([module]) == ["bad.py:9 build (81 lines)"]
    assert letter_names([module]) == ["bad.py:9 x"]
