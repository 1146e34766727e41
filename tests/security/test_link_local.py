"""Link-local and cloud metadata hosts are refused for both systems' URLs, https included."""

from __future__ import annotations

from typing import Any

import pytest

from connector.expensify import ExpensifyAuthError, ExpensifyClient, RateLimiter
from connector.expensify.pacing import MemoryBackend
from connector.hosts import refused_host_reason
from connector.sage100.errors import SageCompanyError
from connector.sage100.gateway import SageSettings, check_url, open_gateway

LINK_LOCAL = [
    "https://169.254.169.254/latest/meta-data/",
    "https://169.254.10.20:8443",
    "https://[fe80::1]:8443",
    "https://[fe80::abcd%25eth0]/x",
    "https://[::ffff:169.254.169.254]/",
    "https://[fd00:ec2::254]/latest",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://METADATA.GOOGLE.INTERNAL./x",
    "https://2852039166/",  # 169.254.169.254 written as one number: the resolver accepts it
    "https://0xa9fea9fe/",
    "https://100.100.100.200/latest/meta-data",
    "http://169.254.169.254/",
]
ALLOWED = ["https://10.0.0.5:8443", "https://192.168.1.20", "https://172.16.4.4/x", "https://sage.example.com"]


@pytest.mark.parametrize("url", LINK_LOCAL)
@pytest.mark.parametrize("transport", ["agent", "soap"])
def test_sage_refuses_link_local_and_metadata_hosts(url: str, transport: str) -> None:
    settings = SageSettings(transport=transport, base_url=url, agent_api_key="k-123456",
                            username="u", password="p-123456", company_code="ABC")
    with pytest.raises(SageCompanyError, match="is refused") as caught:
        open_gateway(settings)
    assert caught.value.code == "CONFIG"


@pytest.mark.parametrize("url", LINK_LOCAL)
def test_expensify_refuses_link_local_and_metadata_hosts(url: str) -> None:
    with pytest.raises(ExpensifyAuthError, match="is refused"):
        ExpensifyClient(base_url=url, partner_user_id="partner", partner_user_secret="secret-123456",
                        limiter=RateLimiter("t", backend=MemoryBackend(), rules=()))


@pytest.mark.parametrize("url", ALLOWED)
def test_private_lan_and_public_https_hosts_stay_allowed(url: str) -> None:
    check_url(url, company_code="ABC")
    ExpensifyClient(base_url=url, partner_user_id="partner", partner_user_secret="secret-123456",
                    limiter=RateLimiter("t", backend=MemoryBackend(), rules=())).close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "10.1.2.3", "example.com", ""])
def test_ordinary_hosts_have_no_refusal(host: str) -> None:
    assert refused_host_reason(host) is None


@pytest.mark.django_db
@pytest.mark.parametrize("which", ["expensify", "sage"])
def test_the_company_page_refuses_a_link_local_https_url(company: Any, which: str) -> None:
    from django.core.exceptions import ValidationError

    from tests.factories import ExpensifyCredentialFactory, SageConnectionFactory

    factory = ExpensifyCredentialFactory if which == "expensify" else SageConnectionFactory
    connection = factory(company=company)
    connection.base_url = "https://169.254.169.254/latest"
    with pytest.raises(ValidationError) as caught:
        connection.full_clean()
    assert "link-local" in str(caught.value) or "metadata" in str(caught.value)
