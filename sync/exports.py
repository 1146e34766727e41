"""Streamed CSV and XLSX downloads of reports, journal lines and audit events (read-only resources).

django-import-export's resources say which columns and how each is written; the rows are read in
chunks and written as they come (CSV straight to the response, XLSX through openpyxl's write-only
workbook into a temporary file), so a year of audit rows never sits in memory at once.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator
from typing import Any, ClassVar

from django.db.models import QuerySet
from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from import_export import fields, resources

from audit.models import AuditEvent
from connector.money import cents_to_decimal
from mappings.resources import escape_formula
from sync.models import ExpenseReport, JournalLine
from sync.words import action_words

CHUNK = 2000
FORMATS = ("csv", "xlsx")


def _amount(cents: int | None) -> str:
    return "" if cents is None else str(cents_to_decimal(cents))


class ReadOnlyResource(resources.ModelResource):  # type: ignore[misc]
    """Export only: importing through these resources is refused. `related` are the rows each row
    reads beside its own (joined once), `download_name` the file's name before its date."""

    related: ClassVar[tuple[str, ...]] = ()
    download_name: ClassVar[str]

    def import_data(self, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError("This resource exports only.")


class ReportResource(ReadOnlyResource):
    related = ("company",)
    download_name = "expense-reports"
    company = fields.Field(attribute="company__code", column_name="company")
    total = fields.Field(column_name="total")
    state = fields.Field(column_name="state")

    class Meta:
        model = ExpenseReport
        fields = (
            "company",
            "report_id",
            "report_name",
            "employee_email",
            "policy_id",
            "currency",
            "total",
            "approved_on",
            "state",
            "last_error",
            "change_summary",
            "exported_at",
        )

    def dehydrate_total(self, obj: ExpenseReport) -> str:
        return _amount(obj.total_cents)

    def dehydrate_state(self, obj: ExpenseReport) -> str:
        return obj.get_state_display()


class JournalLineResource(ReadOnlyResource):
    related = ("entry", "entry__company", "entry__report")
    download_name = "journal-lines"
    company = fields.Field(attribute="entry__company__code", column_name="company")
    report_id = fields.Field(attribute="entry__report__report_id", column_name="report_id")
    reference = fields.Field(attribute="entry__reference", column_name="reference")
    posting_date = fields.Field(attribute="entry__posting_date", column_name="posting_date")
    sage_entry_no = fields.Field(attribute="entry__sage_entry_no", column_name="sage_entry_no")
    entry_state = fields.Field(column_name="entry_state")
    currency = fields.Field(attribute="entry__report__currency", column_name="currency")
    debit = fields.Field(column_name="debit")
    credit = fields.Field(column_name="credit")

    class Meta:
        model = JournalLine
        fields = (
            "company",
            "report_id",
            "reference",
            "posting_date",
            "sage_entry_no",
            "entry_state",
            "line_no",
            "account",
            "currency",
            "debit",
            "credit",
            "comment",
            "mapping_source",
        )

    def dehydrate_debit(self, obj: JournalLine) -> str:
        return _amount(obj.debit_cents) if obj.debit_cents else ""

    def dehydrate_credit(self, obj: JournalLine) -> str:
        return _amount(obj.credit_cents) if obj.credit_cents else ""

    def dehydrate_entry_state(self, obj: JournalLine) -> str:
        return obj.entry.get_state_display()


class AuditEventResource(ReadOnlyResource):
    related = ("company",)
    download_name = "audit-events"
    company = fields.Field(attribute="company__code", column_name="company")
    what = fields.Field(column_name="what")
    amount = fields.Field(column_name="amount")

    class Meta:
        model = AuditEvent
        fields = (
            "at",
            "company",
            "what",
            "action",
            "actor",
            "report_ref",
            "transaction_ref",
            "employee_email",
            "amount",
            "currency",
            "account",
            "sage_entry_no",
            "sage_batch_no",
            "message",
        )

    def dehydrate_what(self, obj: AuditEvent) -> str:
        return action_words(obj.action)

    def dehydrate_amount(self, obj: AuditEvent) -> str:
        return _amount(obj.amount_cents)


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def _rows(resource: type[ReadOnlyResource], queryset: QuerySet[Any]) -> Iterator[list[Any]]:
    columns = resource()
    yield columns.get_export_headers()
    rows = queryset.select_related(*resource.related) if resource.related else queryset
    for obj in rows.iterator(chunk_size=CHUNK):
        yield [_cell(value) for value in columns.export_resource(obj)]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if hasattr(value, "tzinfo") and getattr(value, "tzinfo", None) is not None:
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
    return value


def stream_csv(resource: type[ReadOnlyResource], queryset: QuerySet[Any]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    body = (writer.writerow([escape_formula(v) for v in row]) for row in _rows(resource, queryset))
    response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{resource.download_name}-{timezone.localdate()}.csv"'
    )
    return response


def xlsx_file(resource: type[ReadOnlyResource], queryset: QuerySet[Any]) -> FileResponse:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(resource.download_name[:31])
    for row in _rows(resource, queryset):
        sheet.append([escape_formula(v) if isinstance(v, str) else v for v in row])
    spool = tempfile.TemporaryFile()  # FileResponse closes it when sent
    book.save(spool)
    spool.seek(0)
    return FileResponse(
        spool,
        as_attachment=True,
        filename=f"{resource.download_name}-{timezone.localdate()}.xlsx",
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
