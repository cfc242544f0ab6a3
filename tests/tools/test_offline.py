"""The offline runner's mocks: unknown invokes refused; provider invokes answered as the provider does."""

from __future__ import annotations

import pytest

from tools.offline import run_components


def test_mocks_refuse_unknown_invokes() -> None:
    import pulumi_aws as aws

    from tools.offline import UnknownInvokeError

    with pytest.raises(UnknownInvokeError, match="aws:index/getCallerIdentity:getCallerIdentity"):
        run_components(lambda: aws.get_caller_identity_output().account_id.apply(lambda _: None))
