"""IrsaRole: an IAM role that exactly one Kubernetes ServiceAccount can assume (IAM Roles for
Service Accounts).

Creates (parented to the component):
- `aws.iam.Role` whose trust policy allows `sts:AssumeRoleWithWebIdentity` from the cluster's OIDC
  provider only when `<issuer>:sub` is `system:serviceaccount:<namespace>:<name>` of the given
  ServiceAccount *resource* (its outputs, never retyped) and `<issuer>:aud` is `sts.amazonaws.com`
- one `aws.iam.RolePolicy` per named policy document

Any workload that calls AWS itself uses the same component: create its ServiceAccount annotated with
`role_arn(...)`, then an IrsaRole for it with its own least-privilege statements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

from components.aws import iam
from components.kube import objects as kx

ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"


def role_arn(partition: str, account_id: str, role_name: str) -> str:
    """The ARN a role will have; lets the ServiceAccount carry it before the role (which trusts the
    ServiceAccount) exists, without a dependency cycle."""
    return f"arn:{partition}:iam::{account_id}:role/{role_name}"


def web_identity_trust(
    provider_arn: str, issuer_host: str, namespace: str, name: str
) -> iam.Statement:
    """Only this ServiceAccount, with the STS audience, may assume the role."""
    return iam.assume_role(
        "Federated",
        [provider_arn],
        action="sts:AssumeRoleWithWebIdentity",
        string_equals={
            f"{issuer_host}:sub": f"system:serviceaccount:{namespace}:{name}",
            f"{issuer_host}:aud": "sts.amazonaws.com",
        },
    )


@dataclass(frozen=True, kw_only=True)
class IrsaRoleArgs:
    role_name: str
    """The IAM role's name (known before the role exists, so the ServiceAccount can carry its
    ARN).
    """
    oidc_provider_arn: str
    """The EKS cluster's IAM OIDC provider, the only federated principal trusted."""
    oidc_issuer_host: str
    """The issuer without https:// (the prefix of the `sub` and `aud` condition keys)."""
    service_account_namespace: pulumi.Input[str]
    """From the ServiceAccount resource's outputs."""
    service_account_name: pulumi.Input[str]
    """From the ServiceAccount resource's outputs, so the trust cannot name another account."""
    policies: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Inline policy name -> JSON document (`aws.iam.policy_json`; least privilege, exact
    resources)."""


class IrsaRole(pulumi.ComponentResource):
    arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: IrsaRoleArgs, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("webapp:aws:IrsaRole", name, None, opts)
        trust: pulumi.Output[str] = pulumi.Output.all(
            args.service_account_namespace, args.service_account_name
        ).apply(
            lambda account: iam.policy_json(
                [
                    web_identity_trust(
                        args.oidc_provider_arn, args.oidc_issuer_host, account[0], account[1]
                    )
                ],
                self,
            )
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            aws.iam.RoleArgs(
                name=args.role_name,
                assume_role_policy=trust,
                max_session_duration=3600,
                description="IRSA role for one Kubernetes ServiceAccount",
            ),
            opts=kx.child_options(self, opts),
        )
        self.policies: dict[str, aws.iam.RolePolicy] = {}
        for policy_name, document in sorted(args.policies.items()):
            self.policies[policy_name] = aws.iam.RolePolicy(
                f"{name}-{policy_name}",
                aws.iam.RolePolicyArgs(role=self.role.id, name=policy_name, policy=document),
                opts=kx.child_options(self, opts),
            )
        self.arn = self.role.arn
        self.register_outputs({"arn": self.arn})
