"""`make render`: writes validated manifests, and refuses bad config with every problem listed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def test_render_never_writes_into_a_directory_it_does_not_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / "notes.txt").write_text("mine")
    (sandbox / "keep").mkdir()
    assert main(["--stack", "dev", "--out", str(sandbox)]) == 2
    err = capsys.readouterr().err
    assert f"refusing to write into {sandbox}" in err and "notes.txt" in err
    assert sorted(p.name for p in sandbox.iterdir()) == ["keep", "notes.txt"]
    assert (sandbox / "notes.txt").read_text() == "mine"


def test_render_refuses_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    checkout = tmp_path / "checkout"
    (checkout / ".git").mkdir(parents=True)
    (checkout / "README.md").write_text("x")
    monkeypatch.chdir(checkout)
    assert main(["--stack", "dev", "--out", "."]) == 2
    assert "refusing to write into ." in capsys.readouterr().err
    assert sorted(p.name for p in checkout.iterdir()) == [".git", "README.md"]


def test_render_replaces_only_what_it_wrote(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["--stack", "dev", "--out", str(out)]) == 0
    written = set((out / ".webapp-render").read_text().split())
    (out / "review-notes.md").write_text("a reviewer's notes")
    (out / "webapp-obsolete.yaml").write_text("from an older render")
    with (out / ".webapp-render").open("a") as marker:
        marker.write("webapp-obsolete.yaml\n../outside.yaml\n")
    (tmp_path / "outside.yaml").write_text("outside")
    assert main(["--stack", "dev", "--out", str(out)]) == 0
    assert (out / "review-notes.md").read_text() == "a reviewer's notes"
    assert not (out / "webapp-obsolete.yaml").exists()  # listed by the marker: its own file
    assert (tmp_path / "outside.yaml").read_text() == "outside"  # never a path out of the dir
    assert set((out / ".webapp-render").read_text().split()) == written


def test_render_into_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file.yaml"
    target.write_text("x")
    assert main(["--stack", "dev", "--out", str(target)]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err
    assert target.read_text() == "x"


def test_a_missing_stack_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "prod", "--out", str(tmp_path / "out")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("stack prod: no stack file Pulumi.prod.yaml in ")
    # Every stack file here is listed (a user's own stacks too, so not exactly the shipped three).
    listed = line.split("the stacks here are ", 1)[1].split(", ")
    assert {"dev", "production", "staging"} <= set(listed) and listed == sorted(listed)
    assert not (tmp_path / "out").exists()


def test_a_broken_stack_file_is_one_line_with_file_line_and_column(tmp_path: Path) -> None:
    from tools.offline import StackFileError, read_stack_file

    broken = tmp_path / "Pulumi.dev.yaml"
    broken.write_text(
        "config:\n  webapp:domain: app.example.com\n  webapp:routing: {mode: gateway\n"
    )
    with pytest.raises(StackFileError) as info:
        read_stack_file(broken)
    message = str(info.value)
    assert message.startswith("Pulumi.dev.yaml:4:1: not valid YAML: ")
    assert "\n" not in message


@pytest.mark.parametrize(
    "text, where, key",
    [
        # Two blocks of one section: PyYAML (and the old loader) kept the second silently.
        (
            "config:\n  webapp:redis:\n    persistence: true\n  webapp:domain: a.example.com\n"
            "  webapp:redis:\n    storageSize: 5Gi\n",
            "Pulumi.dev.yaml:5:3",
            "'webapp:redis' (first at line 2)",
        ),
        (
            "config:\n  webapp:nats:\n    replicas: 3\n    replicas: 1\n",
            "Pulumi.dev.yaml:4:5",
            "'replicas' (first at line 3)",
        ),
    ],
)
def test_a_duplicate_key_is_one_line_naming_both_lines(
    tmp_path: Path, text: str, where: str, key: str
) -> None:
    from tools.offline import StackFileError, read_stack_file

    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(text)
    with pytest.raises(StackFileError) as info:
        read_stack_file(stack_file)
    message = str(info.value)
    assert message.startswith(f"{where}: not valid YAML: duplicate key {key}; expected each key")
    assert "\n" not in message


def test_the_render_shows_the_cloud_settings_a_reviewer_needs() -> None:
    from tools.offline import run_stack
    from tools.render import render

    others = yaml.safe_load(render(run_stack("production"))["_other-resources.yaml"])
    by_type: dict[str, list[dict[str, Any]]] = {}
    for entry in others:
        by_type.setdefault(entry["type"], []).append(entry)
    (rds,) = by_type["aws:rds/instance:Instance"]
    assert rds["protect"] is True
    assert {
        key: rds["inputs"][key] for key in ("multiAz", "deletionProtection", "storageEncrypted")
    } == {"multiAz": True, "deletionProtection": True, "storageEncrypted": True}
    assert rds["inputs"]["publiclyAccessible"] is False
    policies = {
        p["inputs"]["name"]: p["inputs"]["policy"] for p in by_type["aws:iam/rolePolicy:RolePolicy"]
    }
    statements = policies["read-app-secrets"]["Statement"]  # the document, not a JSON string
    assert {s["Sid"] for s in statements} == {"ReadStackSecrets", "DecryptWithStackKey"}
    (key,) = by_type["aws:kms/key:Key"]
    assert key["inputs"]["enableKeyRotation"] is True


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_the_render_holds_no_generated_secret(stack: str) -> None:
    from tools.offline import mock_password, run_stack
    from tools.render import render

    run = run_stack(stack)
    generated = [
        mock_password(r.name, int(r.inputs["length"]), r.inputs.get("keepers"))
        for r in run.resources
        if r.type.endswith(":RandomPassword")
    ]
    assert generated
    for name, content in render(run).items():
        assert not [value for value in generated if value in content], name


def test_a_secret_shows_its_coordinates_and_masks_its_credentials() -> None:
    from tools.offline import run_stack
    from tools.render import render

    documents = yaml.safe_load_all(render(run_stack("dev"))["webapp-secrets.yaml"])
    database = next(d for d in documents if d["metadata"]["name"] == "webapp-database")
    assert database["stringData"]["host"] == "postgres.webapp-dev.svc.cluster.local"
    assert database["stringData"]["port"] == "5432" and database["stringData"]["dbname"] == "webapp"
    for key in ("username", "password", "connection-string", "url"):
        assert database["stringData"][key] == "<secret>", key


def test_set_overrides_a_key_for_one_render_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--set webapp:<key>=<YAML>`: a one-off render of another config, the stack file untouched."""
    from tools.offline import ROOT

    before = (ROOT / "Pulumi.dev.yaml").read_text()

    def api_env(out: Path) -> dict[str, Any]:
        api = yaml.safe_load_all((out / "webapp-api.yaml").read_text())
        (config_map,) = [d for d in api if d["kind"] == "ConfigMap"]
        return dict(config_map["data"])

    assert main(["--stack", "dev", "--out", str(tmp_path / "as-is")]) == 0
    assert (
        main(
            [
                "--stack",
                "dev",
                "--out",
                str(tmp_path / "set"),
                "--set",
                "webapp:logLevel=Warning",
                "--set",
                "webapp:routing={mode: ingress}",
            ]
        )
        == 0
    )
    assert api_env(tmp_path / "as-is")["Logging__LogLevel__Default"] != "Warning"
    assert api_env(tmp_path / "set")["Logging__LogLevel__Default"] == "Warning"
    rendered = {p.name: p.read_text() for p in (tmp_path / "set").glob("*.yaml")}
    assert any("kind: Ingress\n" in text for text in rendered.values())
    assert not any("kind: HTTPRoute\n" in text for text in rendered.values())
    assert (ROOT / "Pulumi.dev.yaml").read_text() == before
    capsys.readouterr()


@pytest.mark.parametrize(
    "item, said",
    [
        ("logLevel=Debug", "expected webapp:<key>=<YAML value>"),
        ("webapp:logLevel", "expected webapp:<key>=<YAML value>"),
        ("webapp:routing={mode: [", "the value is not valid YAML"),
    ],
)
def test_a_malformed_set_is_one_line(
    item: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--stack", "dev", "--out", str(tmp_path / "out"), "--set", item]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("stack dev: --set ") and said in line
    assert not (tmp_path / "out").exists()


def test_render_never_replaces_a_file_it_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In a directory it rendered before, a file of the user's that this render would write (the
    marker does not list it: say a component added since shares its name) is refused, by name,
    and nothing in the directory changes."""
    out = tmp_path / "out"
    assert main(["--stack", "dev", "--out", str(out)]) == 0
    marker = out / ".webapp-render"
    listed = marker.read_text().splitlines()
    marker.write_text("".join(f"{name}\n" for name in listed if name != "webapp-api.yaml"))
    (out / "webapp-api.yaml").write_text("the user's own notes")
    before = {p.name: p.read_text() for p in out.iterdir()}
    capsys.readouterr()
    assert main(["--stack", "dev", "--out", str(out)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"stack dev: refusing to write into {out}: webapp-api.yaml would be replaced and "
        ".webapp-render does not list it as written by an earlier render; move it away, or name "
        "another directory (OUT=...)"
    )
    assert {p.name: p.read_text() for p in out.iterdir()} == before


def test_paths_with_spaces(tmp_path: Path) -> None:
    """OUT with a space, and the repository itself under a path with a space: the Makefile quotes
    OUT, and the tools build paths, never shell strings."""
    import shlex
    import subprocess
    import sys

    from tests.support import program
    from tools.offline import ROOT

    dry = subprocess.run(
        [program("make"), "-n", "render", "OUT=rendered/my dev"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (command,) = [line for line in dry.splitlines() if "tools.render" in line]
    assert shlex.split(command)[-2:] == ["--out", "rendered/my dev"]

    copy = tmp_path / "my repo"
    copy.mkdir()
    archive = subprocess.run(
        [program("git"), "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run([program("tar"), "-x", "-C", str(copy)], input=archive, check=True)
    rendered = subprocess.run(
        [sys.executable, "-m", "tools.render", "--stack", "dev", "--out", "my out"],
        cwd=copy,
        capture_output=True,
        text=True,
    )
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert (copy / "my out" / "webapp-api.yaml").is_file()
