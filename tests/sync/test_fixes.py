"""The report page's "Fix it" links, one kind of problem each (sync.fixes)."""

from __future__ import annotations

import pytest

from connector.models import Company
from sync.fixes import fixes_for
from sync.models import Expense, ExpenseReport
from tests.factories import CategoryMappingFactory, EmployeeMappingFactory, GLAccountFactory

pytestmark = pytest.mark.django_db


def report_with(company: Company, state: str, last_error: str, **expense: object) -> ExpenseReport:
    report = ExpenseReport.objects.create(
        company=company,
        report_id="R1",
        currency="USD",
        total_cents=100,
        fingerprint="f",
        state=state,
        last_error=last_error,
        employee_email="ann@example.com",
    )
    fields = {
        "transaction_id": "T1",
        "amount_cents": 100,
        "original_amount_cents": 100,
        "original_currency": "USD",
    }
    Expense.objects.create(report=report, **{**fields, **expense})
    return report


def texts(report: ExpenseReport) -> list[str]:
    return [fix.text for fix in fixes_for(report)]


def test_only_reports_that_need_a_mapping_or_failed_get_fixes(company: Company) -> None:
    report = report_with(company, "posted", "", category="Travel")
    assert fixes_for(report) == []


def test_an_unmapped_category_without_gl_code_and_an_unmapped_tag_in_the_problem(company: Company) -> None:
    report = report_with(
        company, "needs_mapping", "no mapping for tag 'West'", category="Travel", tag_levels=["West"]
    )
    fixes = fixes_for(report)
    assert [f.text for f in fixes] == [
        "Add a mapping for category “Travel”",
        "Add a mapping for tag “West” (level 1)",
    ]
    assert fixes[1].url.endswith(f"?company={company.pk}&tag_level=1&tag_value=West")


def test_mappings_and_offsets_on_accounts_sage_refuses(company: Company) -> None:
    GLAccountFactory(company=company, account="6100-00-000", status="I")
    CategoryMappingFactory(company=company, category="Travel", account="6100-00-000")
    EmployeeMappingFactory(
        company=company, employee_email="ann@example.com", reimbursable_offset_account="2110-00-000"
    )
    report = report_with(company, "failed", "account 2150-00-000 is not in the chart", category="Travel")
    assert texts(report) == [
        "Change the mapping “Travel” → 6100-00-000 (the account is inactive in Sage)",
        "Change the offset account of ann@example.com (2110-00-000 is not an active account in Sage)",
        "Change the company's card clearing account (2150-00-000 is not an active account in Sage)",
        "Refresh the chart of accounts from Sage 100 (if the account was added there since)",
    ]
