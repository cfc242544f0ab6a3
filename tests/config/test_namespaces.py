"""The app namespace is this stack's alone: Kubernetes' own namespaces, the add-ons' and the
other shipped stacks' are refused (`parsing.check_namespaces`, `tools.stacks`)."""

from __future__ import annotations

from typing import Any, Callable

from components.config.parsing import ADDON_NAMESPACES, RESERVED_NAMESPACES, namespace_problem
from components.platform.addons import RABBITMQ_OPERATOR_NAMESPACE
from tools.golden import variant_overrides
from tools.offline import StackRun


def test_the_pure_rule_names_why() -> None:
    assert namespace_problem("kube-system", {}) == "a Kubernetes system namespace"
    assert namespace_problem("keda", {}) == "the namespace of an add-on this program installs"
    assert namespace_problem("obs", {"webapp:monitoring.namespace": "obs"}) == (
        "also webapp:monitoring.namespace"
    )
    assert namespace_problem("webapp-dev", {"webapp:monitoring.namespace": "monitoring"}) is None


def test_the_addon_namespaces_are_the_ones_the_program_installs_into(
    stack_run: Callable[..., StackRun],
) -> None:
    """Every add-on on (production with the optional services): the namespaces its releases and
    Namespace objects name, but the app's, monitoring's and the mesh's (checked by key), are the
    listed ones, so a new add-on cannot be forgotten."""
    overrides: dict[str, Any] = variant_overrides("production", "optional-services")
    run = stack_run("production", overrides)
    used = {
        str(r.inputs.get("namespace"))
        for r in run.resources
        if r.type == "kubernetes:helm.sh/v3:Release"
    } | {
        str(r.inputs["metadata"]["name"])
        for r in run.resources
        if r.type == "kubernetes:core/v1:Namespace"
    }
    keyed = {"webapp-production", "monitoring", "istio-system"}
    # The RabbitMQ operator's upstream manifest creates its own namespace (no release).
    assert used - keyed | {RABBITMQ_OPERATOR_NAMESPACE} == set(ADDON_NAMESPACES)
    assert not set(RESERVED_NAMESPACES) & set(ADDON_NAMESPACES)
