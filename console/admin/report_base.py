"""What the report's own pages share: loading the report for the person asking, the page around a
template, and the message that links a queued job to the page that follows it."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from sync.models import ExpenseReport
from sync.words import short_state


def report_url(report: ExpenseReport) -> str:
    """The report's own page."""
    return reverse("admin:sync_expensereport_change", args=[report.pk])


def queued_message(request: HttpRequest, what: str, task_id: str, follow: str = "Follow its run") -> str:
    """Says `what` was queued to the workers, linking the page that follows the task; returns its URL."""
    url = reverse("admin:sync_syncrun_queued", args=[task_id])
    messages.success(
        request, format_html('{} queued to the workers. <a href="{}">{}</a>.', what, url, follow)
    )
    return url


class ReportPages(admin.ModelAdmin):  # type: ignore[type-arg]
    """The report pages' plumbing; the pages themselves are in report_changes and report_sage."""

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("sync.replay_expensereport")

    def _report(self, request: HttpRequest, pk: int) -> ExpenseReport:
        report = get_object_or_404(ExpenseReport.objects.select_related("company"), pk=pk)
        if not self.has_view_permission(request, report):
            raise PermissionDenied
        return report

    def _report_to_act_on(
        self, request: HttpRequest, pk: int, states: Collection[str], nothing: str
    ) -> ExpenseReport | HttpResponse:
        """The report if the person may act on it and it is in one of `states`; otherwise the way back
        to its page with a warning ending in `nothing` (e.g. "nothing to replay")."""
        report = self._report(request, pk)
        if not self.has_replay_permission(request):
            raise PermissionDenied
        if report.state not in states:
            messages.warning(request, f"Report {report.report_id} is {short_state(report.state)}: {nothing}.")
            return HttpResponseRedirect(report_url(report))
        return report

    def _page(
        self, request: HttpRequest, report: ExpenseReport, template: str, **context: Any
    ) -> HttpResponse:
        return TemplateResponse(
            request,
            f"admin/sync/expensereport/{template}",
            {
                **self.admin_site.each_context(request),
                "report": report,
                "opts": self.model._meta,
                "report_url": report_url(report),
                **context,
            },
        )
