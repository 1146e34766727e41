"""Sync runs: the list, a run's page (refreshing while it runs), and the page that follows a queued
Sync now or Replay until a worker has run it."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django_q.models import Task

from console.admin.common import LedgerAdmin
from sync.models import SyncRun
from sync.words import describe_duration

RUN_IN_RESULT = re.compile(r"\[run (\d+)\]")
REPORT_IN_RESULT = re.compile(r"\[report (\d+)\]")


def finished_task_page(request: HttpRequest, task: Task) -> HttpResponse | None:
    """Where a finished task's result points (its run, or the report it acted on), or None."""
    result = str(task.result or "")
    found = RUN_IN_RESULT.search(result)
    if found:
        return HttpResponseRedirect(reverse("admin:sync_syncrun_change", args=[found.group(1)]))
    found = REPORT_IN_RESULT.search(result)
    if found:
        messages.info(request, REPORT_IN_RESULT.sub("", result).strip())
        return HttpResponseRedirect(reverse("admin:sync_expensereport_change", args=[found.group(1)]))
    return None


@admin.register(SyncRun)
class SyncRunAdmin(LedgerAdmin):
    list_display = (
        "started_at",
        "company",
        "trigger",
        "actor",
        "outcome",
        "duration",
        "reports_seen",
        "reports_posted",
        "reports_exported",
        "reports_failed",
        "reports_needing_mapping",
        "reports_retrying",
        "message_text",
    )
    list_filter = ("company", "outcome", "trigger")

    @admin.display(description="Took")
    def duration(self, obj: SyncRun) -> str:
        if obj.finished_at is None:
            return "still running" if obj.outcome == "running" else "—"
        return describe_duration(obj.finished_at - obj.started_at)

    @admin.display(description="Message")
    def message_text(self, obj: SyncRun) -> str:
        return format_html('<span class="problem-text">{}</span>', obj.message) if obj.message else ""

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.queued_view)
        return [path("queued/<str:task_id>/", view, name="sync_syncrun_queued"), *super().get_urls()]

    def queued_view(self, request: HttpRequest, task_id: str) -> HttpResponse:
        """A queued Sync now or Replay: waits (refreshing) until a worker has run it, then its run."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        task = Task.objects.filter(id=task_id).first()
        if task is not None and (page := finished_task_page(request, task)) is not None:
            return page
        running = (
            SyncRun.objects.filter(outcome="running").select_related("company").order_by("-started_at")[:5]
        )
        try:
            polls = int(request.GET.get("polls", "0"))
        except ValueError:
            polls = 0
        context = {
            **self.admin_site.each_context(request),
            "title": "Queued to the workers",
            "opts": self.model._meta,
            "task": task,
            "running": running,
            "polls": polls + 1,
            # Refresh for about ten minutes; after that the page says to look at the runs list.
            "refresh": task is None and polls < 300,
        }
        return TemplateResponse(request, "admin/sync/syncrun/queued.html", context)

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        obj = context.get("original")
        context["refresh_while_running"] = obj is not None and obj.outcome == "running"
        return super().render_change_form(request, context, *args, **kwargs)
