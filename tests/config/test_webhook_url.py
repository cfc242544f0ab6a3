"""The broadcaster's webhook URL is refused at config time when its NetworkPolicy (TCP 443
outside the private ranges) would block it, without repeating the URL (it carries a token)."""

from __future__ import annotations

import pytest

from components.config.parsing import parse_settings, webhook_url_problem
from components.config.settings import SettingsError
from tools.offline import load_stack_config


@pytest.mark.parametrize(
    "url, problem",
    [
        ("http://hooks.example.com/T0k3n", "uses http scheme"),
        ("https://hooks.example.com:8443/T0k3n", "uses port 8443"),
        ("https://10.1.2.3/T0k3n", "names the non-public address 10.1.2.3"),
        ("https://169.254.169.254/T0k3n", "names the non-public address 169.254.169.254"),
        ("https://api/T0k3n", "names host 'api'"),
        ("https://api.webapp.svc.cluster.local/T0k3n", "names host"),
        ("https://localhost/T0k3n", "names host 'localhost'"),
    ],
)
def test_urls_the_policy_would_block_are_refused(url: str, problem: str) -> None:
    found = webhook_url_problem(url)
    assert found is not None and found.startswith(problem)


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example.com/T0k3n", "https://hooks.example.com:443/x", "https://1.1.1.1/x"],
)
def test_public_https_urls_are_accepted(url: str) -> None:
    assert webhook_url_problem(url) is None


def test_the_error_names_the_key_and_what_is_allowed_but_not_the_url() -> None:
    config = {**load_stack_config("dev"), "webapp:broadcasterWebhookUrl": "http://h.example/T0k3n"}
    with pytest.raises(SettingsError) as raised:
        parse_settings(
            config, "dev", secret_keys={"webapp:broadcasterWebhookUrl"}, check_data_lock=False
        )
    message = str(raised.value)
    assert "webapp:broadcasterWebhookUrl: the URL (not shown) uses http scheme" in message
    assert "https:// URL on port 443" in message and "T0k3n" not in message
