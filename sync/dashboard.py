"""The operator's home page: per company, what needs a person, what was posted, runs and health.

Selectors only (reads). Everything comes from a fixed number of grouped queries over all
companies at once, so the page costs the same at 10 reports or 100,000 (bench/dashboard.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Max, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncWeek
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from connector.models import Company, ScheduleKind
from sync.models import EntryState, ExpenseReport, JournalEntry, ReportState, RunOutcome, SyncRun
from sync.words import (
    FAILURE_ACTIONS,
    NEEDS_A_PERSON,
    STATUS_PHRASES,
    describe_duration,
    describe_schedule,
    describe_when,
    money_by_currency,
    plural,
)

S = ReportState
CHART_WEEKS = 12


@dataclass
class Problem:
    state: str
    label: str
    count: int
    url: str


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


@dataclass
class Health:
    """Connection health as the runs saw it (a run that exported and posted reached both systems)."""

    level: str  # ok, degraded, stopped, disabled, never
    headline: str
    last_ok_at: dt.datetime | None
    failing_since: dt.datetime | None
    last_error: str


@dataclass
class CompanyCard:
    company: Company
    status: str
    status_level: str
    problems: list[Problem]
    withdrawn: int
    waiting: int
    waiting_url: str
    earliest_retry: dt.datetime | None
    periods: list[Period]
    last_run: SyncRun | None
    last_run_text: str
    schedule_text: str
    next_run: dt.datetime | None
    next_run_text: str
    health: Health
    weeks: list[Week]
    home_currency: str
    other_currencies: list[str]
    company_url: str
    reports_url: str
    runs_url: str

    @property
    def needing_person(self) -> int:
        return sum(p.count for p in self.problems)


def _report_list_url(company: Company, state: str | None = None) -> str:
    url = reverse("admin:sync_expensereport_changelist") + f"?company__id__exact={company.pk}"
    return url + (f"&state__exact={state}" if state else "")


def company_status(
    company: Company,
    *,
    counts: dict[str, int],
    last_run: SyncRun | None,
    failing_since: dt.datetime | None = None,
) -> tuple[str, str]:
    """(words, level): "OK" only when the last run finished cleanly and nothing waits."""
    if not company.enabled:
        return "Disabled: no scheduled runs", "disabled"
    if company.blocked_reason:
        return f"Stopped: {company.blocked_reason}", "stopped"
    if company.degraded_reason:
        since = f" since {describe_when(failing_since)}" if failing_since else ""
        streak = plural(company.failure_streak, "failed run")
        streak = f" ({streak} in a row)" if company.failure_streak else ""
        return f"Degraded: {company.degraded_reason} — retrying{since}{streak}", "degraded"
    parts = [
        f"{plural(counts[state], 'report')} {STATUS_PHRASES[state]}"
        for state in [*(s for s, _ in NEEDS_A_PERSON), S.RETRY_WAIT]
        if counts.get(state)
    ]
    if parts:
        return ", ".join(parts), "attention"
    if last_run is None:
        return "No run yet", "never"
    if last_run.outcome == RunOutcome.RUNNING:
        return "Running now", "ok"
    if last_run.outcome != RunOutcome.SUCCESS:
        return f"Last run: {last_run.get_outcome_display().lower()}", "attention"
    return "OK", "ok"


def state_counts(companies: list[Company]) -> dict[int, dict[str, Any]]:
    """Per company: reports per state that is not done, and the earliest next retry (one query)."""
    waiting_states = [s for s, _ in NEEDS_A_PERSON] + [S.RETRY_WAIT, S.WITHDRAWN]
    rows = (
        ExpenseReport.objects.filter(company__in=[c.pk for c in companies], state__in=waiting_states)
        .values("company_id", "state")
        .annotate(n=Count("id"), earliest=Min("next_attempt_at"))
        .order_by()
    )
    found: dict[int, dict[str, Any]] = {c.pk: {"earliest": None} for c in companies}
    for row in rows:
        found[row["company_id"]][row["state"]] = row["n"]
        if row["state"] == S.RETRY_WAIT:
            found[row["company_id"]]["earliest"] = row["earliest"]
    return found


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


CLOSED_WEEKS_CACHE_SECONDS = 3600


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


def runs_by_company(companies: list[Company]) -> dict[int, dict[str, Any]]:
    """The last run, the last run that reached both systems, and the first failure after it."""
    ids = [c.pk for c in companies]
    runs = SyncRun.objects.filter(company=OuterRef("pk")).order_by("-started_at")
    ok = runs.filter(outcome__in=[RunOutcome.SUCCESS, RunOutcome.PARTIAL])
    annotated = Company.objects.filter(pk__in=ids).annotate(
        last_run_id=Subquery(runs.values("id")[:1]),
        last_ok_at=Subquery(ok.values("finished_at")[:1]),
    )
    info = {c.pk: {"last_run_id": c.last_run_id, "last_ok_at": c.last_ok_at} for c in annotated}
    last_runs = {r.pk: r for r in SyncRun.objects.filter(pk__in=[i["last_run_id"] for i in info.values()])}
    # The first failed run after the last good one: when the current trouble began.
    failing = (
        SyncRun.objects.filter(company_id__in=ids, outcome=RunOutcome.FAILED)
        .values("company_id")
        .annotate(first=Min("started_at"), last=Max("started_at"))
        .order_by()
    )
    since_ok: dict[int, dt.datetime | None] = {}
    for c in annotated:
        since_ok[c.pk] = c.last_ok_at
    firsts: dict[int, dt.datetime] = {}
    filters = Q()
    for company_id, last_ok in since_ok.items():
        filters |= Q(company_id=company_id, started_at__gt=last_ok) if last_ok else Q(company_id=company_id)
    if ids:
        failing = failing.filter(filters)
        firsts = {row["company_id"]: row["first"] for row in failing}
    for company_id, row in info.items():
        row["last_run"] = last_runs.get(row["last_run_id"])
        row["failing_since"] = firsts.get(company_id)
    return info


def next_runs(companies: list[Company]) -> dict[int, dt.datetime | None]:
    """When each company's django-q2 schedule fires next (one query)."""
    from django_q.models import Schedule

    by_arg = {repr(c.pk): c.pk for c in companies}
    found: dict[int, dt.datetime | None] = {c.pk: None for c in companies}
    for args, next_run in Schedule.objects.filter(
        func="sync.tasks.sync_company", args__in=list(by_arg)
    ).values_list("args", "next_run"):
        found[by_arg[args]] = next_run
    return found


def health_of(company: Company, runs: dict[str, Any]) -> Health:
    last_ok, since = runs["last_ok_at"], runs["failing_since"]
    last: SyncRun | None = runs["last_run"]
    last_error = company.blocked_reason or company.degraded_reason
    if not last_error and last is not None and last.outcome == RunOutcome.FAILED:
        last_error = last.message
    if company.blocked_reason:
        return Health("stopped", f"Stopped: {company.blocked_reason}", last_ok, since, last_error)
    if company.degraded_reason:
        when = f" since {describe_when(since)}" if since else ""
        return Health("degraded", f"Trouble{when} — retrying", last_ok, since, last_error)
    if last is None:
        return Health("never", "Not contacted yet", None, None, "")
    if last_ok is None:
        return Health("degraded", "No run has reached Expensify and Sage yet", None, since, last_error)
    return Health("ok", "Reached Expensify and Sage 100", last_ok, since, last_error)


def company_cards(
    companies: list[Company] | None = None, *, now: dt.datetime | None = None
) -> list[CompanyCard]:
    """One card per company for the dashboard."""
    now = now or timezone.now()
    if companies is None:
        companies = list(Company.objects.order_by("code"))
    if not companies:
        return []
    counts = state_counts(companies)
    totals = posted_totals(companies, now)
    history = weekly_history(companies, now)
    runs = runs_by_company(companies)
    schedules = next_runs(companies)
    cards = []
    for company in companies:
        mine = counts[company.pk]
        run_info = runs[company.pk]
        last_run: SyncRun | None = run_info["last_run"]
        status, level = company_status(
            company, counts=mine, last_run=last_run, failing_since=run_info["failing_since"]
        )
        problems = [
            Problem(state, label, mine[state], _report_list_url(company, state))
            for state, label in NEEDS_A_PERSON
            if mine.get(state)
        ]
        weeks_by_currency = history[company.pk]
        home = company.home_currency
        weeks = weeks_by_currency.get(home) or [Week(d) for d in week_starts(now)]
        next_run = schedules[company.pk]
        cards.append(
            CompanyCard(
                company=company,
                status=status,
                status_level=level,
                problems=problems,
                withdrawn=mine.get(S.WITHDRAWN, 0),
                waiting=mine.get(S.RETRY_WAIT, 0),
                waiting_url=_report_list_url(company, S.RETRY_WAIT),
                earliest_retry=mine["earliest"],
                periods=totals[company.pk],
                last_run=last_run,
                last_run_text=describe_run(last_run, now=now),
                schedule_text=describe_schedule(company),
                next_run=next_run,
                next_run_text=_next_run_text(company, next_run, now),
                health=health_of(company, run_info),
                weeks=weeks,
                home_currency=home,
                other_currencies=sorted(c for c in weeks_by_currency if c != home),
                company_url=reverse("admin:connector_company_change", args=[company.pk]),
                reports_url=_report_list_url(company),
                runs_url=reverse("admin:sync_syncrun_changelist") + f"?company__id__exact={company.pk}",
            )
        )
    return cards


def describe_run(run: SyncRun | None, *, now: dt.datetime | None = None) -> str:
    """ "Today 06:15, finished with report failures, took 12 s" — in words."""
    if run is None:
        return "No run yet"
    outcome = run.get_outcome_display()
    text = f"{describe_when(run.started_at, now=now)}: {outcome[0].lower()}{outcome[1:]}"
    if run.finished_at:
        text += f", took {describe_duration(run.finished_at - run.started_at)}"
    return text


def _next_run_text(company: Company, next_run: dt.datetime | None, now: dt.datetime) -> str:
    if not company.enabled:
        return "No scheduled runs (disabled)"
    if company.schedule_kind == ScheduleKind.MANUAL:
        return "Only when started by hand"
    if company.blocked_reason:
        return "Scheduled runs stopped until the problem is fixed"
    if next_run is None:
        return "No schedule yet (manage.py ensure_schedules creates it)"
    return f"Next {describe_when(next_run, now=now, future=True)}"
