"""Reads for the sync engine: what is ready to post, the company's rules, mappings and chart."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet
from django.utils import timezone

from connector.models import Company, GLAccount
from mappings.models import CategoryMapping, EmployeeMapping, TagMapping
from sync.journal import Chart, CompanyRules, ExpenseInput, MappingTables, ReportInput
from sync.models import Expense, ExpenseReport, ReportState
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
    return queryset.select_related("company").order_by("approved_on", "id")


def reports_to_mark(company: Company) -> QuerySet[ExpenseReport]:
    return (
        ExpenseReport.objects.filter(company=company, state=ReportState.POSTED)
        .select_related("company")
        .order_by("id")
    )


def company_rules(company: Company) -> CompanyRules:
    return CompanyRules(
        code=company.code,
        mask=company.mask,
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
    return ReportInput(
        report_id=report.report_id,
        report_name=report.report_name,
        employee_email=report.employee_email,
        policy_id=report.policy_id,
        currency=report.currency,
        total_cents=report.total_cents,
        approved_on=report.approved_on,
        expenses=tuple(
            ExpenseInput(
                transaction_id=e.transaction_id,
                merchant=e.merchant,
                category=e.category,
                category_gl_code=e.category_gl_code,
                tag_levels=tuple(e.tag_levels or ()),
                amount_cents=e.amount_cents,
                currency=e.original_currency,
                reimbursable=e.reimbursable,
                spent_on=e.spent_on,
            )
            for e in (expenses if expenses is not None else report.expenses.all().order_by("id"))
        ),
    )
