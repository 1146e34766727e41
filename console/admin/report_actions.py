"""The report list's actions: replay the selected reports (queued per company) and accept their
changes after posting."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from console.admin.common import actor_of
from console.admin.report_base import ReportPages, queued_message
from sync import tasks
from sync.models import ExpenseReport, ReportState
from sync.selectors import REPLAYABLE_STATES
from sync.services import accept_change as accept_report_change


class ReportActions(ReportPages):
    @admin.action(description="Replay selected reports (re-read, rebuild, post)", permissions=["replay"])
    def replay_reports(self, request: HttpRequest, queryset: QuerySet[ExpenseReport]) -> None:
        chosen = list(queryset.select_related("company"))
        skipped = [r.report_id for r in chosen if r.state not in REPLAYABLE_STATES]
        if skipped:
            messages.warning(
                request,
                "Only failed, needs-mapping, waiting, withdrawn and held reports can be replayed; skipped "
                + ", ".join(skipped),
            )
        by_company: dict[int, list[ExpenseReport]] = {}
        for report in chosen:
            if report.state in REPLAYABLE_STATES:
                by_company.setdefault(report.company_id, []).append(report)
        for reports in by_company.values():
            company = reports[0].company
            ids = [r.report_id for r in reports]
            # Queued to the workers like the report page's button: nothing long runs in a request.
            task_id = tasks.queue_replay(company, report_ids=ids, actor=actor_of(request))
            queued_message(request, f"{company.code} replay of {', '.join(ids)}", task_id)

    @admin.action(description="Accept change after posting (keep the posted entry)", permissions=["replay"])
    def accept_change(self, request: HttpRequest, queryset: QuerySet[ExpenseReport]) -> None:
        accepted = 0
        for report in queryset.filter(state=ReportState.CHANGED):
            reason = f"kept the posted entry; ignored: {report.change_summary}"
            accepted += accept_report_change(report=report, actor=actor_of(request), reason=reason)
        self.message_user(
            request,
            f"{accepted} changed report(s) accepted without reposting. To give a reason, use Accept change "
            "on the report's page.",
        )
