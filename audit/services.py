"""Writing the audit trail: one function, so every event has the same shape.

`insert_rows` is the one plain bulk INSERT: an `executemany` of prepared values, one statement
however many rows (no model instances, no per-row SQL compiling). The audit trail uses it for
many events at once, and the ledger for a report's expenses and an entry's lines.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from django.db import connection, models
from django.utils import timezone

from audit.models import AuditEvent
from connector.logs import redact

# Fields whose Python value the database driver cannot take as it is (JSON, dates, times).
_PREPARED = frozenset({"JSONField", "DateField", "DateTimeField", "DecimalField", "TimeField"})


def record(
    *,
    action: str,
    actor: str,
    company: Any = None,
    report: Any = None,
    expense: Any = None,
    message: str = "",
    amount_cents: int | None = None,
    currency: str = "",
    account: str = "",
    sage_entry_no: str = "",
    sage_batch_no: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit event. Its message is redacted of every stored credential (remote answers
    can echo any company's secret)."""
    record_many([locals()])


_COLUMNS = (
    "at",
    "company",
    "report",
    "expense",
    "report_ref",
    "transaction_ref",
    "employee_email",
    "actor",
    "action",
    "amount_cents",
    "currency",
    "account",
    "sage_entry_no",
    "sage_batch_no",
    "message",
    "detail",
)


def record_many(events: Iterable[dict[str, Any]]) -> int:
    """Append many events in one INSERT (one per expense when a report posts)."""
    now = timezone.now()
    rows = []
    for event in events:
        fields = _fields(**event)
        fields["at"] = now
        for name in ("company", "report", "expense"):
            value = fields[name]
            fields[name] = value.pk if value is not None else None
        rows.append([fields[name] for name in _COLUMNS])
    return insert_rows(AuditEvent, _COLUMNS, rows)


def insert_rows(model: type[models.Model], names: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """INSERT `rows` (values in the order of the field `names`; a foreign key as its id) into
    `model`'s table in one statement. Returns how many rows there were."""
    if not rows:
        return 0
    sql, preparers = _plan(model, tuple(names))
    params = []
    for row in rows:
        values = list(row)  # lists, not tuples: one flat list of values per row
        for i, prepare in preparers:
            values[i] = prepare(values[i], connection)
        params.append(values)
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
    return len(params)


@functools.cache
def _plan(
    model: type[models.Model], names: tuple[str, ...]
) -> tuple[str, list[tuple[int, Callable[..., Any]]]]:
    """The INSERT for these fields, and which values need the field to prepare them."""
    fields = [cast("models.Field[Any, Any]", model._meta.get_field(name)) for name in names]
    preparers: list[tuple[int, Callable[..., Any]]] = [
        (i, field.get_db_prep_save)
        for i, field in enumerate(fields)
        if field.get_internal_type() in _PREPARED
    ]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"  # noqa: S608
    return sql, preparers


def _fields(**kwargs: Any) -> dict[str, Any]:
    report = kwargs.get("report")
    expense = kwargs.get("expense")
    company = kwargs.get("company") or (report.company if report is not None else None)
    return {
        "action": kwargs["action"],
        "actor": kwargs["actor"],
        "company": company,
        "report": report,
        "expense": expense,
        "report_ref": report.report_id if report is not None else "",
        "transaction_ref": expense.transaction_id if expense is not None else "",
        "employee_email": report.employee_email if report is not None else "",
        "message": redact(kwargs.get("message", ""))[:5000],
        "amount_cents": kwargs.get("amount_cents"),
        "currency": kwargs.get("currency", ""),
        "account": kwargs.get("account", ""),
        "sage_entry_no": kwargs.get("sage_entry_no", ""),
        "sage_batch_no": kwargs.get("sage_batch_no", ""),
        "detail": kwargs.get("detail") or {},
    }
