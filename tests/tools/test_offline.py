"""The offline runner's mocks: unknown invokes refused; the AWS provider's policy documents built
as the provider builds them, so the tests read what `pulumi up` would send to IAM."""

from __future__ import annotations

import json

import pytest

from tools.offline import UnknownInvokeError, aws_policy_document, run_components


def test_mocks_refuse_unknown_invokes() -> None:
    import pulumi_aws as aws

    with pytest.raises(UnknownInvokeError, match="aws:index/getCallerIdentity:getCallerIdentity"):
        run_components(lambda: aws.get_caller_identity_output().account_id.apply(lambda _: None))


def test_policy_document_shape_follows_the_provider() -> None:
    document = aws_policy_document(
        {
            "version": "2012-10-17",
            "statements": [
                {"sid": "One", "actions": ["kms:Decrypt"], "resources": ["arn:k"]},
                {"actions": ["b:Get", "a:Describe", "c:List"], "resources": ["arn:1", "arn:2"]},
                {
                    "actions": ["sts:AssumeRoleWithWebIdentity"],
                    "principals": [{"type": "Federated", "identifiers": ["arn:oidc"]}],
                    "conditions": [
                        {"test": "StringEquals", "variable": "x:sub", "values": ["system:sa"]},
                        {"test": "StringEquals", "variable": "x:aud", "values": ["sts"]},
                    ],
                },
            ],
        }
    )
    parsed = json.loads(document)
    one, many, trust = parsed["Statement"]
    # One item is a plain string; several are in reverse order; Effect defaults to Allow.
    assert one == {"Sid": "One", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:k"}
    assert many["Action"] == ["c:List", "b:Get", "a:Describe"]
    assert many["Resource"] == ["arn:2", "arn:1"] and "Sid" not in many
    assert trust["Principal"] == {"Federated": "arn:oidc"}
    assert trust["Condition"] == {"StringEquals": {"x:aud": "sts", "x:sub": "system:sa"}}
    assert list(trust) == ["Effect", "Action", "Principal", "Condition"]
    assert document.startswith('{\n  "Version": "2012-10-17",\n  "Statement": [')


def test_policy_document_fields_the_mocks_do_not_model_are_refused() -> None:
    with pytest.raises(UnknownInvokeError, match="not_actions"):
        aws_policy_document({"statements": [{"not_actions": ["s3:*"]}]})
    with pytest.raises(UnknownInvokeError, match="source_policy_documents"):
        aws_policy_document({"source_policy_documents": ["{}"]})
