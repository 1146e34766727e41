"""Mapping spreadsheets through the admin: preview, confirm, row errors, all-or-nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client, override_settings

from mappings.models import CategoryMapping, EmployeeMapping, TagMapping
from tests.factories import CategoryMappingFactory, CompanyFactory
from tests.mappings.conftest import CSV_FORMAT, XLSX_FORMAT, csv_file, xlsx_file

pytestmark = pytest.mark.django_db

CATEGORY_IMPORT = "/admin/mappings/categorymapping/import/"
CATEGORY_CONFIRM = "/admin/mappings/categorymapping/process_import/"
HEADER = ["company", "category", "account", "note"]


def preview(client: Client, url: str, upload: Any, file_format: str = CSV_FORMAT) -> Any:
    response = client.post(url, {"resource": "0", "format": file_format, "import_file": upload})
    assert response.status_code == 200
    return response


def confirm(client: Client, url: str, response: Any) -> Any:
    form = response.context["confirm_form"]
    assert form is not None, "the preview found errors"
    return client.post(url, {name: form.initial[name] for name in form.initial})


def row_messages(response: Any) -> list[str]:
    result = response.context["result"]
    messages = [str(error.error) for error in result.base_errors]
    for row in result.invalid_rows:
        messages += [m for ms in row.error_dict.values() for m in ms]
    return messages


def test_csv_preview_writes_nothing_then_confirm_imports(superuser_client: Client, company) -> None:
    upload = csv_file([HEADER, ["ABC", "Travel", "6100-1-0", "trips"], ["abc", " Meals ", "6200-00-000", ""]])

    response = preview(superuser_client, CATEGORY_IMPORT, upload)

    assert "confirm_form" in response.context
    assert [row.import_type for row in response.context["result"].rows] == ["new", "new"]
    assert CategoryMapping.objects.count() == 0

    response = confirm(superuser_client, CATEGORY_CONFIRM, response)

    assert response.status_code == 302
    saved = {m.category: m.account for m in CategoryMapping.objects.filter(company=company)}
    assert saved == {"Travel": "6100-01-000", "Meals": "6200-00-000"}


def test_xlsx_import_updates_on_natural_key(superuser_client: Client, company) -> None:
    CategoryMappingFactory(company=company, category="Travel", account="6100-00-000")
    upload = xlsx_file(
        [HEADER, ["ABC", "Travel", "6150-02-000", None], ["ABC", "Lodging", "6300-00-000", "hotels"]]
    )

    response = preview(superuser_client, CATEGORY_IMPORT, upload, XLSX_FORMAT)
    assert sorted(row.import_type for row in response.context["result"].rows) == ["new", "update"]
    confirm(superuser_client, CATEGORY_CONFIRM, response)

    assert CategoryMapping.objects.count() == 2
    assert CategoryMapping.objects.get(category="Travel").account == "6150-02-000"


def test_tag_and_employee_imports(superuser_client: Client, company) -> None:
    tags = csv_file(
        [
            ["company", "tag_level", "tag_value", "segment", "code"],
            ["ABC", "1", "Field Ops", "Department", "1"],
        ]
    )
    response = preview(superuser_client, "/admin/mappings/tagmapping/import/", tags)
    confirm(superuser_client, "/admin/mappings/tagmapping/process_import/", response)
    assert TagMapping.objects.get().code == "01"

    people = xlsx_file(
        [
            ["company", "employee_email", "reimbursable_offset_account", "note"],
            ["ABC", "Ann@Example.com", "2110-00-000", None],
        ]
    )
    response = preview(superuser_client, "/admin/mappings/employeemapping/import/", people, XLSX_FORMAT)
    confirm(superuser_client, "/admin/mappings/employeemapping/process_import/", response)
    assert EmployeeMapping.objects.get().employee_email == "ann@example.com"


def test_bad_account_names_row_and_segment(superuser_client: Client, company) -> None:
    upload = csv_file([HEADER, ["ABC", "Travel", "6100-00-000", ""], ["ABC", "Meals", "6100-ABC-000", ""]])

    response = preview(superuser_client, CATEGORY_IMPORT, upload)

    assert "confirm_form" not in response.context
    (message,) = row_messages(response)
    assert message.startswith("row 3: ")
    assert "segment 2 (Department) of account '6100-ABC-000' must be digits only" in message
    assert CategoryMapping.objects.count() == 0


def test_unknown_company(superuser_client: Client, company) -> None:
    upload = csv_file([HEADER, ["QQQ", "Travel", "6100-00-000", ""]])

    response = preview(superuser_client, CATEGORY_IMPORT, upload)

    assert row_messages(response) == ["row 2: unknown company 'QQQ'"]


def test_duplicate_key_in_one_file(superuser_client: Client, company) -> None:
    rows = [HEADER] + [["ABC", f"Cat {n}", "6100-00-000", ""] for n in range(1, 7)]
    rows[3][1] = "Travel"
    rows.append(["ABC", "Travel", "6200-00-000", ""])

    response = preview(superuser_client, CATEGORY_IMPORT, csv_file(rows))

    assert row_messages(response) == ["row 8 duplicates row 4: company ABC, category Travel"]
    assert b"row 8 duplicates row 4: company ABC, category Travel" in response.content
    assert CategoryMapping.objects.count() == 0


def test_duplicate_tag_key_counts_level_as_a_number(superuser_client: Client, company) -> None:
    header = ["company", "tag_level", "tag_value", "segment", "code"]
    upload = xlsx_file(
        [header, ["ABC", 1, "Field Ops", "Department", "01"], ["ABC", "1", "Field Ops", "2", "02"]]
    )

    response = preview(superuser_client, "/admin/mappings/tagmapping/import/", upload, XLSX_FORMAT)

    assert row_messages(response) == ["row 3 duplicates row 2: company ABC, tag level 1, tag value Field Ops"]


def test_empty_category(superuser_client: Client, company) -> None:
    upload = csv_file([HEADER, ["ABC", "  ", "6100-00-000", ""]])

    response = preview(superuser_client, CATEGORY_IMPORT, upload)

    assert row_messages(response) == ["row 2: category is empty"]


def test_missing_column_is_a_file_error(superuser_client: Client, company) -> None:
    upload = csv_file([["company", "category"], ["ABC", "Travel"]])

    response = preview(superuser_client, CATEGORY_IMPORT, upload)

    assert "the file has no 'account' column(s)" in row_messages(response)[0]
    assert "confirm_form" not in response.context


def test_one_bad_row_imports_nothing_even_at_confirm(superuser_client: Client, company) -> None:
    """The data changes between preview and confirm: the confirm rolls the whole file back."""
    upload = csv_file([HEADER, ["ABC", "Travel", "6100-00-000", ""], ["ABC", "Meals", "6200-00-000", ""]])
    response = preview(superuser_client, CATEGORY_IMPORT, upload)
    company.account_mask = "####-###"  # row accounts no longer fit
    company.segment_names = []
    company.reimbursable_offset_account = "2100-000"
    company.card_offset_account = "2150-000"
    company.save()

    response = confirm(superuser_client, CATEGORY_CONFIRM, response)

    assert CategoryMapping.objects.count() == 0
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert message.startswith("Nothing was imported: row 2: ")


def test_resource_import_rolls_back_on_any_invalid_row(company) -> None:
    import tablib

    from mappings.resources import CategoryMappingResource

    dataset = tablib.Dataset(
        ["ABC", "Travel", "6100-00-000", ""], ["ABC", "Meals", "61X0-00-000", ""], headers=HEADER
    )
    result = CategoryMappingResource().import_data(dataset, dry_run=False)

    assert result.has_validation_errors()
    assert CategoryMapping.objects.count() == 0


@override_settings(MAPPING_IMPORT_MAX_BYTES=200)
def test_oversized_file_refused_before_reading(superuser_client: Client, company, monkeypatch) -> None:
    from mappings.resources import MappingXLSX

    def must_not_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was read")

    monkeypatch.setattr(MappingXLSX, "create_dataset", must_not_read)
    rows = [HEADER] + [["ABC", f"Category {n}", "6100-00-000", ""] for n in range(50)]

    response = preview(superuser_client, CATEGORY_IMPORT, xlsx_file(rows), XLSX_FORMAT)

    errors = response.context["form"].errors["import_file"]
    assert "mapping files are limited to 0.0 MB (200 bytes)" in errors[0]
    assert "result" not in response.context


def test_formula_cells_are_refused_in_xlsx(superuser_client: Client, company) -> None:
    upload = xlsx_file([HEADER, ["ABC", "Travel", '="6100"&"-00-000"', ""]])

    response = preview(superuser_client, CATEGORY_IMPORT, upload, XLSX_FORMAT)

    assert row_messages(response) == [
        'row 2: the account cell holds a formula (\'="6100"&"-00-000"\'); '
        "formulas are not imported, type the value itself"
    ]
    assert CategoryMapping.objects.count() == 0


def test_formula_text_is_refused_in_csv_but_escaped_text_is_taken(superuser_client: Client, company) -> None:
    refused = csv_file([HEADER, ["ABC", '=HYPERLINK("http://x")', "6100-00-000", ""]])
    response = preview(superuser_client, CATEGORY_IMPORT, refused)
    assert "the category cell holds a formula" in row_messages(response)[0]

    escaped = csv_file([HEADER, ["ABC", "'=Other", "6100-00-000", "'+1 note"]])
    response = preview(superuser_client, CATEGORY_IMPORT, escaped)
    confirm(superuser_client, CATEGORY_CONFIRM, response)
    saved = CategoryMapping.objects.get()
    assert (saved.category, saved.note) == ("=Other", "+1 note")


def test_bad_tag_level_is_a_row_error(superuser_client: Client, company) -> None:
    upload = csv_file(
        [["company", "tag_level", "tag_value", "segment", "code"], ["ABC", "one", "Ops", "2", "01"]]
    )

    response = preview(superuser_client, "/admin/mappings/tagmapping/import/", upload)

    assert row_messages(response) == ["row 2: tag_level must be a whole number, got 'one'"]


def test_other_company_rows_are_independent(superuser_client: Client, company) -> None:
    CompanyFactory(code="XYZ")
    upload = csv_file([HEADER, ["ABC", "Travel", "6100-00-000", ""], ["XYZ", "Travel", "6100-00-000", ""]])

    response = preview(superuser_client, CATEGORY_IMPORT, upload)
    confirm(superuser_client, CATEGORY_CONFIRM, response)

    assert CategoryMapping.objects.filter(category="Travel").count() == 2


def test_blank_extra_columns_and_rows_are_ignored(superuser_client: Client, company) -> None:
    upload = xlsx_file([[*HEADER, None, None], ["ABC", "Travel", "6100-00-000", None, None, "x"], [None] * 6])

    response = preview(superuser_client, CATEGORY_IMPORT, upload, XLSX_FORMAT)
    confirm(superuser_client, CATEGORY_CONFIRM, response)

    assert CategoryMapping.objects.get().category == "Travel"


# --- accounts against the cached chart; files read by their extension ------------------------------


@pytest.fixture
def chart(company):  # type: ignore[no-untyped-def]
    from tests.factories import GLAccountFactory

    GLAccountFactory(company=company, account="6100-00-000", status="A")
    GLAccountFactory(company=company, account="6900-00-000", status="I")
    return company


def test_import_refuses_an_inactive_or_unknown_account_naming_it(superuser_client: Client, chart) -> None:
    upload = csv_file(
        [
            HEADER,
            ["ABC", "Travel", "6100-00-000", ""],
            ["ABC", "Gifts", "6900-00-000", ""],
            ["ABC", "Meals", "6300-00-000", ""],
        ]
    )
    response = preview(superuser_client, CATEGORY_IMPORT, upload)
    found = row_messages(response)
    assert any(m.startswith("row 3: account 6900-00-000 is inactive in company ABC's chart") for m in found)
    assert any(m.startswith("row 4: account 6300-00-000 is not in company ABC's chart") for m in found)
    assert "confirm_form" not in response.context
    assert "row 3: account 6900-00-000 is inactive" in response.content.decode()


def test_add_form_refuses_an_inactive_account_with_a_refresh_link(superuser_client: Client, chart) -> None:
    response = superuser_client.post(
        "/admin/mappings/categorymapping/add/",
        {"company": chart.pk, "category": "Gifts", "account": "6900-00-000", "note": ""},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Account 6900-00-000 is inactive in company ABC&#x27;s chart of accounts" in html
    assert f"/admin/connector/company/{chart.pk}/refresh-chart/" in html
    assert not CategoryMapping.objects.exists()


def test_add_form_prefills_from_the_link_and_suggests_active_accounts(
    superuser_client: Client, chart
) -> None:
    html = superuser_client.get(
        f"/admin/mappings/categorymapping/add/?company={chart.pk}&category=Team+Offsite"
    ).content.decode()
    assert 'value="Team Offsite"' in html
    assert '<option value="6100-00-000">' in html and '<option value="6900-00-000">' not in html


def test_format_follows_the_extension_and_a_bad_file_is_one_sentence(
    superuser_client: Client, company
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    # An .xlsx upload with the CSV menu choice is read as xlsx.
    response = preview(
        superuser_client,
        CATEGORY_IMPORT,
        xlsx_file([HEADER, ["ABC", "Travel", "6100-00-000", ""]]),
        file_format=CSV_FORMAT,
    )
    assert "confirm_form" in response.context
    not_a_sheet = SimpleUploadedFile("mappings.xlsx", b"%PDF-1.4 not a spreadsheet")
    html = preview(superuser_client, CATEGORY_IMPORT, not_a_sheet).content.decode()
    assert "could not be read as a spreadsheet" in html and "BadZipFile" not in html
    html = preview(superuser_client, CATEGORY_IMPORT, SimpleUploadedFile("m.pdf", b"x")).content.decode()
    assert "is not a spreadsheet this page reads: save it as .xlsx (Excel) or .csv" in html
    html = preview(
        superuser_client, CATEGORY_IMPORT, csv_file([["company", "category"], ["ABC", "x"]])
    ).content.decode()
    assert "The file has no &#x27;account&#x27; column(s)" in html and "Traceback" not in html
