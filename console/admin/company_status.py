"""The company list and page in words: last run, status, schedule; read-only viewers see no JSON.

A mixin of CompanyAdmin (console.admin.company): the list's annotations (last run, counts of
reports that need a person) and the columns and read-only fields that say them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import admin
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from connector.models import Company
from sync.dashboard import company_cards, company_status
from sync.models import ExpenseReport, ReportState, RunOutcome, SyncRun
from sync.words import NEEDS_A_PERSON, describe_schedule

# Read-only viewers: these fields in words instead of their form widgets.
WORDS_FOR_FIELDS = {
    "segment_names": "segment_names_words",
    "required_segments": "required_segments_words",
    "schedule_kind": "schedule_words",
}


def _in_words(field: str | Sequence[str]) -> str | Sequence[str]:
    return WORDS_FOR_FIELDS.get(field, field) if isinstance(field, str) else field


class CompanyStatusMixin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Columns and read-only fields of the company admin that say how a company is doing."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Company]:
        last = SyncRun.objects.filter(company=OuterRef("pk")).order_by("-started_at")
        annotations: dict[str, Any] = {
            "last_outcome": Subquery(last.values("outcome")[:1]),
            "last_started": Subquery(last.values("started_at")[:1]),
        }
        for state in [s for s, _ in NEEDS_A_PERSON] + [ReportState.RETRY_WAIT]:
            counted = (
                ExpenseReport.objects.filter(company=OuterRef("pk"), state=state)
                .order_by()
                .values("company")
                .annotate(n=Count("id"))
                .values("n")
            )
            annotations[f"n_{state}"] = Subquery(counted[:1])
        queryset: QuerySet[Company] = super().get_queryset(request)
        return queryset.annotate(**annotations)

    @admin.display(description="Schedule")
    def schedule(self, obj: Company) -> str:
        return describe_schedule(obj)

    @admin.display(description="Last run")
    def last_run_outcome(self, obj: Company) -> str:
        outcome = getattr(obj, "last_outcome", None)
        return str(RunOutcome(outcome).label) if outcome in RunOutcome.values else "No run yet"

    @admin.display(description="Last run at")
    def last_run_at(self, obj: Company) -> Any:
        return getattr(obj, "last_started", None)

    @admin.display(description="Status")
    def status(self, obj: Company) -> SafeString:
        counts = {
            state: getattr(obj, f"n_{state}", 0) or 0
            for state in (*ReportState.values,)
            if hasattr(obj, f"n_{state}")
        }
        outcome = getattr(obj, "last_outcome", None)
        last = SyncRun(outcome=outcome) if outcome else None
        words, level = company_status(obj, counts=counts, last_run=last)
        return format_html('<span class="status-{}">{}</span>', level, words)

    @admin.display(description="Status")
    def status_panel(self, obj: Company) -> str:
        if obj.pk is None:
            return "—"
        links = format_html(
            '<a href="{}">Policy data and unmapped categories/tags</a> · <a href="{}">Refresh the chart of '
            'accounts</a> · <a href="{}">Reports</a> · <a href="{}">Runs</a>',
            reverse("admin:connector_company_policy_data", args=[obj.pk]),
            reverse("admin:connector_company_refresh_chart", args=[obj.pk]),
            reverse("admin:sync_expensereport_changelist") + f"?company__id__exact={obj.pk}",
            reverse("admin:sync_syncrun_changelist") + f"?company__id__exact={obj.pk}",
        )
        if obj.blocked_reason:
            return format_html(
                '<strong style="color:#ba2121">Runs stopped: {}</strong><br>{}', obj.blocked_reason, links
            )
        if obj.degraded_reason:
            return format_html(
                '<strong style="color:#b26b00">Degraded ({} failed run(s) in a row): {}</strong><br>{}',
                obj.failure_streak,
                obj.degraded_reason,
                links,
            )
        card = company_cards([obj])[0]
        return format_html(
            '<strong class="status-{}">{}</strong><br>Schedule: {}. {}. Last run: {}.<br>{}',
            card.status_level,
            card.status,
            card.schedule_text,
            card.next_run_text,
            card.last_run_text,
            links,
        )

    @admin.display(description="Segment names")
    def segment_names_words(self, obj: Company) -> str:
        return ", ".join(str(n) for n in obj.segment_names or []) or "—"

    @admin.display(description="Required segments")
    def required_segments_words(self, obj: Company) -> str:
        return ", ".join(str(n) for n in obj.required_segments or []) or "—"

    @admin.display(description="Schedule")
    def schedule_words(self, obj: Company) -> str:
        return describe_schedule(obj)

    def get_fieldsets(self, request: HttpRequest, obj: Company | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        # Read-only: lists in words, not JSON; the schedule as the company says it.
        return [
            (name, {**options, "fields": tuple(_in_words(f) for f in options["fields"])})
            for name, options in fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Company | None = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and not self.has_change_permission(request, obj):
            fields += tuple(WORDS_FOR_FIELDS.values())
        return fields
