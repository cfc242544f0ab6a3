"""mypy reads every AWS and Azure SDK module our code uses (pyproject.toml skips the rest), so
no call into a cloud SDK types as `Any` unnoticed."""

from __future__ import annotations

from pathlib import Path

from tools import typecheck_scope
from tools.offline import ROOT


def test_pyproject_reads_exactly_the_sdk_modules_the_code_uses() -> None:
    assert typecheck_scope.configured() == typecheck_scope.scope(), (
        "pyproject.toml's mypy scope is out of date: `python -m tools.typecheck_scope` prints it"
    )


def test_the_scope_follows_every_form_of_import(tmp_path: Path) -> None:
    package = tmp_path / "components"
    package.mkdir()
    (package / "one.py").write_text(
        "import pulumi_aws as aws\nimport pulumi_azure_native\n"
        "aws.iam.Role\npulumi_azure_native.keyvault.Vault\naws.Provider\n"
    )
    (package / "two.py").write_text(
        "from pulumi_aws.kms import Key\nfrom pulumi_azure_native import network, Provider\n"
    )
    for other in ("tools", "policy"):
        (tmp_path / other).mkdir()
    scope = typecheck_scope.scope(tmp_path)
    subpackages = {module for module in scope if module.endswith(".*")}
    assert subpackages == {
        "pulumi_aws.iam.*",
        "pulumi_aws.kms.*",
        "pulumi_azure_native.keyvault.*",
        "pulumi_azure_native.network.*",
    }
    # The packages themselves and their top-level modules (Provider lives in `provider`).
    assert {"pulumi_aws", "pulumi_aws.provider", "pulumi_azure_native.provider"} <= set(scope)


def test_the_skip_is_limited_to_the_two_big_sdks() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert 'module = ["pulumi_aws.*", "pulumi_azure_native.*"]\nfollow_imports = "skip"' in text
    assert text.count('follow_imports = "skip"') == 1
