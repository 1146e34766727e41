"""Admin for companies, their connections (secrets write-only) and the cached chart of accounts."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from connector.admin_secrets import WriteOnlySecretsForm
from connector.models import Company, ExpensifyCredential, GLAccount, SageConnection


class ExpensifyCredentialForm(WriteOnlySecretsForm):
    secret_fields = ("partner_user_secret",)

    class Meta:
        model = ExpensifyCredential
        fields = ("base_url", "partner_user_id", "partner_user_secret", "timeout_seconds")


class SageConnectionForm(WriteOnlySecretsForm):
    secret_fields = ("agent_api_key", "sage_password")

    class Meta:
        model = SageConnection
        fields = (
            "transport",
            "base_url",
            "agent_api_key",
            "sage_username",
            "sage_password",
            "connect_timeout",
            "read_timeout",
        )


class ExpensifyCredentialInline(admin.StackedInline):  # type: ignore[type-arg]
    model = ExpensifyCredential
    form = ExpensifyCredentialForm
    can_delete = False
    extra = 1
    max_num = 1


class SageConnectionInline(admin.StackedInline):  # type: ignore[type-arg]
    model = SageConnection
    form = SageConnectionForm
    can_delete = False
    extra = 1
    max_num = 1


def _run_for_each(request: HttpRequest, queryset: QuerySet[Company], what: str, action: Any) -> None:
    """Run `action(company) -> str` per company and show one message each, success or error."""
    for company in queryset:
        try:
            summary = action(company)
        except Exception as exc:  # the operator sees the typed error's plain sentence
            messages.error(request, f"{company.code}: {what} failed: {exc}")
        else:
            messages.success(request, f"{company.code}: {summary}")


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "code",
        "name",
        "enabled",
        "entry_shape",
        "schedule_kind",
        "last_run_outcome",
        "last_run_at",
        "status",
    )
    list_filter = ("enabled", "entry_shape", "schedule_kind")
    search_fields = ("code", "name")
    inlines = [ExpensifyCredentialInline, SageConnectionInline]
    readonly_fields = ("status_panel", "chart_refreshed_at", "created_at", "updated_at")
    actions = ["sync_now", "test_connections", "refresh_chart_of_accounts"]
    fieldsets = (
        (None, {"fields": ("status_panel", "name", "code", "enabled")}),
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
            {"fields": ("expensify_policy_ids", "export_label", "export_start_date")},
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
        ("Record", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Company]:
        from sync.models import SyncRun

        last = SyncRun.objects.filter(company=OuterRef("pk")).order_by("-started_at")
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_outcome=Subquery(last.values("outcome")[:1]),
                last_started=Subquery(last.values("started_at")[:1]),
            )
        )

    @admin.display(description="Last run")
    def last_run_outcome(self, obj: Company) -> str:
        return getattr(obj, "last_outcome", None) or "—"

    @admin.display(description="Last run at")
    def last_run_at(self, obj: Company) -> Any:
        return getattr(obj, "last_started", None)

    @admin.display(description="Status")
    def status(self, obj: Company) -> str:
        if obj.blocked_reason:
            return format_html('<span style="color:#ba2121">Stopped: {}</span>', obj.blocked_reason)
        return "OK" if obj.enabled else "Disabled"

    @admin.display(description="Status")
    def status_panel(self, obj: Company) -> str:
        if obj.pk is None:
            return "—"
        links = format_html(
            '<a href="{}">Policy data and unmapped categories/tags</a>',
            reverse("admin:connector_company_policy_data", args=[obj.pk]),
        )
        if obj.blocked_reason:
            return format_html(
                '<strong style="color:#ba2121">Runs stopped: {}</strong><br>{}', obj.blocked_reason, links
            )
        return format_html("Runs {}. {}", "enabled" if obj.enabled else "disabled", links)

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                "<int:pk>/policy-data/",
                self.admin_site.admin_view(self.policy_data_view),
                name="connector_company_policy_data",
            ),
        ]
        return custom + super().get_urls()

    def policy_data_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        from connector.expensify.services import load_policy_data

        company = get_object_or_404(Company, pk=pk)
        if not self.has_view_permission(request, company):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        overview: Any = None
        error = ""
        try:
            overview = load_policy_data(company)
        except Exception as exc:  # shown to the operator as one sentence
            error = str(exc)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Expensify policy data for {company}",
            "company": company,
            "overview": overview,
            "error": error,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/connector/company/policy_data.html", context)

    @admin.action(description="Sync now (queued to the background worker)", permissions=["sync"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet[Company]) -> None:
        from sync.tasks import queue_sync

        actor = f"admin:{request.user.get_username()}"
        for company in queryset:
            if not company.enabled:
                messages.warning(request, f"{company.code} is disabled: not queued.")
                continue
            queue_sync(company, actor=actor)
            messages.success(
                request, f"{company.code}: sync queued; its result appears under Sync runs when it finishes."
            )

    def has_sync_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("connector.sync_company")

    def _can_test(self, request: HttpRequest) -> bool:
        return request.user.has_perm("connector.test_connection_company")

    @admin.action(description="Test connections (Expensify and Sage 100)", permissions=["test"])
    def test_connections(self, request: HttpRequest, queryset: QuerySet[Company]) -> None:
        from connector.expensify.services import test_expensify_connection
        from connector.sage100.services import test_sage_connection

        _run_for_each(request, queryset, "Expensify connection test", test_expensify_connection)
        _run_for_each(request, queryset, "Sage 100 connection test", test_sage_connection)

    @admin.action(description="Refresh chart of accounts from Sage 100", permissions=["test"])
    def refresh_chart_of_accounts(self, request: HttpRequest, queryset: QuerySet[Company]) -> None:
        from connector.sage100.services import refresh_chart

        _run_for_each(request, queryset, "Chart refresh", lambda c: refresh_chart(c).message)

    def has_test_permission(self, request: HttpRequest) -> bool:
        return self._can_test(request)


@admin.register(GLAccount)
class GLAccountAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("account", "description", "status", "company", "refreshed_at")
    list_filter = ("company", "status")
    search_fields = ("account", "description")
    list_select_related = ("company",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
