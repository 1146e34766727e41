"""Encryption keys: a wrong key is an error page (never ciphertext), rotation keeps every credential.

Existing checks not repeated: tests/foundation/test_secrets.py (column holds ciphertext, a wrong
key raises an error naming the field, the system check, one-row rotation, a lost key changes
nothing).
"""

from __future__ import annotations

import io

import cryptography.fernet
import pytest
from django.core.management import call_command
from django.db import connection

from connector.models import Company, ExpensifyCredential, SageConnection
from tests.factories import CompanyFactory, ExpensifyCredentialFactory, SageConnectionFactory
from tests.foundation.test_secrets import use_keys
from tests.security.conftest import administrator_client, operator_client

pytestmark = pytest.mark.django_db

COMPANIES = 40


def ciphertexts() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT partner_user_secret FROM connector_expensifycredential")
        found = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT agent_api_key, sage_password FROM connector_sageconnection")
        found += [value for row in cursor.fetchall() for value in row]
    return [value for value in found if value]


@pytest.fixture
def wired(company: Company) -> Company:
    ExpensifyCredentialFactory(company=company)
    SageConnectionFactory(company=company)
    return company


def test_admin_company_page_with_a_wrong_key_is_an_error_page_not_ciphertext(
    wired: Company, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = ciphertexts()
    client = administrator_client()
    client.raise_request_exception = False
    use_keys(monkeypatch, cryptography.fernet.Fernet.generate_key())
    response = client.get(f"/admin/connector/company/{wired.pk}/change/")
    assert response.status_code == 500
    assert not any(value in response.content.decode() for value in stored)
    # The list, which needs no secret, still works and shows none.
    listing = client.get("/admin/connector/company/")
    assert listing.status_code == 200
    assert not any(value in listing.content.decode() for value in stored)


def test_operator_page_needs_no_secret_under_a_wrong_key(
    wired: Company, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = operator_client()
    use_keys(monkeypatch, cryptography.fernet.Fernet.generate_key())
    response = client.get(f"/admin/connector/company/{wired.pk}/change/")
    assert response.status_code == 200


def test_connection_test_with_a_wrong_key_names_the_field(
    wired: Company, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = administrator_client()
    stored = ciphertexts()
    use_keys(monkeypatch, cryptography.fernet.Fernet.generate_key())
    response = client.post(
        "/admin/connector/company/",
        {"action": "test_connections", "_selected_action": [wired.pk]},
        follow=True,
    )
    html = response.content.decode()
    assert "cannot be decrypted with any key in FIELD_ENCRYPTION_KEY" in html
    assert not any(value in html for value in stored)


def test_rotation_keeps_every_credential_of_many_companies(monkeypatch: pytest.MonkeyPatch) -> None:
    old = cryptography.fernet.Fernet.generate_key()
    new = cryptography.fernet.Fernet.generate_key()
    use_keys(monkeypatch, old)
    expected = {}
    for n in range(COMPANIES):
        company = CompanyFactory(code=f"K{n:02d}")
        blank_agent_key = n % 5 == 0  # SOAP companies have no agent key
        ExpensifyCredentialFactory(company=company, partner_user_secret=f"exp-secret-{n}-é✓")
        SageConnectionFactory(
            company=company,
            agent_api_key="" if blank_agent_key else f"agent-{n}",
            sage_password=f"sage-{n}-" + "x" * (n * 7 % 200),
        )
        expected[company.code] = (
            f"exp-secret-{n}-é✓",
            "" if blank_agent_key else f"agent-{n}",
            f"sage-{n}-" + "x" * (n * 7 % 200),
        )
    before = set(ciphertexts())
    use_keys(monkeypatch, new, old)
    call_command("rotate_encryption_key", stdout=io.StringIO())
    after = set(ciphertexts())
    assert not before & after, "some value was not re-encrypted"
    use_keys(monkeypatch, new)  # the old key is gone
    got = {
        company.code: (
            ExpensifyCredential.objects.get(company=company).partner_user_secret,
            SageConnection.objects.get(company=company).agent_api_key,
            SageConnection.objects.get(company=company).sage_password,
        )
        for company in Company.objects.all()
    }
    assert got == expected
    assert sum(1 for codes in expected.values() if codes[1] == "") == COMPANIES // 5


@pytest.mark.parametrize("transport", ["agent"])
def test_a_sync_under_a_wrong_key_fails_naming_the_field(
    planted_company: Company, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    from tests.sync.conftest import run

    stored = ciphertexts()
    use_keys(monkeypatch, cryptography.fernet.Fernet.generate_key())
    result = run(planted_company)
    assert result.outcome == "failed"
    assert "connector.ExpensifyCredential.partner_user_secret cannot be decrypted" in result.message
    assert not any(value in result.message for value in stored)
