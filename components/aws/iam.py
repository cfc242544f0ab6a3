"""IAM policy documents, built by the AWS provider (`aws.iam.get_policy_document_output`).

Declares no resources: `policy_json(...)` is an invoke the provider answers locally, without
calling AWS, so the documents are the provider's own JSON (the `aws_iam_policy_document` data
source), not strings assembled here. Statements are typed `GetPolicyDocumentStatementArgs`, so an
unknown field is a type error instead of a silently ignored key.

Invokes run with the caller as parent: they use the stack's explicit AWS provider (pinned to its
account and region) and never a default provider. Statements take plain strings; a document over
resource outputs (ARNs) is built inside `Output.apply` once they are known, which is allowed for an
invoke (it declares nothing that `pulumi preview` would not show).
"""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

Statement = aws.iam.GetPolicyDocumentStatementArgs
Condition = aws.iam.GetPolicyDocumentStatementConditionArgs


def allow(
    sid: str,
    actions: Sequence[str],
    resources: Sequence[str],
    string_equals: Optional[dict[str, str]] = None,
) -> Statement:
    """An Allow statement on exact resources (the callers never pass a wildcard), under optional
    `StringEquals` conditions."""
    return aws.iam.GetPolicyDocumentStatementArgs(
        sid=sid,
        effect="Allow",
        actions=list(actions),
        resources=list(resources),
        conditions=_string_equals(string_equals),
    )


def _string_equals(pairs: Optional[dict[str, str]]) -> Optional[list[Condition]]:
    conditions = [
        aws.iam.GetPolicyDocumentStatementConditionArgs(
            test="StringEquals", variable=variable, values=[value]
        )
        for variable, value in (pairs or {}).items()
    ]
    return conditions or None


def assume_role(
    principal_type: str,
    identifiers: Sequence[str],
    action: str = "sts:AssumeRole",
    string_equals: Optional[dict[str, str]] = None,
) -> Statement:
    """A trust statement: who may assume the role, under which `StringEquals` conditions."""
    return aws.iam.GetPolicyDocumentStatementArgs(
        effect="Allow",
        actions=[action],
        principals=[
            aws.iam.GetPolicyDocumentStatementPrincipalArgs(
                type=principal_type, identifiers=list(identifiers)
            )
        ],
        conditions=_string_equals(string_equals),
    )


def policy_json(statements: Sequence[Statement], parent: pulumi.Resource) -> pulumi.Output[str]:
    """The provider's JSON document for `statements` (version 2012-10-17)."""
    document = aws.iam.get_policy_document_output(
        version="2012-10-17",
        statements=list(statements),
        opts=pulumi.InvokeOutputOptions(parent=parent),
    )
    return document.json
