"""Modes are `Literal` types: the type checker rejects a comparison with a value a mode cannot
have, so a typo in a component is found before any stack runs."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import get_args

from components.config import azure, settings
from tools.offline import ROOT

SNIPPET = """
from components.config.settings import Settings

def wired(settings: Settings) -> bool:
    return settings.cloud == "{cloud}" and settings.routing.mode == "{mode}"
"""


def mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    module = tmp_path / "snippet.py"
    module.write_text(source)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            # A cache of its own per run: the two snippets have the same size and may share an
            # mtime second, which mypy's incremental cache would take for an unchanged file.
            "--cache-dir",
            tempfile.mkdtemp(dir=tmp_path),
            str(module),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_mistyped_mode_is_a_type_error(tmp_path: Path) -> None:
    good = mypy(tmp_path, SNIPPET.format(cloud="aws", mode="gateway"))
    assert good.returncode == 0, good.stdout
    typo = mypy(tmp_path, SNIPPET.format(cloud="asw", mode="gateway"))
    assert typo.returncode == 1
    assert "Non-overlapping equality check" in typo.stdout and "asw" in typo.stdout


def test_the_allowed_values_are_the_literal_types() -> None:
    assert settings.CLOUDS == get_args(settings.Cloud) == ("none", "aws", "azure")
    assert settings.ROUTING_MODES == ("gateway", "ingress")
    assert settings.DATABASE_MODES == ("in-cluster", "managed")
    assert settings.ADDON_MODES == ("install", "present")
    assert azure.DELIVERY_MODES == ("csi", "external-secrets")
