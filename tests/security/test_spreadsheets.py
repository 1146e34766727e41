"""Hostile mapping spreadsheets: formulas, wrong types, broken files, and 10,000 rows.

Existing checks not repeated: tests/mappings/test_spreadsheet_admin.py (csv and xlsx exports
escape =, +, -, @; no formula cell in an exported xlsx; an export imports back unchanged) and
tests/mappings/test_spreadsheet_import.py (oversized files refused before reading, formula
cells refused in xlsx and formula text in csv for categories, one bad row imports nothing).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from connector.models import Company
from mappings.models import CategoryMapping, EmployeeMapping, TagMapping
from tests.mappings.conftest import (
    CSV_FORMAT,
    XLSX_FORMAT,
    csv_file,
    xlsx_file,
)
from tests.mappings.test_spreadsheet_import import CATEGORY_CONFIRM, CATEGORY_IMPORT, HEADER, row_messages

pytestmark = pytest.mark.django_db

ROWS = 10_000
# Generous: the measured time is printed; this only catches a run-away (quadratic) import.
BOUND_SECONDS = 120


def upload(client: Client, url: str, file: Any, file_format: str = CSV_FORMAT) -> Any:
    response = client.post(url, {"resource": "0", "format": file_format, "import_file": file})
    assert response.status_code == 200, response.status_code
    return response


def big_csv_text(rows: int, bad_row: int | None = None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for n in range(1, rows + 1):
        account = "61X0-00-000" if n == bad_row else "6100-00-000"
        writer.writerow(["ABC", f"Category {n:05d}", account, f"note {n}"])
    return buffer.getvalue()


def test_ten_thousand_row_csv_completes_all_or_nothing_in_bounded_time(company: Company) -> None:
    """The admin's csv reader and resource over 10,000 rows whose last row is bad: every row is
    read and checked, the 9,999 good ones roll back, and it takes bounded time (printed)."""
    from import_export.formats.base_formats import CSV

    from mappings.resources import CategoryMappingResource

    started = time.monotonic()
    dataset = CSV().create_dataset(big_csv_text(ROWS, bad_row=ROWS))
    result = CategoryMappingResource().import_data(dataset, dry_run=False)
    elapsed = time.monotonic() - started
    print(f"\n10,000-row csv import (last row bad, all rolled back): {elapsed:.1f} s")
    assert result.totals["new"] == ROWS - 1 and result.totals["invalid"] == 1
    assert [row.number for row in result.invalid_rows] == [ROWS]
    assert CategoryMapping.objects.count() == 0
    assert elapsed < BOUND_SECONDS


@pytest.mark.parametrize(
    ("url", "header", "row"),
    [
        (
            "/admin/mappings/tagmapping/import/",
            ["company", "tag_level", "tag_value", "segment", "code"],
            ["ABC", "1", '=HYPERLINK("http://x","Sales")', "Department", "01"],
        ),
        (
            "/admin/mappings/tagmapping/import/",
            ["company", "tag_level", "tag_value", "segment", "code"],
            ["ABC", "1", "Sales", "Department", " =1+1"],
        ),
        (
            "/admin/mappings/employeemapping/import/",
            ["company", "employee_email", "reimbursable_offset_account", "note"],
            ["ABC", "=cmd|' /C calc'!A0", "2110-00-000", ""],
        ),
        (
            "/admin/mappings/employeemapping/import/",
            ["company", "employee_email", "reimbursable_offset_account", "note"],
            ["=ABC", "a@example.com", "2110-00-000", ""],
        ),
    ],
)
def test_formulas_are_refused_in_every_kind(
    superuser_client: Client, company: Company, url: str, header: list[str], row: list[str]
) -> None:
    for file_format, file in ((CSV_FORMAT, csv_file([header, row])), (XLSX_FORMAT, xlsx_file([header, row]))):
        response = upload(superuser_client, url, file, file_format)
        messages = row_messages(response)
        assert any("holds a formula" in m for m in messages), (file_format, messages)
        assert response.context.get("confirm_form") is None
    assert TagMapping.objects.count() == 0 and EmployeeMapping.objects.count() == 0


@pytest.mark.parametrize(
    "row",
    [
        ["ABC", 6100, 6100, None],  # numbers where text is expected
        ["ABC", dt.datetime(2026, 1, 1), "6100-00-000", True],  # a date and a boolean
        [123, "Travel", "6100-00-000", ""],  # a company code as a number
        ["ABC", "Travel", 6100.5, ""],  # a fractional number as an account
        ["ABC", "", "", ""],  # empty key and account
    ],
)
def test_wrong_types_are_row_errors_not_crashes(
    superuser_client: Client, company: Company, row: list[Any]
) -> None:
    response = upload(superuser_client, CATEGORY_IMPORT, xlsx_file([HEADER, row]), XLSX_FORMAT)
    if response.context.get("confirm_form") is not None:
        confirm = response.context["confirm_form"]
        superuser_client.post(CATEGORY_CONFIRM, {name: confirm.initial[name] for name in confirm.initial})
        for mapping in CategoryMapping.objects.all():
            mapping.full_clean()  # whatever was taken is a valid mapping
    else:
        assert row_messages(response), "refused without saying why"


@pytest.mark.parametrize(
    ("name", "content", "file_format"),
    [
        ("garbage.xlsx", b"PK\x03\x04 not really a zip file" * 10, XLSX_FORMAT),
        ("empty.xlsx", b"", XLSX_FORMAT),
        (
            "latin1.csv",
            "company,category,account,note\nABC,Caf\xe9,6100-00-000,\n".encode("latin-1"),
            CSV_FORMAT,
        ),
        ("binary.csv", bytes(range(256)) * 4, CSV_FORMAT),
        ("xlsx-as-csv.csv", b"PK\x03\x04\x14\x00\x06\x00", CSV_FORMAT),
    ],
)
def test_broken_files_get_an_answer_not_a_server_error(
    superuser_client: Client, company: Company, name: str, content: bytes, file_format: str
) -> None:
    file = SimpleUploadedFile(name, content)
    response = superuser_client.post(
        CATEGORY_IMPORT, {"resource": "0", "format": file_format, "import_file": file}
    )
    assert response.status_code == 200
    assert response.context.get("confirm_form") is None, "a broken file was offered for import"
    assert CategoryMapping.objects.count() == 0


def test_nul_characters_never_cause_a_server_error(superuser_client: Client, company: Company) -> None:
    """PostgreSQL refuses NUL in text: the preview must say so, and a confirm must not crash."""
    file = csv_file([HEADER, ["ABC", "Tra\x00vel", "6100-00-000", "n\x00te"]])
    response = upload(superuser_client, CATEGORY_IMPORT, file)
    form = response.context.get("confirm_form")
    if form is None:
        result = response.context["result"]
        errors = [str(e.error) for _, row_errors in result.row_errors() for e in row_errors]
        assert any("NUL" in e for e in errors + row_messages(response)), errors
        assert "Traceback" not in response.content.decode()
        return
    confirmed = superuser_client.post(CATEGORY_CONFIRM, {name: form.initial[name] for name in form.initial})
    assert confirmed.status_code in (200, 302)
