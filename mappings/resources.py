"""django-import-export resources and file formats for the mapping spreadsheets (xlsx, csv).

A company is named by its 3-character Sage company code in the "company" column; rows are
matched on their natural key, so importing a file again updates rows instead of adding them.
An import is all-or-nothing: one bad row and nothing is written.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

import tablib
from django.core.exceptions import ValidationError
from import_export import fields, resources, widgets
from import_export.formats import base_formats
from import_export.results import Result

from connector.models import Company
from mappings import services
from mappings.models import CategoryMapping, EmployeeMapping, TagMapping
from mappings.tag_check import KnownTags, UnknownTag, known_tags, unknown_tag


class CompanyCodeWidget(widgets.ForeignKeyWidget):  # type: ignore[misc]
    """The company by its Sage code; an unknown code is a row error, not a crash."""

    def __init__(self) -> None:
        super().__init__(Company, field="code")
        # Each resource deep-copies its fields, so this lives for one import: a file names a
        # handful of companies over thousands of rows, each looked up once.
        self._seen: dict[str, Company | None] = {}

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Any:
        key = str(value)
        if key not in self._seen:
            try:
                self._seen[key] = super().clean(value, row, **kwargs)
            except Company.DoesNotExist:
                raise ValueError(f"unknown company {value!r}") from None
        return self._seen[key]


def escape_formula(value: object) -> object:
    """Text a spreadsheet would run as a formula gets a leading apostrophe (shown as text)."""
    if isinstance(value, str) and value.startswith(services.FORMULA_TRIGGERS):
        return "'" + value
    return value


class MappingResource(resources.ModelResource):  # type: ignore[misc]
    """Shared behaviour: whole-file checks first, row numbers in messages, all-or-nothing."""

    kind: services.MappingKind

    company = fields.Field(attribute="company", column_name="company", widget=CompanyCodeWidget())

    class Meta:
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.row_problems: dict[int, dict[str, list[str]]] = {}
        self.row_number = 0

    def get_queryset(self) -> Any:
        return super().get_queryset().select_related("company")

    def import_data(self, dataset: tablib.Dataset, **kwargs: Any) -> Any:
        # Nothing half-imported: a row that fails validation rolls the whole file back.
        kwargs["rollback_on_validation_errors"] = True
        return super().import_data(dataset, **kwargs)

    def before_import(self, dataset: tablib.Dataset, **kwargs: Any) -> None:
        dataset.headers = [str(h).strip().lower() if h is not None else "" for h in dataset.headers or []]
        missing = services.missing_columns(kind=self.kind, headers=dataset.headers)
        if missing:
            raise ValueError(
                f"the file has no {', '.join(repr(c) for c in missing)} column(s); the first row must "
                f"name the columns: {', '.join(self.kind.required_columns)}"
            )
        headers = dataset.headers
        raw_rows, rows = [], []
        for index, values in enumerate(list(dataset)):
            normalized = tuple(
                services.normalize_cell(column=column, value=value, kind=self.kind)
                for column, value in zip(headers, values, strict=True)
            )
            dataset[index] = normalized
            raw_rows.append(dict(zip(headers, values, strict=True)))
            rows.append(dict(zip(headers, normalized, strict=True)))
        self.row_problems = services.check_spreadsheet_rows(kind=self.kind, raw_rows=raw_rows, rows=rows)

    def before_import_row(self, row: Any, **kwargs: Any) -> None:
        self.row_number = kwargs.get("row_number", 0)
        problems = self.row_problems.get(self.row_number)
        if problems:
            raise ValidationError(problems)

    def validate_instance(self, instance: Any, import_validation_errors: Any = None, **kwargs: Any) -> None:
        prefix = f"row {services.sheet_row(self.row_number)}: "
        try:
            super().validate_instance(instance, import_validation_errors, **kwargs)
        except ValidationError as exc:
            raise ValidationError(
                {
                    field: [prefix + message for message in messages]
                    for field, messages in exc.message_dict.items()
                }
            ) from None
        refused = {
            field: [
                prefix + problem + "; map an active account, or refresh the company's chart of accounts "
                "(company page) if it changed in Sage"
            ]
            for field in self.kind.account_fields
            if (problem := services.chart_problem(company=instance.company, account=getattr(instance, field)))
        }
        if refused:
            raise ValidationError(refused)

    def export_field(self, field: Any, instance: Any, **kwargs: Any) -> Any:
        return escape_formula(super().export_field(field, instance, **kwargs))


class CategoryMappingResource(MappingResource):
    kind = services.CATEGORIES

    class Meta:
        model = CategoryMapping
        name = "Category mappings"
        fields = ("company", "category", "account", "note")
        import_id_fields = ("company", "category")


class TagImportResult(Result):  # type: ignore[misc]
    """An import's result with the tag values the kept policy tag lists do not hold (warnings only)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tag_warnings: list[tuple[int, UnknownTag]] = []


class TagMappingResource(MappingResource):
    """Tag mappings; a value not among the company's policy tags (as last fetched) is a warning."""

    kind = services.TAGS

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.known: dict[int, KnownTags] = {}
        self.tag_warnings: list[tuple[int, UnknownTag]] = []

    @classmethod
    def get_result_class(cls) -> type[TagImportResult]:
        return TagImportResult

    def validate_instance(self, instance: Any, import_validation_errors: Any = None, **kwargs: Any) -> None:
        super().validate_instance(instance, import_validation_errors, **kwargs)
        company = instance.company
        if company.pk not in self.known:
            self.known[company.pk] = known_tags(company)  # read once per company and file, no network
        warning = unknown_tag(
            self.known[company.pk], company=company, level=instance.tag_level, value=instance.tag_value
        )
        if warning is not None:
            self.tag_warnings.append((services.sheet_row(self.row_number), warning))

    def after_import(self, dataset: tablib.Dataset, result: Any, **kwargs: Any) -> None:
        super().after_import(dataset, result, **kwargs)
        result.tag_warnings = list(self.tag_warnings)

    class Meta:
        model = TagMapping
        name = "Tag mappings"
        fields = ("company", "tag_level", "tag_value", "segment", "code")
        import_id_fields = ("company", "tag_level", "tag_value")


class EmployeeMappingResource(MappingResource):
    kind = services.EMPLOYEES

    class Meta:
        model = EmployeeMapping
        name = "Employee mappings"
        fields = ("company", "employee_email", "reimbursable_offset_account", "note")
        import_id_fields = ("company", "employee_email")


class MappingXLSX(base_formats.XLSX):  # type: ignore[misc]
    """xlsx that reads formula cells as their formula text, so the import can refuse them.

    The stock reader takes a formula cell's cached result, which may be stale or missing.
    """

    def create_dataset(self, in_stream: bytes) -> tablib.Dataset:
        import openpyxl

        book = openpyxl.load_workbook(BytesIO(in_stream), read_only=True, data_only=False)
        sheet = book.active
        rows = sheet.iter_rows(values_only=True)
        dataset = tablib.Dataset()
        try:
            dataset.headers = list(next(rows))
        except StopIteration:
            return dataset
        for values in rows:
            if any(value is not None and value != "" for value in values):
                width = len(dataset.headers)
                dataset.append((list(values) + [None] * width)[:width])
        book.close()
        return dataset


MAPPING_FORMATS = [base_formats.CSV, MappingXLSX]
