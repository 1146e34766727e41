"""The dashboard's run texts: the last run in words, the schedule's next run."""

from __future__ import annotations

import datetime as dt

from connector.models import Company, ScheduleKind
from sync.models import SyncRun
from sync.words import describe_duration, describe_when


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


def describe_run(run: SyncRun | None, *, now: dt.datetime | None = None) -> str:
    """ "Today 06:15, finished with report failures, took 12 s" — in words."""
    if run is None:
        return "No run yet"
    outcome = run.get_outcome_display()
    text = f"{describe_when(run.started_at, now=now)}: {outcome[0].lower()}{outcome[1:]}"
    if run.finished_at:
        text += f", took {describe_duration(run.finished_at - run.started_at)}"
    return text


def next_run_text(company: Company, next_run: dt.datetime | None, now: dt.datetime) -> str:
    if not company.enabled:
        return "No scheduled runs (disabled)"
    if company.schedule_kind == ScheduleKind.MANUAL:
        return "Only when started by hand"
    if company.blocked_reason:
        return "Scheduled runs stopped until the problem is fixed"
    if next_run is None:
        return "No schedule yet (manage.py ensure_schedules creates it)"
    return f"Next {describe_when(next_run, now=now, future=True)}"
