"""The GitOps project's program: settings, then the operator and Argo CD (what `__main__.py` runs).

Creates: a Kubernetes provider for `gitops:kubernetes.context`, the `Operator` component
(`operator.py`) and the `ArgoCd` component (`argocd.py`); exports per environment the Stack
object's name, and the deploy identity with the OIDC subject and audience it must trust (README
"The workspace identity": the project does not create the identity, it names what to trust).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import pulumi
import pulumi.runtime.config as runtime_config
import pulumi_kubernetes as k8s

from components.config.settings import SettingsError
from components.config.source import decode_config_value
from tools.offline import load_stack_config, stack_names

from .argocd import ArgoCd, ArgoCdArgs
from .config import PREFIX, GitopsSettings, parse_gitops
from .manifests import GITOPS, TOKEN_AUDIENCE, identity_subject, stack_object_name
from .operator import Operator, OperatorArgs


def gitops_stacks() -> list[str]:
    """The GitOps project's stacks (`gitops/Pulumi.<stack>.yaml`)."""
    return stack_names(GITOPS)


def load_settings(stack: str, config: Optional[Mapping[str, Any]] = None) -> GitopsSettings:
    values = config if config is not None else load_stack_config(stack, root=GITOPS)
    return parse_gitops(values, stack)


def build(settings: GitopsSettings) -> dict[str, Any]:
    """Declare everything; returns the stack outputs."""
    provider = k8s.Provider("gitops-cluster", context=settings.context)
    operator = Operator("gitops-operator", OperatorArgs(settings=settings, provider=provider))
    ArgoCd("gitops-argocd", ArgoCdArgs(settings=settings, operator=[operator], provider=provider))
    return {
        "stacks": {
            environment.stack: {
                "object": f"{settings.namespace}/{stack_object_name(environment.stack)}",
                "identitySubject": identity_subject(settings.namespace, environment.stack),
                "identityAudience": TOKEN_AUDIENCE[environment.cloud],
                "identity": environment.role_arn or environment.client_id,
            }
            for environment in settings.environments
        }
    }


def read_config() -> dict[str, Any]:
    """Every `gitops:` key of the running stack (from the runtime, as `pulumi up` hands it over),
    structured values decoded."""
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return {
        key: decode_config_value(runtime_config.get_config(key))
        for key in sorted(keys)
        if key.startswith(PREFIX)
    }


def main() -> None:
    try:
        settings = parse_gitops(read_config(), pulumi.get_stack())
    except SettingsError as error:
        raise pulumi.RunError(str(error)) from None
    for key, value in build(settings).items():
        pulumi.export(key, value)
