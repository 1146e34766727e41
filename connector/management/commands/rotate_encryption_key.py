"""Re-encrypt every stored secret under the first key in FIELD_ENCRYPTION_KEY."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from connector.checks import SECRET_COLUMNS
from connector.fields import FERNET_PREFIX, SecretDecryptionError, crypter, decrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every credential under the first key of FIELD_ENCRYPTION_KEY. Put the new key "
        "first and keep the old one after it until this has run."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.apps import apps

        rotated = 0
        failures: list[str] = []
        with transaction.atomic():
            for app_label, model_name, fields in SECRET_COLUMNS:
                model = apps.get_model(app_label, model_name)
                table = connection.ops.quote_name(model._meta.db_table)
                for field in fields:
                    column = connection.ops.quote_name(field)
                    with connection.cursor() as cursor:
                        cursor.execute(f"SELECT id, {column} FROM {table}")  # noqa: S608
                        rows = cursor.fetchall()
                    for pk, value in rows:
                        if not value or not value.startswith(FERNET_PREFIX):
                            continue
                        label = f"{model._meta.label}.{field} (id {pk})"
                        try:
                            plain = decrypt(value, label=label)
                        except SecretDecryptionError as exc:
                            failures.append(str(exc))
                            continue
                        fresh = crypter().encrypt(plain.encode("utf-8")).decode("utf-8")
                        with connection.cursor() as cursor:
                            cursor.execute(
                                f"UPDATE {table} SET {column} = %s WHERE id = %s",  # noqa: S608
                                [fresh, pk],
                            )
                        rotated += 1
            if failures:
                transaction.set_rollback(True)
                raise CommandError("Nothing was re-encrypted:\n" + "\n".join(failures))
        self.stdout.write(f"Re-encrypted {rotated} secret(s) under the first FIELD_ENCRYPTION_KEY.")
