"""A run's own row: opened when a run takes the lease, closed with its outcome and counts."""

from __future__ import annotations

import logging

from django.utils import timezone

from audit.services import record
from connector.logs import redact
from connector.models import Company
from sync.models import RunOutcome, SyncRun
from sync.services.counts import RunCounts

log = logging.getLogger(__name__)


def notify(run: SyncRun) -> None:
    from sync.notify import notify_after_run

    try:
        notify_after_run(run)
    except Exception:  # telling people must never cost a run its result
        log.exception("run %s: notifying the company's contacts failed", run.pk)


def close_interrupted(company: Company) -> None:
    """We hold the lease, so any run of this company still 'running' lost its worker."""
    now = timezone.now()
    for run in SyncRun.objects.filter(company=company, outcome=RunOutcome.RUNNING):
        message = "its worker stopped before the run finished; this run takes over what it left"
        SyncRun.objects.filter(pk=run.pk, outcome=RunOutcome.RUNNING).update(
            outcome=RunOutcome.INTERRUPTED, finished_at=max(now, run.started_at), message=message
        )
        record(action="run_interrupted", actor="engine", company=company, message=f"run {run.pk}: {message}")


def finish_run(run: SyncRun, outcome: str, message: str, counts: RunCounts) -> SyncRun:
    run.outcome = outcome
    run.message = redact(message)
    run.finished_at = timezone.now()
    run.reports_seen = counts.seen
    run.reports_posted = counts.posted
    run.reports_exported = counts.exported
    run.reports_failed = counts.failed
    run.reports_needing_mapping = counts.needs_mapping
    run.reports_retrying = counts.retrying + counts.unknown
    run.reports_changed = counts.changed
    run.save()
    record(
        action="run_finished",
        actor=run.actor or run.trigger,
        company=run.company,
        message=f"run {run.pk}: {outcome}" + (f": {run.message}" if run.message else ""),
        detail={
            "seen": counts.seen,
            "posted": counts.posted,
            "exported": counts.exported,
            "failed": counts.failed,
            "needs_mapping": counts.needs_mapping,
            "retrying": counts.retrying,
            "unknown": counts.unknown,
            "changed": counts.changed,
            "withdrawn": counts.withdrawn,
        },
    )
    return run
