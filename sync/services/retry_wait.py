"""How long a report waits before its next try."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from sync.models import ExpenseReport, ReportState

RETRY_WAIT_FIRST = dt.timedelta(minutes=2)
RETRY_WAIT_MAX = dt.timedelta(hours=6)


def retry_delay(attempts: int) -> dt.timedelta:
    """Growing wait before a report's next try: 2, 4, 8 ... minutes, at most 6 hours."""
    delay: dt.timedelta = RETRY_WAIT_FIRST * (2 ** max(0, min(attempts - 1, 12)))
    return delay if delay < RETRY_WAIT_MAX else RETRY_WAIT_MAX


def due_retries() -> dict[int, list[str]]:
    """Reports whose next attempt is due, by company id (one indexed query)."""
    due: dict[int, list[str]] = {}
    rows = ExpenseReport.objects.filter(
        state__in=[ReportState.RETRY_WAIT, ReportState.UNKNOWN],
        next_attempt_at__lte=timezone.now(),
        company__enabled=True,
    ).values_list("company_id", "report_id")
    for company_id, report_id in rows:
        due.setdefault(company_id, []).append(report_id)
    return due
