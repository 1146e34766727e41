"""Where a report's problem is fixed: links to the mapping to add or to change (read-only).

Worked out from the stored expenses, today's mappings and the cached chart, not from the text
of the message, so a reworded message never loses its link.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse

from connector.models import GLAccount
from mappings.models import CategoryMapping, EmployeeMapping, TagMapping
from sync.models import Expense, ExpenseReport, ReportState

S = ReportState


@dataclass(frozen=True)
class Fix:
    text: str
    url: str


def _add_url(model: str, **initial: object) -> str:
    return reverse(f"admin:mappings_{model}_add") + "?" + urlencode(initial)


def _change_url(model: str, pk: int) -> str:
    return reverse(f"admin:mappings_{model}_change", args=[pk])


def category_fixes(report: ExpenseReport, expenses: list[Expense], chart: dict[str, str]) -> list[Fix]:
    """A category with neither a mapping nor an Expensify GL code; a mapping to a refused account."""
    company = report.company
    categories = {e.category for e in expenses if e.category}
    mapped = {m.category: m for m in CategoryMapping.objects.filter(company=company, category__in=categories)}
    fixes: list[Fix] = []
    for category in sorted(categories):
        mapping = mapped.get(category)
        has_code = any(e.category == category and e.category_gl_code for e in expenses)
        if mapping is None and not has_code:
            url = _add_url("categorymapping", company=company.pk, category=category)
            fixes.append(Fix(f"Add a mapping for category “{category}”", url))
        elif mapping is not None and chart and chart.get(mapping.account) != GLAccount.Status.ACTIVE:
            status = chart.get(mapping.account)
            what = "is not in the Sage chart" if status is None else "is inactive in Sage"
            fixes.append(
                Fix(
                    f"Change the mapping “{category}” → {mapping.account} (the account {what})",
                    _change_url("categorymapping", mapping.pk),
                )
            )
    return fixes


def tag_fixes(report: ExpenseReport, expenses: list[Expense]) -> list[Fix]:
    """A tag value the problem names that has no mapping at its level."""
    company = report.company
    problem = report.last_error or ""
    known_tags = {
        (level, value.casefold())
        for level, value in TagMapping.objects.filter(company=company).values_list("tag_level", "tag_value")
    }
    used = {(i, str(v).strip()) for e in expenses for i, v in enumerate(e.tag_levels or (), start=1) if v}
    return [
        Fix(
            f"Add a mapping for tag “{value}” (level {level})",
            _add_url("tagmapping", company=company.pk, tag_level=level, tag_value=value),
        )
        for level, value in sorted(used)
        if (level, value.casefold()) not in known_tags and value in problem
    ]


def offset_fixes(report: ExpenseReport, chart: dict[str, str]) -> list[Fix]:
    """An employee's override or the company's offset account that is not active in Sage."""
    company = report.company
    problem = report.last_error or ""
    fixes: list[Fix] = []
    email = report.employee_email.strip().lower()
    if email:
        override = EmployeeMapping.objects.filter(company=company, employee_email=email).first()
        if override is not None and chart and chart.get(override.reimbursable_offset_account) != "A":
            fixes.append(
                Fix(
                    f"Change the offset account of {email} ({override.reimbursable_offset_account} "
                    "is not an active account in Sage)",
                    _change_url("employeemapping", override.pk),
                )
            )
    for field, label in (
        ("reimbursable_offset_account", "reimbursement liability"),
        ("card_offset_account", "card clearing"),
    ):
        account = getattr(company, field)
        if chart and chart.get(account) != "A" and account in problem:
            fixes.append(
                Fix(
                    f"Change the company's {label} account ({account} is not an active account in Sage)",
                    reverse("admin:connector_company_change", args=[company.pk]),
                )
            )
    return fixes


def chart_fixes(report: ExpenseReport) -> list[Fix]:
    """The cached chart may be behind Sage's when the problem says an account is not in it."""
    problem = report.last_error or ""
    if "chart" in problem and ("not in the" in problem or "empty" in problem):
        return [
            Fix(
                "Refresh the chart of accounts from Sage 100 (if the account was added there since)",
                reverse("admin:connector_company_refresh_chart", args=[report.company.pk]),
            )
        ]
    return []


def fixes_for(report: ExpenseReport) -> list[Fix]:
    """The fixes for a report that needs a mapping or failed; empty for any other state."""
    if report.state not in (S.NEEDS_MAPPING, S.FAILED, S.RETRY_WAIT):
        return []
    expenses = list(report.expenses.all())
    chart = dict(GLAccount.objects.filter(company=report.company).values_list("account", "status"))
    return (
        category_fixes(report, expenses, chart)
        + tag_fixes(report, expenses)
        + offset_fixes(report, chart)
        + chart_fixes(report)
    )
