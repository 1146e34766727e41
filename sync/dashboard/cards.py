"""One card per company for the dashboard, put together from the grouped reads of the others."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils import timezone

from connector.models import Company
from sync.dashboard.health import SystemHealth, connections_of, health_rows
from sync.dashboard.history import Period, Week, posted_totals, week_starts, weekly_history
from sync.dashboard.schedule import describe_run, next_run_text, next_runs
from sync.dashboard.status import company_status, runs_by_company, state_counts
from sync.models import ReportState, SyncRun
from sync.words import NEEDS_A_PERSON, describe_schedule

S = ReportState


@dataclass
class Problem:
    state: str
    label: str
    count: int
    url: str


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
    connections: list[SystemHealth]
    weeks: list[Week]
    home_currency: str
    other_currencies: list[str]
    company_url: str
    reports_url: str
    runs_url: str

    @property
    def needing_person(self) -> int:
        return sum(p.count for p in self.problems)


def report_list_url(company: Company, state: str | None = None) -> str:
    url = reverse("admin:sync_expensereport_changelist") + f"?company__id__exact={company.pk}"
    return url + (f"&state__exact={state}" if state else "")


@dataclass
class Reads:
    """What the grouped queries found, by company ID."""

    counts: dict[int, dict[str, Any]]
    totals: dict[int, list[Period]]
    history: dict[int, dict[str, list[Week]]]
    runs: dict[int, dict[str, Any]]
    schedules: dict[int, dt.datetime | None]
    health: dict[int, dict[str, Any]]

    @classmethod
    def load(cls, companies: list[Company], now: dt.datetime) -> Reads:
        return cls(
            counts=state_counts(companies),
            totals=posted_totals(companies, now),
            history=weekly_history(companies, now),
            runs=runs_by_company(companies),
            schedules=next_runs(companies),
            health=health_rows(companies),
        )


def company_cards(
    companies: list[Company] | None = None, *, now: dt.datetime | None = None
) -> list[CompanyCard]:
    """One card per company for the dashboard (a fixed number of queries for any number)."""
    now = now or timezone.now()
    if companies is None:
        companies = list(Company.objects.order_by("code"))
    if not companies:
        return []
    reads = Reads.load(companies, now)
    return [card_of(company, reads, now) for company in companies]


def card_of(company: Company, reads: Reads, now: dt.datetime) -> CompanyCard:
    mine = reads.counts[company.pk]
    run_info = reads.runs[company.pk]
    last_run: SyncRun | None = run_info["last_run"]
    status, level = company_status(
        company, counts=mine, last_run=last_run, failing_since=run_info["failing_since"]
    )
    weeks_by_currency = reads.history[company.pk]
    home = company.home_currency
    next_run = reads.schedules[company.pk]
    return CompanyCard(
        company=company,
        status=status,
        status_level=level,
        problems=[
            Problem(state, label, mine[state], report_list_url(company, state))
            for state, label in NEEDS_A_PERSON
            if mine.get(state)
        ],
        withdrawn=mine.get(S.WITHDRAWN, 0),
        waiting=mine.get(S.RETRY_WAIT, 0),
        waiting_url=report_list_url(company, S.RETRY_WAIT),
        earliest_retry=mine["earliest"],
        periods=reads.totals[company.pk],
        last_run=last_run,
        last_run_text=describe_run(last_run, now=now),
        schedule_text=describe_schedule(company),
        next_run=next_run,
        next_run_text=next_run_text(company, next_run, now),
        connections=connections_of(company, reads.health[company.pk], now=now),
        weeks=weeks_by_currency.get(home) or [Week(d) for d in week_starts(now)],
        home_currency=home,
        other_currencies=sorted(c for c in weeks_by_currency if c != home),
        company_url=reverse("admin:connector_company_change", args=[company.pk]),
        reports_url=report_list_url(company),
        runs_url=reverse("admin:sync_syncrun_changelist") + f"?company__id__exact={company.pk}",
    )
