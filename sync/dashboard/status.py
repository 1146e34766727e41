"""A company's status in words on its card: stopped, degraded, what waits for a person, or OK."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, Min, OuterRef, Q, Subquery

from connector.models import Company
from sync.models import ExpenseReport, ReportState, RunOutcome, SyncRun
from sync.words import NEEDS_A_PERSON, STATUS_PHRASES, describe_when, plural

S = ReportState


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


def runs_by_company(companies: list[Company]) -> dict[int, dict[str, Any]]:
    """The last run, and the first failed run after the last good one (when the trouble began)."""
    ids = [c.pk for c in companies]
    runs = SyncRun.objects.filter(company=OuterRef("pk")).order_by("-started_at")
    ok = runs.filter(outcome__in=[RunOutcome.SUCCESS, RunOutcome.PARTIAL])
    annotated = Company.objects.filter(pk__in=ids).annotate(
        last_run_id=Subquery(runs.values("id")[:1]),
        last_ok_at=Subquery(ok.values("finished_at")[:1]),
    )
    info = {c.pk: {"last_run_id": c.last_run_id, "last_ok_at": c.last_ok_at} for c in annotated}
    last_runs = {r.pk: r for r in SyncRun.objects.filter(pk__in=[i["last_run_id"] for i in info.values()])}
    filters = Q()
    for company_id, row in info.items():
        last_ok = row["last_ok_at"]
        filters |= Q(company_id=company_id, started_at__gt=last_ok) if last_ok else Q(company_id=company_id)
    firsts: dict[int, dt.datetime] = {}
    if info:
        failing = (
            SyncRun.objects.filter(filters, outcome=RunOutcome.FAILED)
            .values("company_id")
            .annotate(first=Min("started_at"))
            .order_by()
        )
        firsts = {row["company_id"]: row["first"] for row in failing}
    for company_id, row in info.items():
        row["last_run"] = last_runs.get(row["last_run_id"])
        row["failing_since"] = firsts.get(company_id)
    return info
