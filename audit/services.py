"""Writing the audit trail: one function, so every event has the same shape.

Many events go in one statement (`connector.rows.insert_rows`, which the ledger also uses for a
report's expenses and an entry's lines).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from audit.models import AuditEvent
from connector.logs import redact
from connector.rows import insert_rows


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
