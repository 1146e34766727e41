"""Mapping admin pages: formula-safe export, import/export permissions, constant-query lists."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from django.test import Client

from connector.models import Company
from mappings.models import CategoryMapping, EmployeeMapping, TagMapping
from tests.factories import CategoryMappingFactory, CompanyFactory
from tests.mappings.conftest import CSV_FORMAT, XLSX_FORMAT, csv_file, staff_client_with

pytestmark = pytest.mark.django_db

EXPORT_URL = "/admin/mappings/categorymapping/export/"
DANGEROUS = ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "plain"]


def export(client: Client, file_format: str, url: str = EXPORT_URL) -> bytes:
    fields = ("company", "category", "account", "note")
    data = {"format": file_format, "resource": "0"}
    data.update({f"categorymappingresource_{name}": "on" for name in fields})
    response = client.post(url, data)
    assert response.status_code == 200, response.content[:500]
    return response.content


@pytest.fixture
def dangerous_rows(company: Company) -> None:
    for n, text in enumerate(DANGEROUS):
        CategoryMappingFactory(company=company, category=f"{text} {n}", account="6100-00-000", note=text)


def test_csv_export_escapes_formulas(superuser_client: Client, dangerous_rows: None) -> None:
    rows = list(csv.DictReader(io.StringIO(export(superuser_client, CSV_FORMAT).decode("utf-8"))))

    notes = sorted(row["note"] for row in rows)
    assert notes == sorted(["'=1+2", "'+SUM(A1)", "'-2+3", "'@cmd", "plain"])
    assert all(row["company"] == "ABC" for row in rows)


def test_xlsx_export_escapes_formulas_and_holds_no_formula_cell(
    superuser_client: Client, dangerous_rows: None
) -> None:
    sheet = openpyxl.load_workbook(io.BytesIO(export(superuser_client, XLSX_FORMAT))).active
    cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row]

    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    notes = sorted(row[3] for row in sheet.iter_rows(min_row=2, values_only=True))
    assert notes == sorted(["'=1+2", "'+SUM(A1)", "'-2+3", "'@cmd", "plain"])


def test_exported_file_imports_back_unchanged(superuser_client: Client, dangerous_rows: None) -> None:
    before = sorted(CategoryMapping.objects.values_list("category", "account", "note"))
    content = export(superuser_client, CSV_FORMAT)
    CategoryMapping.objects.all().delete()

    upload = csv_file(list(csv.reader(io.StringIO(content.decode("utf-8")))))
    response = superuser_client.post(
        "/admin/mappings/categorymapping/import/",
        {"resource": "0", "format": CSV_FORMAT, "import_file": upload},
    )
    form = response.context["confirm_form"]
    superuser_client.post("/admin/mappings/categorymapping/process_import/", form.initial)

    assert sorted(CategoryMapping.objects.values_list("category", "account", "note")) == before


def test_user_without_import_permission_gets_no_button_and_403(company: Company) -> None:
    client = staff_client_with("view_categorymapping", "export_categorymapping")

    page = client.get("/admin/mappings/categorymapping/")

    assert page.status_code == 200
    assert b"/admin/mappings/categorymapping/import/" not in page.content
    assert b"/admin/mappings/categorymapping/export/" in page.content
    assert client.get("/admin/mappings/categorymapping/import/").status_code == 403
    upload = csv_file([["company", "category", "account"], ["ABC", "Travel", "6100-00-000"]])
    denied = client.post(
        "/admin/mappings/categorymapping/import/",
        {"resource": "0", "format": CSV_FORMAT, "import_file": upload},
    )
    assert denied.status_code == 403
    assert client.post("/admin/mappings/categorymapping/process_import/", {}).status_code == 403
    assert CategoryMapping.objects.count() == 0


def test_user_without_export_permission_gets_no_button_and_403(company: Company) -> None:
    client = staff_client_with("view_tagmapping", "import_tagmapping")

    page = client.get("/admin/mappings/tagmapping/")

    assert b"/admin/mappings/tagmapping/import/" in page.content
    assert b"/admin/mappings/tagmapping/export/" not in page.content
    assert client.get("/admin/mappings/tagmapping/export/").status_code == 403
    assert client.get("/admin/mappings/tagmapping/import/").status_code == 200


def test_import_permission_lets_a_staff_user_import(company: Company) -> None:
    client = staff_client_with("view_employeemapping", "add_employeemapping", "import_employeemapping")
    upload = csv_file(
        [
            ["company", "employee_email", "reimbursable_offset_account"],
            ["ABC", "ann@example.com", "2110-00-000"],
        ]
    )

    response = client.post(
        "/admin/mappings/employeemapping/import/",
        {"resource": "0", "format": CSV_FORMAT, "import_file": upload},
    )
    client.post("/admin/mappings/employeemapping/process_import/", response.context["confirm_form"].initial)

    assert EmployeeMapping.objects.filter(company=company).count() == 1


def test_permissions_declared_on_the_models() -> None:
    from django.contrib.auth.models import Permission

    codenames = set(
        Permission.objects.filter(content_type__app_label="mappings").values_list("codename", flat=True)
    )
    for model in ("categorymapping", "tagmapping", "employeemapping"):
        assert {f"import_{model}", f"export_{model}"} <= codenames


def _fill(rows: int) -> None:
    companies = [CompanyFactory(code=f"Q{n:02d}") for n in range(5)]
    CategoryMapping.objects.bulk_create(
        CategoryMapping(company=companies[n % 5], category=f"Category {n}", account="6100-00-000")
        for n in range(rows)
    )
    TagMapping.objects.bulk_create(
        TagMapping(company=companies[n % 5], tag_value=f"Tag {n}", segment="Department", code="01")
        for n in range(rows)
    )
    EmployeeMapping.objects.bulk_create(
        EmployeeMapping(
            company=companies[n % 5],
            employee_email=f"e{n}@example.com",
            reimbursable_offset_account="2110-00-000",
        )
        for n in range(rows)
    )


@pytest.mark.parametrize("rows", [10, 1000])
@pytest.mark.parametrize("model", ["categorymapping", "tagmapping", "employeemapping"])
def test_list_pages_run_a_constant_number_of_queries(
    superuser_client: Client, django_assert_max_num_queries, rows: int, model: str
) -> None:
    _fill(rows)
    superuser_client.get(f"/admin/mappings/{model}/")  # warm the session and content types

    pk = Company.objects.get(code="Q01").pk
    for url in (f"/admin/mappings/{model}/", f"/admin/mappings/{model}/?company__id__exact={pk}&q=1"):
        with django_assert_max_num_queries(10):
            response = superuser_client.get(url)
        assert response.status_code == 200
