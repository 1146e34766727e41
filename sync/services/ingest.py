"""From Expensify to the ledger: store what an export returned, one report at a time."""

from __future__ import annotations

from typing import Any, Literal

from django.db import transaction

from audit.services import record
from connector.expensify.types import ExpensifyReport, RejectedReport
from connector.models import Company
from sync import selectors
from sync.journal import ExpenseInput, ReportInput, describe_difference, report_fingerprint
from sync.models import Expense, ExpenseReport, ReportState
from sync.services.ledger import move

S = ReportState
Upserted = Literal["new", "unchanged", "revised", "changed"]


def report_input_from_export(parsed: ExpensifyReport) -> ReportInput:
    """An exported report as the journal builder takes it."""
    return ReportInput(
        report_id=parsed.report_id,
        report_name=parsed.report_name,
        employee_email=parsed.employee_email,
        policy_id=parsed.policy_id,
        currency=parsed.currency,
        total_cents=parsed.total_cents,
        approved_on=parsed.approved,
        expenses=tuple(
            ExpenseInput(
                transaction_id=e.transaction_id,
                merchant=e.merchant,
                category=e.category,
                category_gl_code=e.category_gl_code,
                tag_levels=e.tag_levels,
                amount_cents=e.amount_cents,
                currency=e.original_currency,
                reimbursable=e.reimbursable,
                spent_on=e.created,
            )
            for e in parsed.expenses
        ),
    )


def _write_expenses(report: ExpenseReport, parsed: ExpensifyReport) -> None:
    Expense.objects.bulk_create(
        [
            Expense(
                report=report,
                transaction_id=e.transaction_id,
                merchant=e.merchant[:500],
                category=e.category[:200],
                category_gl_code=e.category_gl_code[:64],
                tag=e.tag[:500],
                tag_levels=list(e.tag_levels),
                amount_cents=e.amount_cents,
                original_amount_cents=e.original_amount_cents,
                original_currency=e.original_currency[:3],
                reimbursable=e.reimbursable,
                billable=e.billable,
                spent_on=e.created,
                comment=e.comment,
            )
            for e in parsed.expenses
        ],
        batch_size=500,
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
        report = (
            ExpenseReport.objects.select_for_update()
            .filter(company=company, report_id=parsed.report_id)
            .first()
        )
        if report is None:
            return _create(company, parsed, fingerprint, actor)
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


def _create(
    company: Company, parsed: ExpensifyReport, fingerprint: str, actor: str
) -> tuple[ExpenseReport, Upserted]:
    # Whose ledger the report ID is in is settled when it is about to be posted (ReportOwner).
    report = ExpenseReport.objects.create(
        company=company,
        report_id=parsed.report_id,
        state=S.NEW,
        **_report_fields(parsed, fingerprint),
    )
    _write_expenses(report, parsed)
    record(
        action="discovered",
        actor=actor,
        report=report,
        amount_cents=parsed.total_cents,
        currency=parsed.currency,
        message=f"{len(parsed.expenses)} expense(s), approved {parsed.approved or 'date unknown'}",
    )
    return report, "new"


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
