"""Production deploys only a commit staging succeeded at: its Stack object pins the promoted commit,
and `python -m gitops.promote` refuses a commit staging's Stack status does not report as a
successful update.

The status objects are shaped as the operator writes them at v2.9.0
(pulumi/pulumi-kubernetes-operator, operator/internal/controller/pulumi/stack_controller.go):
`markStackSucceeded` sets `lastUpdate` {generation, name, type, state: succeeded,
lastAttemptedCommit, lastSuccessfulCommit (both the commit run), permalink, lastResyncTime,
failures: 0}; `markStackFailed` sets state `failed`, `lastAttemptedCommit` the commit run, and
copies the previous `lastSuccessfulCommit`; field names from operator/api/pulumi/shared/
stack_types.go (`StackUpdateState`) and operator/api/pulumi/v1/stack_types.go (`StackStatus`).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops import manifests, promote
from gitops.manifests import PromotionError
from gitops.program import load_settings
from tools.validate import validate_object

SETTINGS = load_settings("production")
PRODUCTION = next(env for env in SETTINGS.environments if env.stack == "production")
STAGING = next(env for env in SETTINGS.environments if env.stack == "staging")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
OLDER = "fedcba9876543210fedcba9876543210fedcba98"


def staging_object(**last_update: Any) -> dict[str, Any]:
    """Staging's Stack as `kubectl get -o json` returns it after a successful `up` at COMMIT
    (markStackSucceeded@v2.9.0), with `last_update` fields changed (None removes one)."""
    stack_object = copy.deepcopy(manifests.stack_manifest(SETTINGS, STAGING))
    stack_object["metadata"]["generation"] = 3
    last = {
        "generation": 3,
        "name": "webapp-staging-6f7d9",
        "type": "up",
        "state": "succeeded",
        "lastAttemptedCommit": COMMIT,
        "lastSuccessfulCommit": COMMIT,
        "permalink": "https://app.pulumi.com/example/webapp/staging/updates/42",
        "lastResyncTime": "2026-12-02T17:00:00Z",
        "failures": 0,
    }
    for key, value in last_update.items():
        if value is None:
            last.pop(key)
        else:
            last[key] = value
    stack_object["status"] = {
        "observedGeneration": 3,
        "lastUpdate": last,
        "conditions": [{"type": "Ready", "status": "True", "reason": "ProcessingCompleted"}],
    }
    return stack_object


def test_the_rendered_production_stack_pins_the_promoted_commit() -> None:
    promotions = manifests.load_promotions()
    for path, text in manifests.rendered(SETTINGS).items():
        spec = yaml.safe_load(text)["spec"]
        if path.parent.name == "production":
            assert spec["commit"] == promotions["production"] and "branch" not in spec
            assert spec["prerequisites"] == [{"name": "webapp-staging"}]
        else:
            assert spec["branch"] == SETTINGS.repository.branch and "commit" not in spec
    pinned = manifests.stack_manifest(SETTINGS, PRODUCTION, {"production": COMMIT})
    validate_object(pinned)
    assert pinned["spec"]["commit"] == COMMIT


def test_a_gated_environment_without_a_promoted_commit_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(PromotionError, match="python -m gitops.promote production <commit>"):
        manifests.stack_manifest(SETTINGS, PRODUCTION, {})
    monkeypatch.setattr(manifests, "PROMOTIONS", tmp_path / "promotions.yaml")
    assert manifests.main(["--check"]) == 1
    assert "no commit promoted for production" in capsys.readouterr().err


def test_a_promotion_only_moves_the_commit_and_deploys_it() -> None:
    """A new promotion changes production's Stack object in place (`spec.commit` only): the
    operator runs an `up` of the new commit, never a destroy (model: test_safety)."""
    from tests.gitops.test_safety import operator_action

    before = manifests.stack_manifest(SETTINGS, PRODUCTION, {"production": OLDER})
    after = manifests.stack_manifest(SETTINGS, PRODUCTION, {"production": COMMIT})
    changed = {key for key in before["spec"] if before["spec"][key] != after["spec"][key]}
    assert changed == {"commit"} and before["metadata"] == after["metadata"]
    assert operator_action(after, deleted=False) == "up"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("production: main\n", "is not a full commit hash"),
        (f"production: {COMMIT[:12]}\n", "is not a full commit hash"),
        (f"qa: {COMMIT}\n", "'qa' is not an environment"),
    ],
)
def test_a_bad_promotion_record_is_named(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "promotions.yaml"
    path.write_text(text)
    with pytest.raises(PromotionError, match=expected):
        manifests.load_promotions(path)


@pytest.mark.parametrize(
    "stack_object, expected",
    [
        (staging_object(lastSuccessfulCommit=OLDER, lastAttemptedCommit=OLDER), "last succeeded"),
        # A failed run at the commit keeps the previous lastSuccessfulCommit (markStackFailed).
        (
            staging_object(state="failed", lastSuccessfulCommit=COMMIT, message="policy"),
            "last update failed",
        ),
        # A Stack in preview mode "succeeds" without deploying (type preview).
        (staging_object(type="preview"), "was a 'preview'"),
        # The last update ran an older spec (isSynced compares generations).
        (staging_object(generation=2), "ran generation 2"),
        (staging_object(generation=None, state=None, lastSuccessfulCommit=None), "generation"),
    ],
    ids=["other commit", "failed at it", "preview", "older generation", "in progress"],
)
def test_promotion_refuses_a_commit_staging_has_not_succeeded_at(
    tmp_path: Path, stack_object: dict[str, Any], expected: str
) -> None:
    path = tmp_path / "promotions.yaml"
    path.write_text(f"production: {OLDER}\n")
    with pytest.raises(PromotionError, match=expected):
        promote.promote(SETTINGS, "production", COMMIT, stack_object, path)
    assert path.read_text() == f"production: {OLDER}\n"


def test_promotion_refuses_another_stack_or_no_status(tmp_path: Path) -> None:
    path = tmp_path / "promotions.yaml"
    other = staging_object()
    other["spec"]["stack"] = "example/webapp/dev"
    with pytest.raises(PromotionError, match="deploys 'example/webapp/dev'"):
        promote.promote(SETTINGS, "production", COMMIT, other, path)
    bare = staging_object()
    del bare["status"]
    with pytest.raises(PromotionError, match="has not finished an update"):
        promote.promote(SETTINGS, "production", COMMIT, bare, path)
    with pytest.raises(PromotionError, match="not a full commit hash"):
        promote.promote(SETTINGS, "production", COMMIT[:7], staging_object(), path)
    assert not path.exists()


def test_promotion_of_a_commit_staging_succeeded_at_pins_it(tmp_path: Path) -> None:
    path = tmp_path / "promotions.yaml"
    files = promote.promote(SETTINGS, "production", COMMIT, staging_object(), path)
    assert manifests.load_promotions(path) == {"production": COMMIT}
    assert path.read_text().startswith(manifests.PROMOTIONS_HEADER)
    production = yaml.safe_load(files[manifests.manifest_path(SETTINGS, "production")])
    assert production["spec"]["commit"] == COMMIT
    staging = yaml.safe_load(files[manifests.manifest_path(SETTINGS, "staging")])
    assert staging["spec"]["branch"] == "main"


def test_the_command_reads_the_live_object_and_refuses_ungated_environments(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    asked: list[tuple[str, str]] = []

    def fetch(settings: Any, name: str) -> dict[str, Any]:
        asked.append((settings.context, name))
        return staging_object(lastSuccessfulCommit=OLDER)

    assert promote.main(["production", COMMIT], fetch=fetch) == 1
    assert asked == [("webapp-production", "webapp-staging")]
    assert "refusing to promote" in capsys.readouterr().err
    assert promote.main(["staging", COMMIT], fetch=fetch) == 1
    assert "expected exactly one" in capsys.readouterr().err
    status = tmp_path / "staging.json"
    status.write_text(json.dumps(staging_object(state="failed")))
    assert promote.main(["production", COMMIT, "--status", str(status)]) == 1
    assert "last update failed" in capsys.readouterr().err
    assert promote.main(["production", COMMIT, "--status", str(tmp_path / "missing")]) == 1
    assert "could not read the `after` Stack object" in capsys.readouterr().err
