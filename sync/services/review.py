"""What a person asks of the engine: replay, accept a change, preview and dry-run entries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction

from connector.expensify.types import RejectedReport
from connector.models import Company
from connector.sage100.errors import SageError
from sync import selectors
from sync.journal import BuiltEntry, NeedsMapping, NothingToPost, ReportInput, ReportRejected
from sync.models import ExpenseReport, ReportState, RunTrigger, SyncRun
from sync.services.context import BuildContext, PeriodCache
from sync.services.ingest import report_input_from_export
from sync.services.ledger import move
from sync.services.runs import Connections, RunOptions, report_states, run_sync
from sync.states import IN_LEDGER_STATES, REPLAYABLE_STATES

S = ReportState


@dataclass(frozen=True)
class DryRunEntry:
    report_id: str
    employee_email: str
    outcome: str  # "post", "nothing", "needs_mapping", "rejected", "already posted"
    built: BuiltEntry | None
    message: str


def replayable(company: Company, report_ids: list[str] | None, *, failed: bool) -> list[ExpenseReport]:
    """The reports a replay would take: the named ones, or every failed one."""
    queryset = ExpenseReport.objects.filter(company=company, state__in=REPLAYABLE_STATES)
    if report_ids is not None:
        queryset = queryset.filter(report_id__in=report_ids)
    elif not failed:
        raise ValueError("replay needs report IDs or failed=True")
    return list(queryset)


def replay(
    *,
    company: Company,
    actor: str,
    report_ids: list[str] | None = None,
    failed: bool = False,
    connections: Connections | None = None,
) -> SyncRun | None:
    """Re-read the chosen reports from Expensify, rebuild with today's mappings, and post them.

    A report whose earlier send is still open is not replayable: it settles under its own key.
    Returns None (and writes no run) when nothing is replayable."""
    chosen = replayable(company, report_ids, failed=failed)
    if not chosen:
        return None
    for report in chosen:
        move(
            report,
            S.READY,
            actor=actor,
            action="replay_requested",
            message=f"replay of report {report.report_id}",
            next_attempt_at=None,
        )
    return run_sync(
        company=company,
        options=RunOptions(trigger=RunTrigger.REPLAY, actor=actor, report_ids=[r.report_id for r in chosen]),
        connections=connections,
    )


def accept_change(*, report: ExpenseReport, actor: str, reason: str = "") -> bool:
    """Keep Sage as posted for a report changed after posting; the accepted revision is not flagged again."""
    if report.state != S.CHANGED:
        return False
    to = S.EXPORTED if report.exported_at else S.POSTED
    with transaction.atomic():
        return move(
            report,
            to,
            actor=actor,
            action="change_accepted",
            message=reason or "Sage stays as posted",
        )


def dry_run(
    *, company: Company, since: dt.date | None = None, connections: Connections | None = None
) -> list[DryRunEntry]:
    """What a run would post now, without storing, posting or marking anything."""
    from connector.sage100.gateway import settings_for_company

    connections = connections or Connections()
    already = set(
        ExpenseReport.objects.filter(company=company, state__in=IN_LEDGER_STATES).values_list(
            "report_id", flat=True
        )
    )
    since = since or company.export_start_date
    if since is None:
        raise ValueError(f"company {company.code} has no export start date: set it on the company page")
    gateway = connections.sage(settings_for_company(company))
    client = connections.expensify(company)
    results: list[DryRunEntry] = []
    try:
        from connector.sage100.services import refresh_chart

        refresh_chart(company)
        context = BuildContext.load(company, PeriodCache(gateway.periods))
        exported = client.export_reports(
            label=company.export_label,
            policy_ids=company.policy_ids,
            approved_since=since,
            report_states=report_states(company),
        )
        for parsed in exported:
            if isinstance(parsed, RejectedReport):
                results.append(
                    DryRunEntry(parsed.report_id, parsed.employee_email, "rejected", None, parsed.reason)
                )
            elif parsed.report_id in already:
                results.append(
                    DryRunEntry(parsed.report_id, parsed.employee_email, "already posted", None, "")
                )
            else:
                results.append(dry_build(context, report_input_from_export(parsed)))
    finally:
        client.close()
        gateway.close()
    return results


def dry_build(context: BuildContext, report: ReportInput) -> DryRunEntry:
    try:
        built = context.build(report)
    except NeedsMapping as exc:
        return DryRunEntry(
            report.report_id, report.employee_email, "needs_mapping", None, "; ".join(exc.problems)
        )
    except ReportRejected as exc:
        return DryRunEntry(report.report_id, report.employee_email, "rejected", None, exc.reason)
    if isinstance(built, NothingToPost):
        return DryRunEntry(report.report_id, report.employee_email, "nothing", None, built.reason)
    return DryRunEntry(report.report_id, report.employee_email, "post", built, "; ".join(built.notes))


def preview(report: ExpenseReport, connections: Connections | None = None) -> DryRunEntry:
    """The entry this report would post now, with today's mappings and cached chart."""
    from connector.sage100.gateway import settings_for_company

    connections = connections or Connections()
    company = report.company
    try:
        gateway = connections.sage(settings_for_company(company))
    except SageError as exc:
        return DryRunEntry(report.report_id, report.employee_email, "rejected", None, str(exc))
    try:
        context = BuildContext.load(company, PeriodCache(gateway.periods))
        return dry_build(context, selectors.report_input(report))
    except SageError as exc:
        return DryRunEntry(report.report_id, report.employee_email, "rejected", None, f"Sage 100: {exc}")
    finally:
        gateway.close()
