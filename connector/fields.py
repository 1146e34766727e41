"""Encrypted secret fields that fail loudly instead of handing back ciphertext.

django-encrypted-model-fields returns the stored ciphertext unchanged when no configured key
can decrypt it; a connector would then send that ciphertext to Expensify or Sage as the
password. `SecretField` raises a clear error naming the field instead.
"""

from __future__ import annotations

from typing import Any

import cryptography.fernet
from django.core.exceptions import ImproperlyConfigured
from encrypted_model_fields import fields as emf

FERNET_PREFIX = "gAAAAA"


class SecretDecryptionError(ImproperlyConfigured):
    """A stored secret cannot be decrypted with any key in FIELD_ENCRYPTION_KEY."""


def crypter() -> cryptography.fernet.MultiFernet:
    return emf.CRYPTER  # type: ignore[no-any-return]


def decrypt(value: str, *, label: str) -> str:
    try:
        return crypter().decrypt(value.encode("utf-8")).decode("utf-8")
    except cryptography.fernet.InvalidToken:
        raise SecretDecryptionError(
            f"{label} cannot be decrypted with any key in FIELD_ENCRYPTION_KEY: the key was "
            "changed or lost. Put the old key back (after the new one) and run "
            "'manage.py rotate_encryption_key', or enter the secret again."
        ) from None


class SecretField(emf.EncryptedCharField):  # type: ignore[misc]
    """An encrypted CharField; blank means 'not set'. Decrypts lazily on read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("max_length", 500)
        super().__init__(*args, **kwargs)

    def _label(self) -> str:
        model = getattr(self, "model", None)
        owner = model._meta.label if model is not None else "secret"
        return f"{owner}.{self.name}"

    def to_python(self, value: Any) -> Any:
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if isinstance(value, str) and value.startswith(FERNET_PREFIX):
            return decrypt(value, label=self._label())
        return value

    def from_db_value(self, value: Any, *args: Any, **kwargs: Any) -> Any:
        if value in (None, ""):
            return value
        return self.to_python(value)

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        if value in (None, ""):
            return ""
        return super().get_db_prep_save(value, connection)
