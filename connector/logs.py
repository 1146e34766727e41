"""Blank every stored credential of every company from text: log lines, messages, stored rows.

Two sources: secrets registered by the clients this process built (`register_secret`) and every
credential stored in the database (partner secrets, agent keys, Sage passwords of all companies),
loaded on demand and cached. The cache is dropped when a credential is saved or deleted in this
process and re-checked (one cheap query) at most every REFRESH_SECONDS for changes made by other
processes. The logging filter never queries the database: it uses what is already known.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

_lock = threading.Lock()
_secrets: set[str] = set()
MASK = "********"
MIN_SECRET_LENGTH = 4  # shorter values would blank ordinary words
REFRESH_SECONDS = 2.0


class _StoredSecrets:
    """Every company's stored credentials, with the fingerprint they were loaded under."""

    def __init__(self) -> None:
        self.values: frozenset[str] = frozenset()
        self.fingerprint: tuple[Any, ...] | None = None
        self.checked_at = float("-inf")
        self.stale = True


_stored = _StoredSecrets()


def register_secret(value: str | None) -> None:
    """Remember a secret so that no log record can carry it (called when a client is built)."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


def forget_stored_secrets() -> None:
    """Reload stored credentials on the next redact() (a credential was saved or deleted)."""
    with _lock:
        _stored.stale = True


def _fingerprint() -> tuple[Any, ...]:
    from django.db.models import Count, Max

    from connector.models import ExpensifyCredential, SageConnection

    fingerprint: list[Any] = []
    for model in (ExpensifyCredential, SageConnection):
        row = model.objects.aggregate(n=Count("pk"), latest=Max("updated_at"), top=Max("pk"))
        fingerprint += [row["n"], row["latest"], row["top"]]
    return tuple(fingerprint)


def _load_stored() -> frozenset[str]:
    """Decrypt every stored credential; one that cannot be decrypted is skipped (checks name it)."""
    from django.apps import apps

    from connector.checks import SECRET_COLUMNS, _raw_rows
    from connector.fields import FERNET_PREFIX, SecretDecryptionError, decrypt

    found: set[str] = set()
    for app_label, model_name, fields in SECRET_COLUMNS:
        model = apps.get_model(app_label, model_name)
        for _pk, _code, *values in _raw_rows(model, fields):
            for value in values:
                if not value:
                    continue
                try:
                    plain = decrypt(value, label="secret") if value.startswith(FERNET_PREFIX) else value
                except SecretDecryptionError:
                    continue
                if len(plain) >= MIN_SECRET_LENGTH:
                    found.add(plain)
    return frozenset(found)


def _refresh_stored() -> None:
    from django.db import DatabaseError, transaction

    now = time.monotonic()
    with _lock:
        due = _stored.stale or now - _stored.checked_at >= REFRESH_SECONDS
    if not due:
        return
    try:
        # A savepoint: a failing query here must not break the caller's transaction.
        with transaction.atomic():
            fingerprint = _fingerprint()
            if _stored.stale or fingerprint != _stored.fingerprint:
                values = _load_stored()
            else:
                values = _stored.values
    except (DatabaseError, LookupError):
        return  # no database or no tables yet: redact with what is known
    with _lock:
        _stored.values, _stored.fingerprint = values, fingerprint
        _stored.checked_at, _stored.stale = now, False


def _known() -> list[str]:
    with _lock:
        return sorted(_secrets | _stored.values, key=len, reverse=True)


def redact_known(text: str) -> str:
    """`text` with every secret already known to this process blanked; never queries anything."""
    for secret in _known():
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact(text: str) -> str:
    """`text` with every stored credential of every company (and every registered secret) blanked.

    Call it on any text that came from outside (remote answers, error messages) before it is
    stored or printed: run messages, audit rows, command output, admin messages.
    """
    if not text:
        return text
    _refresh_stored()
    return redact_known(text)


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets and not _stored.values:
            return True
        message = record.getMessage()
        cleaned = redact_known(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_known(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class ForbiddenWithoutTraceback(logging.Filter):
    """A refused page (HTTP 403) is an answer, not a fault: one line, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True


__all__ = [
    "MASK",
    "ForbiddenWithoutTraceback",
    "RedactSecretsFilter",
    "forget_stored_secrets",
    "redact",
    "redact_known",
    "register_secret",
]
