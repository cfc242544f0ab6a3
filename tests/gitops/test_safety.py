"""No change to the GitOps project can destroy an environment: not deleting an environment's Stack
object, not changing any of its settings, not removing the project's own resources.

The operator is modelled from its source at the pinned tag
(pulumi/pulumi-kubernetes-operator v2.9.0, operator/internal/controller/pulumi/stack_controller.go):
- a Stack marked for deletion runs `pulumi destroy` (`sess.newDestroy`, Step 5) only when it gets
  past the early return `if isStackMarkedToBeDeleted && (!stack.DestroyOnFinalize || stack.Preview)`,
  which otherwise just removes the operator's finalizer;
- a Stack not being deleted runs an update of type `UpType` (or `PreviewType` with `preview`):
  `pulumi up` of the tracked program, never a destroy.
Helm installs a chart's `crds/` folder once and never deletes it on uninstall (Helm docs, "Custom
Resource Definitions"); the operator chart ships its CRDs there
(deploy/helm/pulumi-operator/crds/ at v2.9.0), so uninstalling the operator keeps the Stack objects.
"""

from __future__ import annotations

from typing import Any, Callable, Literal

import pytest

from gitops import manifests
from gitops.program import load_settings
from tests.gitops.conftest import gitops_config
from tools.changes import plan
from tools.offline import StackRun

Action = Literal["destroy", "release", "up", "preview"]


def operator_action(stack_object: dict[str, Any], deleted: bool) -> Action:
    """What the operator at v2.9.0 runs for a Stack object (module docstring)."""
    spec = stack_object["spec"]
    if deleted:
        if not spec.get("destroyOnFinalize", False) or spec.get("preview", False):
            return "release"
        return "destroy"
    return "preview" if spec.get("preview", False) else "up"


def test_the_model_destroys_only_with_destroy_on_finalize() -> None:
    assert operator_action({"spec": {"destroyOnFinalize": True}}, deleted=True) == "destroy"
    assert (
        operator_action({"spec": {"destroyOnFinalize": True, "preview": True}}, True) == "release"
    )
    assert operator_action({"spec": {}}, deleted=True) == "release"
    assert operator_action({"spec": {"destroyOnFinalize": True}}, deleted=False) == "up"


HAND_OVER = {"gitops:handOver": True}


def environments(stack: str, **changed: dict[str, Any]) -> dict[str, Any]:
    """`gitops:environments` with some environments' fields changed (None removes one)."""
    value = {
        name: dict(fields) for name, fields in gitops_config(stack)["gitops:environments"].items()
    }
    for name, fields in changed.items():
        if fields is None:
            value.pop(name)
        else:
            value[name] = {**value.get(name, {}), **fields}
    return {"gitops:environments": value}


def section(stack: str, key: str, **fields: Any) -> dict[str, Any]:
    return {f"gitops:{key}": {**gitops_config(stack)[f"gitops:{key}"], **fields}}


STACK = "production"
CHANGES: list[tuple[str, dict[str, Any]]] = [
    ("hand-over off", {"gitops:handOver": False}),
    ("resync interval", {"gitops:resyncMinutes": 60}),
    ("namespace", {"gitops:namespace": "other-gitops"}),
    ("high availability off", {"gitops:highAvailability": False}),
    ("operator present", {"gitops:operator": "present"}),
    ("argo cd present", {"gitops:argocd": "present"}),
    ("secret store", {"gitops:secretStore": "another-store"}),
    ("branch", section(STACK, "repository", branch="release")),
    ("repository", section(STACK, "repository", url="https://git.example.com/webapp.git")),
    ("git token", section(STACK, "repository", tokenKey="other/git")),
    ("backend", section(STACK, "pulumi", backend="https://pulumi.example.com")),
    ("organization", section(STACK, "pulumi", organization="other-org")),
    ("pulumi token", section(STACK, "pulumi", tokenKey="other/pulumi")),
    ("policy group", environments(STACK, production={"policyGroup": "other-group"})),
    ("production removed", environments(STACK, production=None)),
    ("staging removed", environments(STACK, staging=None, production={"after": ""})),
    ("prerequisite dropped", environments(STACK, production={"after": ""})),
    ("secrets provider", environments(STACK, production={"secretsProvider": "awskms://alias/x"})),
    (
        "cloud moved",
        environments(
            STACK,
            production={
                "cloud": "azure",
                "roleArn": None,
                "clientId": "0" * 8 + "-0000-0000-0000-" + "0" * 12,
            },
        ),
    ),
    (
        "deploy role",
        environments(STACK, production={"roleArn": "arn:aws:iam::123456789012:role/x"}),
    ),
]


def _clean(overrides: dict[str, Any]) -> dict[str, Any]:
    """Fields set to None are removed (a key that no longer applies)."""
    cleaned = {}
    for key, value in overrides.items():
        if key == "gitops:environments":
            value = {
                name: {k: v for k, v in fields.items() if v is not None}
                for name, fields in value.items()
            }
        cleaned[key] = value
    return cleaned


def stack_objects(stack: str, overrides: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, name) -> the Stack object Argo CD keeps in the cluster for this config."""
    settings = load_settings(stack, gitops_config(stack, overrides))
    return {
        (settings.namespace, manifests.stack_object_name(environment.stack)): (
            manifests.stack_manifest(settings, environment)
        )
        for environment in settings.environments
        if environment.stack in settings.handed_over
    }


@pytest.mark.parametrize("name, change", CHANGES, ids=[name for name, _ in CHANGES])
def test_no_setting_change_destroys_an_environment(
    name: str, change: dict[str, Any], gitops_run: Callable[..., StackRun]
) -> None:
    after_overrides = {**HAND_OVER, **_clean(change)}
    before = stack_objects(STACK, HAND_OVER)
    after = stack_objects(STACK, after_overrides)
    for key, stack_object in before.items():
        # Argo CD prunes an object no longer in Git (or deletes it with its Application); an
        # object still there is updated in place and reconciled.
        action = operator_action(stack_object, deleted=key not in after)
        assert action != "destroy", (name, key)
        if key in after:
            assert operator_action(after[key], deleted=False) == "up"
            # The object keeps deploying the same stack: a changed `stack` would orphan it.
            changed_org = name == "organization"
            assert changed_org or after[key]["spec"]["stack"] == stack_object["spec"]["stack"]
    for stack_object in after.values():
        assert operator_action(stack_object, deleted=True) == "release"
    # The GitOps project's own resources: nothing protected-by-data is replaced or deleted unless
    # the engine refuses it (protect), and the operator's CRDs survive its release's removal.
    changes = plan(gitops_run(STACK, HAND_OVER), gitops_run(STACK, after_overrides))
    by_urn = gitops_run(STACK, HAND_OVER).by_urn()
    for found in changes:
        if found.action in ("replace", "delete") and found.urn in by_urn:
            record = by_urn[found.urn]
            if record.type == "kubernetes:core/v1:Namespace":
                assert record.protect and record.retain_on_delete, name


def test_deleting_the_application_set_keeps_the_stack_objects(
    gitops_run: Callable[..., StackRun],
) -> None:
    spec = gitops_run(STACK, HAND_OVER).find("ApplicationSet", "webapp-production")["spec"]
    assert spec["syncPolicy"]["preserveResourcesOnDeletion"] is True


def test_no_config_key_turns_destroy_on_finalize_on() -> None:
    """Every Stack object of every config in the table has it off: it is not a setting."""
    for _, change in CHANGES:
        for stack_object in stack_objects(STACK, {**HAND_OVER, **_clean(change)}).values():
            assert stack_object["spec"]["destroyOnFinalize"] is False
            assert "preview" not in stack_object["spec"]
