"""`make bench` rewrites BENCHMARKS.md but keeps the `make test` figures measured by hand."""

from __future__ import annotations

from pathlib import Path

from tools import bench
from tools.offline import ROOT


def test_rewriting_keeps_the_hand_measured_section(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    assert bench.kept_sections(out) == []
    out.write_text(
        f"# Benchmarks\n\n| stack | old |\n\n{bench.MEASURED_BY_HAND}\n\n| run | minutes |\n| cold | 5 |\n"
    )
    kept = bench.kept_sections(out)
    assert kept[0] == bench.MEASURED_BY_HAND
    assert "| cold | 5 |" in kept and "| stack | old |" not in kept


def test_the_committed_results_carry_the_make_test_figures() -> None:
    text = (ROOT / "BENCHMARKS.md").read_text()
    assert bench.MEASURED_BY_HAND in text
    assert text.index("## Synthesis per shipped stack") < text.index(bench.MEASURED_BY_HAND)
