"""From Expensify to the ledger: store what an export returned, one report at a time."""

from __future__ import annotations

from typing import Any, Literal

from django.db import transaction

from audit.services import record
from connector.expensify.types import ExpensifyReport, RejectedReport
from connector.models import Company
from connector.rows import insert_new, insert_rows
from sync import selectors
from sync.journal import ReportInput, describe_difference, report_fingerprint
from sync.models import Expense, ExpenseReport, ReportState
from sync.services.ledger import move

S = ReportState
Upserted = Literal["new", "unchanged", "revised", "changed"]


def report_input_from_export(parsed: ExpensifyReport) -> ReportInput:
    """An exported report as the journal builder takes it."""
    return selectors.as_report_input(parsed, parsed.approved, ((e, e.created) for e in parsed.expenses))


_EXPENSE_COLUMNS = (
    "report",
    "transaction_id",
    "merchant",
    "category",
    "category_gl_code",
    "tag",
    "tag_levels",
    "amount_cents",
    "original_amount_cents",
    "original_currency",
    "reimbursable",
    "billable",
    "spent_on",
    "comment",
)


def _write_expenses(report: ExpenseReport, parsed: ExpensifyReport) -> None:
    insert_rows(
        Expense,
        _EXPENSE_COLUMNS,
        [
            [
                report.pk,
                e.transaction_id,
                e.merchant[:500],
                e.category[:200],
                e.category_gl_code[:64],
                e.tag[:500],
                list(e.tag_levels),
                e.amount_cents,
                e.original_amount_cents,
                e.original_currency[:3],
                e.reimbursable,
                e.billable,
                e.created,
                e.comment,
            ]
            for e in parsed.expenses
        ],
    )


def _report_fields(parsed: ExpensifyReport, fingerprint: str) -> dict[str, Any]:
    return {
        "report_name": parsed.report_name[:500],
        "employee_email": parsed.employee_email[:254],
        "policy_id": parsed.policy_id[:64],
        "currency": parsed.currency[:3],
        "total_cents": parsed.total_cents,
        "approved_on": parsed.approved,
        "submitted_on": parsed.submitted,
        "fingerprint": fingerprint,
    }


def upsert_report(*, company: Company, parsed: ExpensifyReport, actor: str) -> tuple[ExpenseReport, Upserted]:
    """Store an exported (eligible) report; returns it and what happened."""
    fingerprint = report_fingerprint(report_input_from_export(parsed))
    with transaction.atomic():
        created = _create(company, parsed, fingerprint, actor)
        if created is not None:
            return created, "new"
        report = ExpenseReport.objects.select_for_update().get(company=company, report_id=parsed.report_id)
        if report.state == S.WITHDRAWN:
            move(
                report,
                S.NEW,
                actor=actor,
                action="eligible_again",
                message="Expensify shows the report approved again",
            )
        if fingerprint in (report.fingerprint, report.changed_fingerprint):
            return report, "unchanged"  # the same revision, or a change already flagged or accepted
        if report.state in (S.POSTED, S.EXPORTED, S.CHANGED):
            # Never repost automatically: a person decides (reverse and repost, or ignore).
            summary = describe_difference(selectors.report_input(report), report_input_from_export(parsed))
            move(
                report,
                S.CHANGED,
                actor=actor,
                action="changed_after_posting",
                message=summary,
                change_summary=summary,
                changed_fingerprint=fingerprint,
            )
            return report, "changed"
        if report.state in (S.POSTING, S.UNKNOWN):
            return report, "unchanged"  # settle the revision in flight first; seen again next run
        report.expenses.all().delete()
        move(
            report,
            S.NEW,
            actor=actor,
            action="revised",
            message="Expensify shows a new revision",
            last_error="",
            **_report_fields(parsed, fingerprint),
        )
        _write_expenses(report, parsed)
        return report, "revised"


def _create(company: Company, parsed: ExpensifyReport, fingerprint: str, actor: str) -> ExpenseReport | None:
    """The report stored as new with its expenses and audit row, or None if it is stored already."""
    # Whose ledger the report ID is in is settled when it is about to be posted (ReportOwner).
    report = ExpenseReport(
        company=company,
        report_id=parsed.report_id,
        state=S.NEW,
        **_report_fields(parsed, fingerprint),
    )
    if not insert_new(report):
        return None
    _write_expenses(report, parsed)
    record(
        action="discovered",
        actor=actor,
        report=report,
        amount_cents=parsed.total_cents,
        currency=parsed.currency,
        message=f"{len(parsed.expenses)} expense(s), approved {parsed.approved or 'date unknown'}",
    )
    return report


def upsert_rejected(*, company: Company, rejected: RejectedReport, actor: str) -> tuple[ExpenseReport, bool]:
    """A report whose export data is unusable: kept, failed, with the reason; True if it failed just now."""
    with transaction.atomic():
        report, created = ExpenseReport.objects.select_for_update().get_or_create(
            company=company,
            report_id=rejected.report_id,
            defaults={
                "report_name": rejected.report_name[:500],
                "employee_email": rejected.employee_email[:254],
                "currency": "",
                "total_cents": 0,
                "fingerprint": "rejected",
                "state": S.FAILED,
                "last_error": rejected.reason,
            },
        )
        if created:
            record(action="rejected", actor=actor, report=report, message=rejected.reason)
            return report, True
        failed_now = report.state in (S.NEW, S.READY, S.NEEDS_MAPPING) and move(
            report,
            S.FAILED,
            actor=actor,
            action="rejected",
            message=rejected.reason,
            last_error=rejected.reason,
        )
    return report, failed_now
