"""The GitOps project keeps the main program's conventions (tests/test_conventions.py): Args fields
documented, short functions, names that are words, components typed `webapp:gitops:<Class>`
ending with `register_outputs`, and its package imports only the shared config and tools."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.test_conventions import letter_names, long_functions, parsed, undocumented_fields
from tools.offline import ROOT

MODULES = sorted((ROOT / "gitops").glob("*.py"))


def test_every_args_field_is_documented() -> None:
    assert undocumented_fields(MODULES) == []


def test_no_function_is_longer_than_80_lines() -> None:
    assert long_functions(MODULES) == []


def test_names_are_words_not_letters() -> None:
    assert letter_names(MODULES) == []


def components() -> list[tuple[Path, ast.ClassDef, str]]:
    found = []
    for path in MODULES:
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.ClassDef):
                for call in ast.walk(node):
                    if (
                        isinstance(call, ast.Call)
                        and getattr(call.func, "attr", "") == "__init__"
                        and call.args
                        and isinstance(call.args[0], ast.Constant)
                    ):
                        found.append((path, node, str(call.args[0].value)))
    return found


def test_components_are_typed_and_end_with_register_outputs() -> None:
    found = components()
    assert {token for _, _, token in found} == {"webapp:gitops:Operator", "webapp:gitops:ArgoCd"}
    for path, node, token in found:
        assert token == f"webapp:gitops:{node.name}"
        init = next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
        last = init.body[-1]
        assert (
            isinstance(last, ast.Expr)
            and getattr(last.value.func, "attr", "") == "register_outputs"
        ), path  # type: ignore[attr-defined]


def test_the_package_imports_only_the_shared_leaves() -> None:
    """gitops/ reads config helpers and the offline tools; it never builds the main program."""
    allowed = ("components.config", "tools.offline", "gitops", ".")
    for path in MODULES:
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module.startswith(("components", "tools")):
                    assert node.module.startswith(allowed), f"{path.name}: {node.module}"
