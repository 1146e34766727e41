"""Partial search over expense reports: part of a report ID, employee email, transaction ID or merchant.

Each column is its own branch of one UNION, so each can use its own index (trigram indexes on
PostgreSQL, sync migration 0008): with the report ID and the employee in one OR, PostgreSQL
judged a sequential scan cheaper whenever the term was common in one of them (every address
starting "employee") and read all 100,000 reports. On PostgreSQL the matching report IDs are then
read once (at most `FEW`): the list's count and page look those up by primary key (one array
parameter) instead of joining the whole report table to the UNION twice. More matches than that
(a term like "@"), or SQLite, filter by the UNION itself.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import BigIntegerField, BooleanField, F, Func, Q, QuerySet, Value

from sync.models import Expense, ExpenseReport

FEW = 10_000


class EqualsAny(Func):
    """`<column> = ANY(<array>)` (PostgreSQL): a list of values as one array parameter."""

    arg_joiner = " = ANY("
    template = "%(expressions)s)"
    output_field = BooleanField()


def matching(term: str) -> QuerySet[ExpenseReport, int]:
    """IDs of the reports the term finds: a part of 3 characters or more anywhere; fewer, the start."""
    reports = ExpenseReport.objects.order_by()
    expenses = Expense.objects.order_by()
    if len(term) < 3:
        branches = [
            reports.filter(report_id__startswith=term),
            reports.filter(employee_email__istartswith=term),
        ]
        by_expense = expenses.filter(transaction_id__startswith=term)
    else:
        branches = [
            reports.filter(report_id__icontains=term),
            reports.filter(employee_email__icontains=term),
        ]
        by_expense = expenses.filter(Q(transaction_id__icontains=term) | Q(merchant__icontains=term))
    first, *others = [branch.values_list("pk", flat=True) for branch in branches]
    return first.union(*others, by_expense.values_list("report_id", flat=True))


def search_reports(queryset: QuerySet[ExpenseReport], term: str) -> QuerySet[ExpenseReport]:
    """`queryset` narrowed to the reports `term` finds (see the module docstring)."""
    found = matching(term)
    if connection.vendor == "postgresql":
        ids = list(found[: FEW + 1])
        if len(ids) <= FEW:
            # One array parameter (`id = ANY(%s)`), not thousands of placeholders to parse and plan.
            listed = Value(ids, output_field=ArrayField(BigIntegerField()))
            return queryset.filter(EqualsAny(F("pk"), listed))
    return queryset.filter(pk__in=found)
