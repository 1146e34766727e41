"""The report list's partial search (console/admin/report_search.py), on SQLite and PostgreSQL:
part of a report ID, employee, transaction ID or merchant; a short term matches the start; on
PostgreSQL both the looked-up list of IDs and, past `FEW` matches, the UNION itself."""

from __future__ import annotations

import datetime as dt

import pytest

from console.admin import report_search
from console.admin.report_search import search_reports
from sync.models import Expense, ExpenseReport


def report(company, report_id: str, email: str, merchant: str = "", txn: str = "") -> ExpenseReport:
    made = ExpenseReport.objects.create(
        company=company,
        report_id=report_id,
        employee_email=email,
        currency="USD",
        total_cents=1000,
        approved_on=dt.date(2026, 3, 1),
        fingerprint=report_id,
    )
    if merchant or txn:
        Expense.objects.create(
            report=made,
            transaction_id=txn or f"T-{report_id}",
            merchant=merchant,
            amount_cents=1000,
            original_amount_cents=1000,
            original_currency="USD",
        )
    return made


@pytest.fixture
def reports(company):
    return [
        report(company, "R00SEVENTEEN", "employee17@example.com", merchant="Navarro Cafe", txn="TX-A1"),
        report(company, "R01ONE", "employee1@example.com", merchant="Delta", txn="TX-B2"),
        report(company, "R02TWO", "sam.employee17@example.com"),
        report(company, "R03THREE", "ana.lopez@example.com", merchant="United", txn="QQ-17"),
    ]


def found(term: str) -> list[str]:
    return sorted(search_reports(ExpenseReport.objects.all(), term).values_list("report_id", flat=True))


@pytest.mark.parametrize("few", [10_000, 1])  # 1: PostgreSQL filters by the UNION, as past 10,000 matches
def test_partial_search_by_each_column(reports, few, monkeypatch) -> None:
    monkeypatch.setattr(report_search, "FEW", few)
    assert found("employee17") == ["R00SEVENTEEN", "R02TWO"]  # anywhere in the address
    assert found("EMPLOYEE1") == ["R00SEVENTEEN", "R01ONE", "R02TWO"]  # any case
    assert found("SEVENT") == ["R00SEVENTEEN"]  # part of a report ID
    assert found("navarro") == ["R00SEVENTEEN"]  # merchant
    assert found("QQ-1") == ["R03THREE"]  # transaction ID
    assert found("nobody") == []


def test_a_short_term_matches_the_start(reports) -> None:
    assert found("R0") == ["R00SEVENTEEN", "R01ONE", "R02TWO", "R03THREE"]
    assert found("an") == ["R03THREE"]  # ana.lopez@, not sam.employee17 (an inside)
    assert found("TX") == ["R00SEVENTEEN", "R01ONE"]


def test_the_search_keeps_the_lists_other_filters(reports) -> None:
    exported = ExpenseReport.objects.filter(report_id="R02TWO")
    assert list(search_reports(exported, "employee17").values_list("report_id", flat=True)) == ["R02TWO"]
