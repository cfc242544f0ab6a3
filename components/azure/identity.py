"""Azure workload identity: one user-assigned identity for the stack, and a federated credential per
reader.

Creates (parented to the components):
- WorkloadIdentity: `managedidentity.UserAssignedIdentity`; a "Key Vault Secrets User" role
  assignment for it scoped to the vault only (read secret values, nothing else)
- FederatedCredentials: one `managedidentity.FederatedIdentityCredential` per ServiceAccount that
  reads Key Vault: issuer = the AKS OIDC issuer, subject = `system:serviceaccount:<ns>:<name>`
  (exact, case-sensitive; declared before the ServiceAccount and its pods, which wait for it; a
  test holds every subject to a ServiceAccount the stack declares), audience
  `api://AzureADTokenExchange`. At most 20 per identity (checked in the settings). Created one
  after the other: Azure refuses concurrent credential writes on one identity.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi
import pulumi_azure_native as azure

from components.azure.workload_identity import AUDIENCE
from components.config.azure import MAX_FEDERATED_CREDENTIALS
from components.kube import objects as kx

# Built-in role ids (the same in every tenant).
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
KEY_VAULT_SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"


def role_definition(subscription_id: str, role_id: str) -> str:
    return (
        f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization"
        f"/roleDefinitions/{role_id}"
    )


@dataclass(frozen=True, kw_only=True)
class WorkloadIdentityArgs:
    instance: str
    """The stack name: the identity is `webapp-<instance>`."""
    resource_group: pulumi.Input[str]
    """The resource group, by name (or the output of the one this program creates)."""
    location: str
    """The Azure region of the resources."""
    subscription_id: str
    """The subscription the resources (and role definitions) belong to."""
    vault_id: pulumi.Input[str]
    """The Key Vault: the identity is granted Secrets User on it, and on nothing else."""


class WorkloadIdentity(pulumi.ComponentResource):
    client_id: pulumi.Output[str]
    principal_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: WorkloadIdentityArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:azure:WorkloadIdentity", name, None, opts)
        child = kx.child_options(self, opts)
        # Keyword form, not UserAssignedIdentityArgs: the Args field `resource_name` collides with
        # the constructor's own first parameter in the Python SDK (the kwarg is `resource_name_`).
        self.identity = azure.managedidentity.UserAssignedIdentity(
            f"{name}-identity",
            resource_name_=f"id-webapp-{args.instance}",
            resource_group_name=args.resource_group,
            location=args.location,
            opts=child,
        )
        azure.authorization.RoleAssignment(
            f"{name}-secrets-user",
            azure.authorization.RoleAssignmentArgs(
                principal_id=self.identity.principal_id,
                principal_type="ServicePrincipal",
                role_definition_id=role_definition(args.subscription_id, KEY_VAULT_SECRETS_USER),
                scope=args.vault_id,
                description=f"webapp {args.instance}: pods read the stack's secrets",
            ),
            opts=child,
        )
        self.client_id = self.identity.client_id
        self.principal_id = self.identity.principal_id
        self.register_outputs({"client_id": self.client_id, "principal_id": self.principal_id})


@dataclass(frozen=True, kw_only=True)
class FederatedCredentialsArgs:
    identity_name: pulumi.Input[str]
    """The user-assigned identity the credentials are added to."""
    resource_group: pulumi.Input[str]
    """The resource group, by name (or the output of the one this program creates)."""
    issuer: str
    """The AKS OIDC issuer URL, with its trailing slash."""
    subjects: Mapping[str, tuple[str, str]]
    """A stable key ("<namespace>-<name>", names the Pulumi resource) -> the ServiceAccount's
    namespace and name."""


class FederatedCredentials(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        args: FederatedCredentialsArgs,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("webapp:azure:FederatedCredentials", name, None, opts)
        if len(args.subjects) > MAX_FEDERATED_CREDENTIALS:
            raise ValueError(
                f"{len(args.subjects)} federated credentials exceed Azure's "
                f"{MAX_FEDERATED_CREDENTIALS}"
            )
        self.credentials: dict[str, azure.managedidentity.FederatedIdentityCredential] = {}
        previous: list[pulumi.Resource] = []
        for key, (namespace, account) in sorted(args.subjects.items()):
            subject = f"system:serviceaccount:{namespace}:{account}"
            # Credential names must be unique per identity: derived from the subject, stable across
            # runs.
            credential = "fic-" + hashlib.sha256(subject.encode()).hexdigest()[:16]
            # One at a time: Azure rejects concurrent federated-credential writes on an identity.
            # (Keyword form, as in WorkloadIdentity.)
            created = azure.managedidentity.FederatedIdentityCredential(
                f"{name}-{key}",
                resource_name_=args.identity_name,
                resource_group_name=args.resource_group,
                federated_identity_credential_resource_name=credential,
                issuer=args.issuer,
                subject=subject,
                audiences=[AUDIENCE],
                opts=kx.child_options(self, opts, previous),
            )
            self.credentials[key] = created
            previous = [created]
        self.register_outputs({})
