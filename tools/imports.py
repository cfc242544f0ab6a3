"""The import rules of `components/`, read from the packages themselves (pure; no import is run).

Each package's `__init__.py` docstring ends with a `May import:` paragraph naming the other
packages of `components` it may import (or none). `violations(root)` reads every module's
imports with `ast` (function-local and `TYPE_CHECKING` imports included: they couple packages
just the same) and reports each import that crosses a boundary its package does not declare,
and each cloud SDK imported outside its cloud's package and `app`.

`rule_problems(declared)` checks the declared table itself against the architecture, so a
docstring cannot simply be loosened:

- `config` and `kube` import no other package (pure configuration; generic helpers);
- `aws` and `azure` never import each other;
- `platform`, `workloads` and `data` import no cloud package;
- nothing imports `app`, the only package that composes across the others;
- no cycle between packages.

    python -m tools.imports          # prints every violation, exits 1 if there is one
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "components"
CLOUDS = ("aws", "azure")
CLOUD_SDKS = {"pulumi_aws": "aws", "pulumi_azure_native": "azure"}
"""SDK module -> the cloud package that may use it (besides `app`)."""
NEUTRAL = ("platform", "workloads", "data")
LEAVES = ("config", "kube")
COMPOSER = "app"
_MAY_IMPORT = re.compile(r"^May import:(.*?)(?:\n\s*\n|\Z)", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    package: str
    """The importing module's package (`aws` for components/aws/kms.py)."""
    module: str
    """The imported module as written (`components.azure.store`, `pulumi_aws`)."""


def packages(root: Path) -> list[str]:
    base = root / PACKAGE
    return sorted(entry.name for entry in base.iterdir() if (entry / "__init__.py").is_file())


def declared(root: Path) -> dict[str, set[str]]:
    """Package -> the packages its docstring says it may import."""
    table: dict[str, set[str]] = {}
    for package in packages(root):
        init = root / PACKAGE / package / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        found = _MAY_IMPORT.search(doc)
        if found is None:
            raise ValueError(f"{init}: the docstring has no 'May import:' paragraph")
        names = re.findall(rf"\b{PACKAGE}\.(\w+)", found.group(1))
        table[package] = set(names)
    return table


def _imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                # `from components import x` imports the package components.x.
                is_package = node.module == PACKAGE
                yield node.lineno, f"{node.module}.{alias.name}" if is_package else node.module


def imports(root: Path) -> list[Import]:
    found = []
    for path in sorted((root / PACKAGE).rglob("*.py")):
        relative = path.relative_to(root / PACKAGE)
        package = relative.parts[0] if len(relative.parts) > 1 else ""
        for line, module in _imported_modules(ast.parse(path.read_text())):
            found.append(Import(path=path, line=line, package=package, module=module))
    return found


def violations(root: Path = ROOT) -> list[str]:
    """Every import that breaks its package's declared rule, as `file:line: message`."""
    table = declared(root)
    problems = []
    for item in imports(root):
        where = f"{item.path.relative_to(root)}:{item.line}"
        top = item.module.split(".")[0]
        if not item.package and item.path.name != "__init__.py":
            problems.append(f"{where}: a module outside every package; move it into one")
            continue
        if top == PACKAGE and "." in item.module and item.package:
            target = item.module.split(".")[1]
            if target != item.package and target not in table[item.package]:
                allowed = ", ".join(sorted(table[item.package])) or "no other package"
                problems.append(
                    f"{where}: {item.package} imports {item.module}; {item.package} may import "
                    f"{allowed} (its __init__.py says so)"
                )
        owner = CLOUD_SDKS.get(top)
        if owner and item.package not in (owner, COMPOSER):
            problems.append(
                f"{where}: {item.package} imports the {owner} SDK {top}; only {PACKAGE}/{owner} "
                f"and {PACKAGE}/{COMPOSER} may"
            )
    return problems


def _cycles(table: Mapping[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for target in sorted(table.get(node, ())):
            if target in path:
                found.append(path[path.index(target) :] + [target])
            elif target in table:
                visit(target, path + [target])

    for start in sorted(table):
        visit(start, [start])
    return found


def rule_problems(table: Mapping[str, set[str]]) -> list[str]:
    """Where the declared table itself breaks the architecture."""
    problems = []
    for package in LEAVES:
        if table.get(package):
            problems.append(f"{package} may import no other package, not {sorted(table[package])}")
    for cloud in CLOUDS:
        others = set(CLOUDS) - {cloud}
        if table.get(cloud, set()) & others:
            problems.append(f"{cloud} may not import {sorted(others)}: the clouds stay apart")
    for package in NEUTRAL:
        if table.get(package, set()) & set(CLOUDS):
            problems.append(f"{package} may not import a cloud package")
    for package, targets in table.items():
        if COMPOSER in targets:
            problems.append(f"{package} may not import {COMPOSER}: only it composes the others")
    for cycle in _cycles(table):
        problems.append(f"packages import each other: {' -> '.join(cycle)}")
    return problems


def main() -> int:
    problems = rule_problems(declared(ROOT)) + violations(ROOT)
    for problem in problems:
        print(problem)
    print(f"import rules: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
