"""Reads for the sync engine: what is ready to post, the company's rules, mappings and chart."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from connector.models import Company, GLAccount
from mappings.models import CategoryMapping, EmployeeMapping, TagMapping
from sync.journal import Chart, CompanyRules, ExpenseInput, MappingTables, ReportInput
from sync.journal.memo import RememberingMask
from sync.models import Expense, ExpenseReport, JournalEntry, ReportState
from sync.states import POSTABLE_STATES, REPLAYABLE_STATES

__all__ = ["POSTABLE_STATES", "REPLAYABLE_STATES"]


def reports_to_post(company: Company, *, report_ids: list[str] | None = None) -> QuerySet[ExpenseReport]:
    """Reports a run should try now: new/ready/needs mapping, due retries, unsettled outcomes."""
    now = timezone.now()
    due = Q(state__in=POSTABLE_STATES) | Q(state=ReportState.RETRY_WAIT, next_attempt_at__lte=now)
    unsettled = Q(state=ReportState.UNKNOWN) | Q(state=ReportState.POSTING, claimed_until__lt=now)
    queryset = ExpenseReport.objects.filter(company=company).filter(due | unsettled)
    if report_ids is not None:
        queryset = queryset.filter(report_id__in=report_ids)
    # has_entries: False spares prepare() the read for an earlier entry of the same body.
    entries = JournalEntry.objects.filter(report=OuterRef("pk"))
    return (
        queryset.select_related("company").annotate(has_entries=Exists(entries)).order_by("approved_on", "id")
    )


def with_expenses(reports: Iterable[ExpenseReport], *, chunk: int = 20) -> Iterator[ExpenseReport]:
    """The reports in order, each with `listed_expenses` (its expenses in id order), read in one
    query per `chunk` reports instead of one per report.

    A report's list is taken off it once the caller asks for the next report (what the caller
    needs of it, it keeps itself): a run holds its list of reports to the end, and with every
    report's expenses on it, memory would grow with every expense of the run."""
    batch: list[ExpenseReport] = []
    for report in reports:
        batch.append(report)
        if len(batch) >= chunk:
            yield from _handed_over(batch)
            batch = []
    yield from _handed_over(batch)


def _handed_over(reports: list[ExpenseReport]) -> Iterator[ExpenseReport]:
    for report in _attach_expenses(reports):
        yield report
        report.__dict__.pop("listed_expenses", None)


def _attach_expenses(reports: list[ExpenseReport]) -> list[ExpenseReport]:
    found: dict[int, list[Expense]] = {r.pk: [] for r in reports}
    if reports:
        for expense in Expense.objects.filter(report_id__in=list(found)).order_by("report_id", "id"):
            found[expense.report_id].append(expense)
    for report in reports:
        report.listed_expenses = found[report.pk]  # type: ignore[attr-defined]
    return reports


def reports_to_mark(company: Company) -> QuerySet[ExpenseReport]:
    return (
        ExpenseReport.objects.filter(company=company, state=ReportState.POSTED)
        .select_related("company")
        .order_by("id")
    )


def company_rules(company: Company) -> CompanyRules:
    return CompanyRules(
        code=company.code,
        mask=RememberingMask(company.mask),  # a run formats each distinct account once
        home_currency=company.home_currency,
        allow_foreign_currency=company.allow_foreign_currency,
        reimbursable_offset_account=company.reimbursable_offset_account,
        card_offset_account=company.card_offset_account,
        entry_shape=company.entry_shape,  # type: ignore[arg-type]
        posting_date_rule=company.posting_date_rule,  # type: ignore[arg-type]
        closed_period_rule=company.closed_period_rule,  # type: ignore[arg-type]
        source_journal=company.source_journal,
        required_segments=tuple(str(s) for s in company.required_segments or ()),
    )


def mapping_tables(company: Company) -> MappingTables:
    categories = dict(CategoryMapping.objects.filter(company=company).values_list("category", "account"))
    tags = {
        (level, value.strip().casefold()): (segment, code)
        for level, value, segment, code in TagMapping.objects.filter(company=company).values_list(
            "tag_level", "tag_value", "segment", "code"
        )
    }
    employees = {
        email.lower(): account
        for email, account in EmployeeMapping.objects.filter(company=company).values_list(
            "employee_email", "reimbursable_offset_account"
        )
    }
    return MappingTables(categories=categories, tags=tags, employee_offsets=employees)


def chart(company: Company) -> Chart:
    return Chart(accounts=dict(GLAccount.objects.filter(company=company).values_list("account", "status")))


def report_input(report: ExpenseReport, *, expenses: Iterable[Expense] | None = None) -> ReportInput:
    """The stored revision of a report, as the journal builder takes it (`expenses`: its
    expenses in id order, when the caller has read them already)."""
    rows = expenses if expenses is not None else report.expenses.all().order_by("id")
    return as_report_input(report, report.approved_on, ((e, e.spent_on) for e in rows))


# Copied as they are from a stored or an exported report and its expenses.
_REPORT_FIELDS = ("report_id", "report_name", "employee_email", "policy_id", "currency", "total_cents")
_EXPENSE_FIELDS = (
    "transaction_id",
    "merchant",
    "category",
    "category_gl_code",
    "amount_cents",
    "reimbursable",
)


def as_report_input(
    head: Any, approved_on: dt.date | None, expenses: Iterable[tuple[Any, dt.date | None]]
) -> ReportInput:
    """A report and its (expense, date spent) pairs, stored or as exported, as the builder takes them."""
    return ReportInput(
        **{name: getattr(head, name) for name in _REPORT_FIELDS},
        approved_on=approved_on,
        expenses=tuple(
            ExpenseInput(
                **{name: getattr(e, name) for name in _EXPENSE_FIELDS},
                tag_levels=tuple(e.tag_levels or ()),
                currency=e.original_currency,
                spent_on=spent_on,
            )
            for e, spent_on in expenses
        ),
    )
