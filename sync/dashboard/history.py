"""Posted today / this week / this month, and the weekly history behind the dashboard's chart.

Grouped queries over all companies at once; the closed weeks are cached for an hour.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from audit.models import AuditEvent
from connector.models import Company
from sync.models import EntryState, JournalEntry
from sync.words import FAILURE_ACTIONS, money_by_currency

CHART_WEEKS = 12
CLOSED_WEEKS_CACHE_SECONDS = 3600


@dataclass
class Period:
    label: str
    count: int = 0
    amounts: dict[str, int] = field(default_factory=dict)

    @property
    def amount_text(self) -> str:
        return money_by_currency(self.amounts)


@dataclass
class Week:
    start: dt.date
    posted_cents: int = 0
    failures: int = 0


def period_starts(now: dt.datetime) -> dict[str, dt.datetime]:
    local = timezone.localtime(now)
    today = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "Today": today,
        "This week": today - dt.timedelta(days=today.weekday()),
        "This month": today.replace(day=1),
    }


def _posted(company_ids: list[int], since: dt.datetime) -> QuerySet[JournalEntry]:
    return JournalEntry.objects.filter(
        company_id__in=company_ids, state=EntryState.POSTED, posted_at__gte=since
    ).order_by()


def posted_totals(companies: list[Company], now: dt.datetime) -> dict[int, list[Period]]:
    """Posted today / this week / this month: entries and their debit totals per currency (one query)."""
    starts = period_starts(now)
    earliest = min(starts.values())
    aggregates: dict[str, Any] = {}
    for index, since in enumerate(starts.values()):
        aggregates[f"n{index}"] = Count("id", distinct=True, filter=Q(posted_at__gte=since))
        aggregates[f"c{index}"] = Sum("lines__debit_cents", filter=Q(posted_at__gte=since))
    rows = (
        _posted([c.pk for c in companies], earliest)
        .values("company_id", "report__currency")
        .annotate(**aggregates)
    )
    found = {c.pk: [Period(label) for label in starts] for c in companies}
    for row in rows:
        for index, period in enumerate(found[row["company_id"]]):
            period.count += row[f"n{index}"] or 0
            if row[f"c{index}"]:
                currency = row["report__currency"]
                period.amounts[currency] = period.amounts.get(currency, 0) + row[f"c{index}"]
    return found


def week_starts(now: dt.datetime, weeks: int = CHART_WEEKS) -> list[dt.date]:
    this_week = period_starts(now)["This week"].date()
    return [this_week - dt.timedelta(weeks=weeks - 1 - i) for i in range(weeks)]


def weekly_history(companies: list[Company], now: dt.datetime) -> dict[int, dict[str, list[Week]]]:
    """Posted amounts (per currency) and failures per week for the last CHART_WEEKS weeks.

    The weeks before this one are closed: they are read once and cached for an hour (two grouped
    queries over eleven weeks); this week is read on every request (two queries over days)."""
    starts = week_starts(now)
    ids = [c.pk for c in companies]
    key = f"cockpit:weeks:{starts[0]}:{','.join(map(str, ids))}"
    closed = cache.get(key)
    if closed is None:
        closed = _week_rows(ids, _aware(starts[0]), _aware(starts[-1]))
        cache.set(key, closed, CLOSED_WEEKS_CACHE_SECONDS)
    current = _week_rows(ids, _aware(starts[-1]), None)
    found: dict[int, dict[str, dict[dt.date, Week]]] = {c.pk: {} for c in companies}
    home = {c.pk: c.home_currency for c in companies}
    for company_id, currency, day, cents, failures in [*closed, *current]:
        if day not in starts or company_id not in found:
            continue
        weeks = found[company_id].setdefault(currency or home[company_id], {d: Week(d) for d in starts})
        weeks[day].posted_cents += cents
        weeks[day].failures += failures
    return {
        company_id: {currency: [weeks[d] for d in starts] for currency, weeks in by_currency.items()}
        for company_id, by_currency in found.items()
    }


def _aware(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


def _week_of(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _week_rows(
    ids: list[int], since: dt.datetime, until: dt.datetime | None
) -> list[tuple[int, str, dt.date, int, int]]:
    """(company, currency or "" for failures, week start, posted cents, failures) between two times."""
    posted = _posted(ids, since)
    failures = AuditEvent.objects.filter(company_id__in=ids, action__in=FAILURE_ACTIONS, at__gte=since)
    if until is not None:
        posted = posted.filter(posted_at__lt=until)
        failures = failures.filter(at__lt=until)
    rows: list[tuple[int, str, dt.date, int, int]] = [
        (row["company_id"], row["report__currency"], _week_of(row["week"]), row["cents"] or 0, 0)
        for row in posted.annotate(week=TruncWeek("posted_at"))
        .values("company_id", "report__currency", "week")
        .annotate(cents=Sum("lines__debit_cents"))
    ]
    rows += [
        (row["company_id"], "", _week_of(row["week"]), 0, row["n"])
        for row in failures.annotate(week=TruncWeek("at"))
        .values("company_id", "week")
        .annotate(n=Count("id"))
        .order_by()
    ]
    return rows
