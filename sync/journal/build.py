"""build_entry: dates, reference, comment and lines, from one report revision."""

from __future__ import annotations

from datetime import date

from sync.journal.lines import (
    _check_amounts,
    _check_balanced,
    _check_chart,
    _expense_lines,
    _nets_to_zero,
    _offset_lines,
)
from sync.journal.resolve import _check_report, _order_key, _resolve
from sync.journal.types import (
    REFERENCE_PREFIX,
    BuiltEntry,
    Chart,
    CompanyRules,
    MappingTables,
    NothingToPost,
    Periods,
    ReportInput,
    ReportRejected,
)
from sync.text import (
    ENTRY_COMMENT_MAX,
    REFERENCE_MAX,
    sage_text,
    to_sage_text,
    truncate,
)


def _intended_posting_date(
    report: ReportInput, rules: CompanyRules, export_date: date, notes: list[str]
) -> date:
    if rules.posting_date_rule == "exported":
        return export_date
    if rules.posting_date_rule == "last_expense":
        dates = [e.spent_on for e in report.expenses if e.spent_on is not None]
        if dates:
            return max(dates)
        if report.approved_on is not None:
            notes.append(f"no expense has a date; posting on the approval date {report.approved_on}")
            return report.approved_on
        notes.append(f"no expense date and no approval date; posting on the export date {export_date}")
        return export_date
    if report.approved_on is None:
        notes.append(f"no approval date; posting on the export date {export_date}")
        return export_date
    return report.approved_on


def _open_posting_date(day: date, rules: CompanyRules, periods: Periods, notes: list[str]) -> date:
    period = periods.containing(day)
    if period is not None and period.open:
        return day
    where = f"closed period {period.start} to {period.end}" if period is not None else "no Sage period set up"
    if rules.closed_period_rule == "fail":
        raise ReportRejected(f"period closed: posting date {day} falls in {where}")
    following = periods.next_open_after(day)
    if following is None:
        raise ReportRejected(
            f"period closed: posting date {day} falls in {where}, and no open period follows it"
        )
    notes.append(
        f"posting date moved from {day} ({where}) to {following.start} (first day of the next open period)"
    )
    return following.start


def _reference(report: ReportInput, notes: list[str]) -> str:
    wanted = f"{REFERENCE_PREFIX}{report.report_id.strip()}"
    reference = sage_text(wanted, REFERENCE_MAX)
    if not reference:
        raise ReportRejected(f"reference {wanted!r} is empty once reduced to Sage text")
    if reference != wanted:
        notes.append(f"reference {wanted!r} shortened to {reference!r} for Sage")
    return reference


def _entry_comment(report: ReportInput) -> str:
    tail_parts = [to_sage_text(report.employee_email).strip(), f"Expensify report {report.report_id.strip()}"]
    tail = " | ".join(p for p in tail_parts if p)
    name = to_sage_text(report.report_name).strip()
    if not name:
        return sage_text(tail, ENTRY_COMMENT_MAX)
    # Cut the report name first: the email and report ID are what find the report again.
    room = max(ENTRY_COMMENT_MAX - len(tail) - 3, 0)
    return sage_text(f"{truncate(name, room).rstrip()} | {tail}", ENTRY_COMMENT_MAX)


def build_entry(
    report: ReportInput,
    rules: CompanyRules,
    mappings: MappingTables,
    chart: Chart,
    periods: Periods,
    *,
    export_date: date,
) -> BuiltEntry | NothingToPost:
    """The Sage journal entry for an approved report, following docs/accounting.md.

    Raises `ReportRejected` (currency, total mismatch, unusable accounts, closed period ...),
    `NeedsMapping` (every unmapped category or required segment at once) and `BuildBug` if the
    entry would not balance. Returns `NothingToPost` when every account nets to zero.
    """
    _check_report(report, rules)
    zero = tuple(e.transaction_id for e in sorted(report.expenses, key=_order_key) if e.amount_cents == 0)
    posted = [e for e in report.expenses if e.amount_cents != 0]
    resolved = _resolve(report, rules, mappings, posted)
    expense_accounts = {
        r.expense.transaction_id: r.account for r in sorted(resolved, key=lambda r: _order_key(r.expense))
    }
    if not resolved:
        reason = (
            "the report has no expenses"
            if not report.expenses
            else f"all {len(report.expenses)} expense(s) are zero-amount"
        )
        return NothingToPost(reason=f"{reason}: nothing to post", zero_expenses=zero)
    if _nets_to_zero(resolved):
        return NothingToPost(
            reason=f"the {len(resolved)} non-zero expense(s) net to zero on every account: nothing to post",
            zero_expenses=zero,
            expense_accounts=expense_accounts,
        )
    lines = _expense_lines(resolved, rules.entry_shape) + _offset_lines(resolved, report)
    _check_balanced(lines, report.net_cents)
    _check_amounts(lines)
    _check_chart(lines, chart, rules)
    notes: list[str] = []
    posting_date = _intended_posting_date(report, rules, export_date, notes)
    posting_date = _open_posting_date(posting_date, rules, periods, notes)
    return BuiltEntry(
        company_code=rules.code,
        report_id=report.report_id,
        currency=report.currency.strip().upper(),
        source_journal=rules.source_journal,
        posting_date=posting_date,
        reference=_reference(report, notes),
        comment=_entry_comment(report),
        lines=tuple(lines),
        net_total_cents=report.net_cents,
        expense_accounts=expense_accounts,
        offset_accounts={
            r.expense.transaction_id: r.offset for r in sorted(resolved, key=lambda r: _order_key(r.expense))
        },
        zero_expenses=zero,
        notes=notes,
    )
