"""Which modules of the big cloud SDKs mypy reads: the ones our code uses, derived from the code.

pulumi_aws (about 3,100 modules) and pulumi_azure_native (about 6,000) are generated packages
whose `__init__.py` imports every subpackage under `TYPE_CHECKING`, so one `import
pulumi_azure_native as azure` made mypy analyse the whole package: minutes and over 5 GB on a
first run. pyproject.toml's `[[tool.mypy.overrides]]` therefore skips these SDKs except:

- the package itself and its top-level modules (`provider`, `_inputs`, `_utilities`, ...), and
- each subpackage our code reaches (`azure.keyvault.Vault` -> `pulumi_azure_native.keyvault` and
  everything under it),

which mypy reads with their full types, so every call we make into them is type-checked as before.
`scope(root)` derives that list from the code (`ast`, no import is run) and the installed SDKs;
`tests/tools/test_typecheck_scope.py` fails when pyproject.toml's list differs, so a newly used
subpackage cannot silently type as `Any`.

    python -m tools.typecheck_scope     # prints the module list pyproject.toml should carry
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import tomllib
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_SDKS = ("pulumi_aws", "pulumi_azure_native")
"""The SDKs too big to read whole; the others (kubernetes, random, pulumi) are read whole."""
CHECKED = ("components", "tools", "policy")


def sdk_dir(sdk: str) -> Path:
    spec = importlib.util.find_spec(sdk)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{sdk} is not installed (make venv)")
    return Path(next(iter(spec.submodule_search_locations)))


def _names_read(tree: ast.AST, sdks: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(sdk, name) for each SDK name a module reads: `import sdk as x` then `x.name`, or
    `from sdk.name import ...`, or `from sdk import name`."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases.update((a.asname or a.name, a.name) for a in node.names if a.name in sdks)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            top, _, sub = node.module.partition(".")
            if top in sdks:
                names = [sub.split(".")[0]] if sub else [alias.name for alias in node.names]
                yield from ((top, name) for name in names)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in aliases:
                yield aliases[node.value.id], node.attr


def used_attributes(root: Path = ROOT) -> dict[str, set[str]]:
    """SDK -> the names our code reads from it (`keyvault`, `Provider`)."""
    used: dict[str, set[str]] = {sdk: set() for sdk in SKIPPED_SDKS}
    for package in CHECKED:
        for path in sorted((root / package).rglob("*.py")):
            for sdk, name in _names_read(ast.parse(path.read_text()), SKIPPED_SDKS):
                used[sdk].add(name)
    return used


def scope(root: Path = ROOT) -> list[str]:
    """The SDK modules mypy must read (follow_imports = "normal"), sorted."""
    modules: set[str] = set()
    for sdk, names in used_attributes(root).items():
        base = sdk_dir(sdk)
        modules.add(sdk)
        modules.update(
            f"{sdk}.{path.stem}" for path in base.glob("*.py") if path.stem != "__init__"
        )
        for name in names:
            if (base / name / "__init__.py").is_file():
                modules.add(f"{sdk}.{name}.*")  # matches the subpackage and its modules
    return sorted(modules)


def configured(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The modules pyproject.toml's mypy overrides read normally inside the skipped SDKs."""
    overrides = tomllib.loads(pyproject.read_text())["tool"]["mypy"].get("overrides", [])
    found: list[str] = []
    for override in overrides:
        if override.get("follow_imports") == "normal":
            names = override["module"]
            found.extend([names] if isinstance(names, str) else names)
    return sorted(found)


def main() -> int:
    wanted = scope()
    print("module = [")
    for module in wanted:
        print(f'    "{module}",')
    print("]")
    if wanted != configured():
        print(
            'pyproject.toml differs: paste the list above into its follow_imports = "normal" '
            "override",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
