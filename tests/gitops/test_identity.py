"""The subject the GitOps project exports for each environment's deploy identity is exactly the one
its workspace pod presents, and the pod carries what the cloud's webhook needs to hand it the token.

The project does not create the identity (README "The workspace identity" says why); the admin adds
the exported subject to the existing deploy identity's trust. These tests hold that export true by
deriving the pod the operator runs from the Stack object in Git, as the operator does it at v2.9.0
(pulumi/pulumi-kubernetes-operator):
- the Stack reconciler works in the Stack's namespace (`newStackReconcilerSession(...,
  request.Namespace)`) and creates the Workspace there (`NewWorkspace`), sets
  `Workspace.spec.serviceAccountName` from `Stack.spec.serviceAccountName` when set
  (`setupWorkspace`) and then applies `spec.workspaceTemplate` as a strategic merge patch
  (`patchObject`: maps merge key by key, the template's values win):
  operator/internal/controller/pulumi/stack_controller.go;
- an unset `serviceAccountName` is `default` (`+kubebuilder:default="default"`,
  operator/api/auto/v1alpha1/workspace_types.go);
- the workspace StatefulSet is in the Workspace's namespace, its pod runs as
  `Workspace.spec.serviceAccountName`, and `spec.podTemplate` is strategic-merged over it
  (`newStatefulSet`, `mergePodTemplateSpec`): operator/internal/controller/auto/
  workspace_controller.go.
A ServiceAccount token's `sub` is `system:serviceaccount:<namespace>:<name>` (kubernetes
pkg/serviceaccount/claims.go: `apiserverserviceaccount.MakeUsername(namespace, saName)`).
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest
import yaml

from gitops import manifests
from gitops.program import load_settings
from tests.gitops.conftest import GITOPS_STACKS
from tools.offline import StackRun

HAND_OVER = {"gitops:handOver": True}


def merged(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A strategic merge patch restricted to maps and scalars (what these fields are)."""
    result = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def workspace_pod(stack_object: dict[str, Any]) -> dict[str, Any]:
    """The workspace pod's namespace, ServiceAccount and labels, as the operator derives them."""
    spec = stack_object["spec"]
    workspace: dict[str, Any] = {"serviceAccountName": "default", "podTemplate": {}}
    if spec.get("serviceAccountName"):
        workspace["serviceAccountName"] = spec["serviceAccountName"]
    template = (spec.get("workspaceTemplate") or {}).get("spec") or {}
    workspace = merged(workspace, template)
    pod_template = workspace.get("podTemplate") or {}
    pod_spec = pod_template.get("spec") or {}
    return {
        "namespace": stack_object["metadata"]["namespace"],
        "serviceAccountName": pod_spec.get("serviceAccountName") or workspace["serviceAccountName"],
        "labels": (pod_template.get("metadata") or {}).get("labels") or {},
    }


def presented_subject(stack_object: dict[str, Any]) -> str:
    pod = workspace_pod(stack_object)
    return f"system:serviceaccount:{pod['namespace']}:{pod['serviceAccountName']}"


@pytest.mark.parametrize("stack", GITOPS_STACKS)
def test_the_exported_subject_is_the_one_the_workspace_presents(
    stack: str, gitops_run: Callable[..., StackRun]
) -> None:
    settings = load_settings(stack)
    run = gitops_run(stack, HAND_OVER)
    exported = run.outputs["stacks"]
    for environment in settings.environments:
        text = manifests.manifest_path(settings, environment.stack).read_text()
        stack_object = yaml.safe_load(text)  # what Argo CD applies
        pod = workspace_pod(stack_object)
        output = exported[environment.stack]
        assert output["identitySubject"] == presented_subject(stack_object)
        # The ServiceAccount the pod runs as exists, in its namespace, carrying the identity.
        account = run.find("ServiceAccount", pod["serviceAccountName"], pod["namespace"])
        annotations = account["metadata"]["annotations"]
        if environment.cloud == "aws":
            assert annotations == {manifests.IRSA_ANNOTATION: environment.role_arn}
            assert output["identityAudience"] == "sts.amazonaws.com"
        else:
            assert annotations == {manifests.AZURE_CLIENT_ANNOTATION: environment.client_id}
            # The Azure webhook injects the token only into pods labelled for it.
            assert pod["labels"][manifests.AZURE_USE_LABEL] == "true"
            assert output["identityAudience"] == "api://AzureADTokenExchange"
        assert output["identity"] in (environment.role_arn, environment.client_id)


def test_the_model_follows_the_account_the_pod_really_gets() -> None:
    """A Stack object naming another account (or none) presents another subject: the equality
    above would fail."""
    settings = load_settings("production")
    stack_object = manifests.stack_manifest(settings, settings.environments[0])
    bare = copy.deepcopy(stack_object)
    del bare["spec"]["workspaceTemplate"]["spec"]["serviceAccountName"]
    assert presented_subject(bare) == "system:serviceaccount:webapp-gitops:default"
    overridden = copy.deepcopy(stack_object)
    overridden["spec"]["workspaceTemplate"]["spec"]["podTemplate"] = {
        "spec": {"serviceAccountName": "other"}
    }
    assert presented_subject(overridden) == "system:serviceaccount:webapp-gitops:other"
    moved = copy.deepcopy(stack_object)
    moved["metadata"]["namespace"] = "elsewhere"
    assert presented_subject(moved) != manifests.identity_subject(
        settings.namespace, settings.environments[0].stack
    )
