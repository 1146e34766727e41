"""Start-up checks: every stored secret must decrypt with the configured keys."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register
from django.db import DatabaseError

from connector.fields import SecretDecryptionError

SECRET_COLUMNS = (
    ("connector", "ExpensifyCredential", ("partner_user_secret",)),
    ("connector", "SageConnection", ("agent_api_key", "sage_password")),
)


def undecryptable_secrets() -> list[str]:
    """Labels of stored secrets that no key in FIELD_ENCRYPTION_KEY can decrypt."""
    from django.apps import apps

    from connector.fields import FERNET_PREFIX, decrypt

    problems: list[str] = []
    for app_label, model_name, fields in SECRET_COLUMNS:
        model = apps.get_model(app_label, model_name)
        # Raw columns: reading through the field would decrypt, and raise.
        for pk, code, *values in _raw_rows(model, fields):
            for field, value in zip(fields, values, strict=True):
                if value and value.startswith(FERNET_PREFIX):
                    try:
                        decrypt(value, label=field)
                    except SecretDecryptionError:
                        problems.append(f"{model._meta.label}.{field} (company {code}, id {pk})")
    return problems


def _raw_rows(model: Any, fields: tuple[str, ...]) -> list[tuple[Any, ...]]:
    from django.db import connection

    table = model._meta.db_table
    company_table = model._meta.get_field("company").related_model._meta.db_table
    columns = ", ".join(f"t.{connection.ops.quote_name(f)}" for f in fields)
    sql = (
        f"SELECT t.id, c.code, {columns} FROM {connection.ops.quote_name(table)} t "  # noqa: S608
        f"JOIN {connection.ops.quote_name(company_table)} c ON c.id = t.company_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


@register()
def check_secrets_decrypt(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        problems = undecryptable_secrets()
    except DatabaseError:
        return []  # no tables yet (before migrate) or no database: nothing stored to check
    return [
        Error(
            f"{label} cannot be decrypted with any key in FIELD_ENCRYPTION_KEY.",
            hint="Put the old key back after the new one and run 'manage.py rotate_encryption_key', "
            "or enter the secret again in the admin.",
            id="connector.E001",
        )
        for label in problems
    ]
