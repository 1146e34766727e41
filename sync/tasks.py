"""django-q2 tasks. Each is idempotent: django-q2 may deliver one twice, the ledger makes it harmless."""

from __future__ import annotations

from typing import Any

from connector.models import Company
from sync.models import RunTrigger
from sync.services import RunOptions, run_sync


def sync_company(company_id: int, trigger: str = RunTrigger.SCHEDULE, actor: str = "schedule") -> str:
    """Run one sync for a company; returns a one-line summary for django-q2's result list."""
    company = Company.objects.filter(pk=company_id, enabled=True).first()
    if company is None:
        return f"company {company_id} is missing or disabled: nothing to do"
    run = run_sync(company=company, options=RunOptions(trigger=trigger, actor=actor))
    return (
        f"{company.code}: {run.outcome}; seen {run.reports_seen}, posted {run.reports_posted}, "
        f"exported {run.reports_exported}, failed {run.reports_failed}, "
        f"needs mapping {run.reports_needing_mapping}"
        + (f"; {run.message}" if run.message else "")
        # The admin's "queued" page finds the run by this tail.
        + (f" [run {run.pk}]" if run.pk else "")
    )


def replay_reports(company_id: int, report_ids: list[str], actor: str) -> str:
    """Replay the named reports of a company (queued from the report page); names the run it made."""
    from sync.services import replay

    company = Company.objects.filter(pk=company_id).first()
    if company is None:
        return f"company {company_id} is missing: nothing to replay"
    run = replay(company=company, actor=actor, report_ids=report_ids)
    if run is None:
        return f"{company.code}: nothing to replay (the report moved on meanwhile)"
    return f"{company.code} replay {run.get_outcome_display().lower()} [run {run.pk}]"


def queue_replay(company: Company, *, report_ids: list[str], actor: str) -> str:
    """Queue a replay of some reports to the workers; returns the django-q2 task id."""
    from django_q.tasks import async_task

    return str(
        async_task(
            "sync.tasks.replay_reports",
            company.pk,
            list(report_ids),
            actor,
            task_name=f"replay {company.code} {', '.join(report_ids)[:60]} ({actor})",
            group=f"replay-{company.code}",
        )
    )


def post_correction(report_pk: int, actor: str, reason: str) -> str:
    """Post the adjusting entry of a report changed after posting (queued from the report page)."""
    from sync.models import ExpenseReport
    from sync.services.corrections import CorrectionRefused
    from sync.services.corrections import post_correction as correct
    from sync.words import short_state

    report = ExpenseReport.objects.select_related("company").filter(pk=report_pk).first()
    if report is None:
        return f"report {report_pk} is missing: nothing to correct"
    try:
        state = correct(report=report, actor=actor, reason=reason)
    except CorrectionRefused as exc:
        return f"correction of report {report.report_id} not posted: {exc} [report {report.pk}]"
    return f"correction of report {report.report_id}: {short_state(state)} [report {report.pk}]"


def queue_correction(report: Any, *, actor: str, reason: str) -> str:
    """Queue a correction to the workers; returns the django-q2 task id."""
    from django_q.tasks import async_task

    return str(
        async_task(
            "sync.tasks.post_correction",
            report.pk,
            actor,
            reason,
            task_name=f"correction {report.company.code} {report.report_id} ({actor})",
            group=f"correction-{report.company.code}",
        )
    )


def queue_sync(company: Company, *, actor: str, trigger: str = RunTrigger.ADMIN) -> str:
    """Queue a run now (the admin's 'Sync now'); returns the django-q2 task id."""
    from django_q.tasks import async_task

    return str(
        async_task(
            "sync.tasks.sync_company",
            company.pk,
            trigger,
            actor,
            task_name=f"sync {company.code} ({actor})",
            group=f"sync-{company.code}",
        )
    )


def retry_due() -> str:
    """Post the reports whose next attempt is due, at (about) their time: a run per company that
    re-reads only those reports by ID, not a full export. Scheduled every minute; a company whose
    run lease another worker holds is skipped without a trace (that run takes them)."""
    from sync.services import due_retries

    done = []
    for company_id, report_ids in due_retries().items():
        company = Company.objects.filter(pk=company_id, enabled=True).first()
        if company is None or company.blocked_reason:
            continue
        run = run_sync(
            company=company,
            options=RunOptions(trigger=RunTrigger.RETRY, actor="retry", report_ids=report_ids),
        )
        done.append(f"{company.code}: {run.outcome} ({len(report_ids)} due)")
    return "; ".join(done) or "nothing due"


def daily_digest() -> str:
    """Send each company on the daily digest its summary (scheduled once a day by sync.notify)."""
    from sync.notify import send_daily_digests

    return send_daily_digests()
