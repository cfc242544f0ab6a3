"""`make render`: writes validated manifests, and refuses bad config with every problem listed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tools.render import main


def test_render_writes_every_object_grouped_by_component(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--stack", "dev", "--out", str(tmp_path / "dev")]) == 0
    files = {p.name for p in (tmp_path / "dev").iterdir()}
    assert {
        "webapp-api.yaml",
        "webapp-namespace.yaml",
        "_other-resources.yaml",
        "_outputs.yaml",
    } <= files
    api = list(yaml.safe_load_all((tmp_path / "dev" / "webapp-api.yaml").read_text()))
    assert {d["kind"] for d in api} >= {
        "Deployment",
        "Service",
        "ServiceAccount",
        "ConfigMap",
        "NetworkPolicy",
    }
    others = yaml.safe_load((tmp_path / "dev" / "_other-resources.yaml").read_text())
    assert any(
        o["type"] == "kubernetes:helm.sh/v3:Release" and o["chart"] == "cert-manager"
        for o in others
    )
    assert "Kubernetes objects validated" in capsys.readouterr().out


def test_render_refuses_bad_config_listing_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "--stack",
            "dev",
            "--out",
            str(tmp_path / "bad"),
            "--set",
            "webapp:domain=not a domain",
            "--set",
            "webapp:services={api: {replicas: 0}}",
            "--set",
            "webapp:typo=1",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "webapp:domain: 'not a domain' is not allowed" in err
    assert "webapp:services.api.replicas: 0 is not allowed" in err
    assert "webapp:typo: unknown key" in err
    assert not (tmp_path / "bad").exists()


def test_without_crd_schemas_render_says_so_and_ci_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tools import validate

    monkeypatch.setenv("WEBAPP_CRD_SCHEMAS", str(tmp_path / "missing"))
    validate._crd_schema.cache_clear()
    try:
        monkeypatch.delenv("CI", raising=False)
        assert main(["--stack", "dev", "--out", str(tmp_path / "out")]) == 0
        err = capsys.readouterr().err
        assert "custom resources NOT validated" in err and "WEBAPP_CRD_SCHEMAS" in err
        monkeypatch.setenv("CI", "true")
        assert main(["--stack", "dev", "--out", str(tmp_path / "out2")]) == 1
        assert "no CRD schema for" in capsys.readouterr().err
    finally:
        monkeypatch.undo()
        validate._crd_schema.cache_clear()
