"""The company admin page: its fields, its connection inlines, and what a failed save did not keep.

The list's words (console.admin.company_status) and the page's buttons and actions
(console.admin.company_actions) are mixins; the connection inlines and the rule that an enabled
company needs all its secrets are in console.admin.credentials.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from connector.models import Company
from console.admin.company_actions import CompanyActionsMixin
from console.admin.company_forms import CompanyForm
from console.admin.company_status import CompanyStatusMixin
from console.admin.credentials import ExpensifyCredentialInline, SageConnectionInline
from console.admin.secrets import WriteOnlySecretsForm


def _typed_secret_labels(context: dict[str, Any]) -> list[str]:
    """Labels of the secrets typed on a page that came back with errors (nothing was stored)."""
    return [
        label
        for formset in context.get("inline_admin_formsets", [])
        for form in formset.formset.forms
        if isinstance(form, WriteOnlySecretsForm)
        for label in form.typed_secrets()
    ]


@admin.register(Company)
class CompanyAdmin(CompanyActionsMixin, CompanyStatusMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "code",
        "name",
        "enabled",
        "schedule",
        "last_run_outcome",
        "last_run_at",
        "status",
    )
    list_filter = ("enabled", "entry_shape", "schedule_kind")
    search_fields = ("code", "name")
    form = CompanyForm
    inlines = [ExpensifyCredentialInline, SageConnectionInline]
    readonly_fields = (
        "status_panel",
        "degraded_reason",
        "failure_streak",
        "chart_refreshed_at",
        "created_at",
        "updated_at",
    )
    actions = ["sync_now", "test_connections", "refresh_chart_of_accounts"]
    fieldsets = (
        (
            None,
            {"fields": ("status_panel", "name", "code", "enabled", "degraded_reason", "failure_streak")},
        ),
        (
            "Accounts",
            {
                "fields": (
                    "account_mask",
                    "segment_names",
                    "required_segments",
                    "reimbursable_offset_account",
                    "card_offset_account",
                    "chart_refreshed_at",
                )
            },
        ),
        (
            "Entry rules",
            {
                "fields": (
                    "entry_shape",
                    "posting_date_rule",
                    "closed_period_rule",
                    "source_journal",
                    "home_currency",
                    "allow_foreign_currency",
                )
            },
        ),
        (
            "Expensify",
            {
                "fields": (
                    "expensify_policy_ids",
                    "export_label",
                    "export_start_date",
                    "include_archived",
                )
            },
        ),
        (
            "Schedule and limits",
            {
                "fields": (
                    "schedule_kind",
                    "schedule_time",
                    "schedule_weekday",
                    "schedule_cron",
                    "max_concurrent_writes",
                    "max_post_attempts",
                    "max_retry_seconds",
                )
            },
        ),
        (
            "Who is told",
            {"fields": ("contact_emails", "daily_digest")},
        ),
        ("Record", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        if request.method == "POST":
            # The page failed validation: password boxes come back empty, so say what was lost.
            typed = _typed_secret_labels(context)
            if typed:
                messages.warning(
                    request,
                    f"Not saved: the page has errors, so what you typed in {', '.join(typed)} was not "
                    "stored. Type it again before saving.",
                )
        obj = context.get("original")
        if obj is not None and self.has_sync_permission(request):
            context["sync_now_url"] = reverse("admin:connector_company_sync_now", args=[obj.pk])
        return super().render_change_form(request, context, *args, **kwargs)
