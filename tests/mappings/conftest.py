"""Helpers for the mapping admin and company-file tests."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import openpyxl
import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client


def csv_file(rows: Sequence[Sequence[object]], name: str = "mappings.csv") -> SimpleUploadedFile:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return SimpleUploadedFile(name, buffer.getvalue().encode("utf-8"), content_type="text/csv")


def xlsx_bytes(rows: Sequence[Sequence[object]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def xlsx_file(rows: Sequence[Sequence[object]], name: str = "mappings.xlsx") -> SimpleUploadedFile:
    return SimpleUploadedFile(
        name,
        xlsx_bytes(rows),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


CSV_FORMAT = "0"
XLSX_FORMAT = "1"


@pytest.fixture
def superuser_client(db) -> Client:  # type: ignore[no-untyped-def]
    user = User.objects.create_superuser("root", "root@example.com", "pw-123456789")
    client = Client()
    client.force_login(user)
    return client


def staff_client_with(*codenames: str) -> Client:
    """A staff user holding exactly these mappings permissions."""
    user = User.objects.create_user(
        f"staff-{'-'.join(codenames)}"[:150], password="pw-123456789", is_staff=True
    )
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="mappings", codename__in=codenames)
    )
    client = Client()
    client.force_login(user)
    return client
