"""Credentials are encrypted at rest, fail loudly on a wrong key, and rotate."""

from __future__ import annotations

import cryptography.fernet
import pytest
from django.core.management import call_command
from django.db import connection
from encrypted_model_fields import fields as emf

from connector.checks import check_secrets_decrypt
from connector.fields import SecretDecryptionError
from connector.models import SageConnection
from tests.factories import ExpensifyCredentialFactory, SageConnectionFactory

pytestmark = pytest.mark.django_db

PASSWORD = "sage-password-Wm2"


def raw_column(table: str, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table}")
        return str(cursor.fetchone()[0])


def use_keys(monkeypatch: pytest.MonkeyPatch, *keys: bytes) -> None:
    monkeypatch.setattr(
        emf, "CRYPTER", cryptography.fernet.MultiFernet([cryptography.fernet.Fernet(k) for k in keys])
    )


def test_database_column_never_holds_the_plaintext(company) -> None:  # type: ignore[no-untyped-def]
    SageConnectionFactory(company=company, sage_password=PASSWORD)
    stored = raw_column("connector_sageconnection", "sage_password")
    assert PASSWORD not in stored
    assert stored.startswith("gAAAAA")
    assert SageConnection.objects.get().sage_password == PASSWORD


def test_blank_secret_stays_blank(company) -> None:  # type: ignore[no-untyped-def]
    SageConnectionFactory(company=company, transport="soap", agent_api_key="")
    assert raw_column("connector_sageconnection", "agent_api_key") == ""
    assert SageConnection.objects.get().agent_api_key == ""


def test_wrong_key_raises_a_clear_error_naming_the_field(company, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    SageConnectionFactory(company=company)
    use_keys(monkeypatch, cryptography.fernet.Fernet.generate_key())
    with pytest.raises(
        SecretDecryptionError, match=r"connector.SageConnection.agent_api_key cannot be decrypted"
    ):
        SageConnection.objects.get()


def test_system_check_reports_undecryptable_secrets(company, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ExpensifyCredentialFactory(company=company)
    assert check_secrets_decrypt() == []
    use_keys(monkeypatch, cryptography.fernet.Fernet.generate_key())
    errors = check_secrets_decrypt()
    assert [e.id for e in errors] == ["connector.E001"]
    assert "connector.ExpensifyCredential.partner_user_secret (company ABC" in errors[0].msg


def test_rotation_re_encrypts_under_the_first_key(company, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    old = cryptography.fernet.Fernet.generate_key()
    new = cryptography.fernet.Fernet.generate_key()
    use_keys(monkeypatch, old)
    SageConnectionFactory(company=company, sage_password=PASSWORD)
    ExpensifyCredentialFactory(company=company)
    use_keys(monkeypatch, new, old)
    call_command("rotate_encryption_key")
    use_keys(monkeypatch, new)  # the old key is gone: everything must still read
    conn = SageConnection.objects.get()
    assert conn.sage_password == PASSWORD
    assert conn.agent_api_key == "agent-key-Zr4"
    assert company.expensify.partner_user_secret == "expensify-secret-Qx7"


def test_rotation_with_a_lost_key_changes_nothing(company, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from django.core.management.base import CommandError

    old = cryptography.fernet.Fernet.generate_key()
    use_keys(monkeypatch, old)
    SageConnectionFactory(company=company)
    before = raw_column("connector_sageconnection", "sage_password")
    use_keys(monkeypatch, cryptography.fernet.Fernet.generate_key())
    with pytest.raises(CommandError, match="Nothing was re-encrypted"):
        call_command("rotate_encryption_key")
    assert raw_column("connector_sageconnection", "sage_password") == before
