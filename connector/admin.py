"""Admin for companies, their connections (secrets write-only) and the cached chart of accounts."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from connector.admin_secrets import WriteOnlySecretsForm
from connector.logs import redact
from connector.models import Company, ExpensifyCredential, GLAccount, SageConnection


class CompanyForm(forms.ModelForm):  # type: ignore[type-arg]
    """The company page; policy IDs are a comma list here, CompanyPolicy rows underneath."""

    expensify_policy_ids = forms.CharField(
        label="Expensify policy IDs",
        required=False,
        max_length=2000,
        help_text=(
            "Comma-separated Expensify policy (workspace) IDs. A policy belongs to one company; "
            "no policy listed = nothing is exported."
        ),
    )

    class Meta:
        model = Company
        fields = (
            "name",
            "code",
            "enabled",
            "export_label",
            "export_start_date",
            "include_archived",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and "expensify_policy_ids" not in self.initial:
            self.initial["expensify_policy_ids"] = ", ".join(self.instance.policy_ids)

    def clean_expensify_policy_ids(self) -> str:
        value: str = self.cleaned_data.get("expensify_policy_ids") or ""
        ids = [p.strip() for p in value.split(",") if p.strip()]
        too_long = [p for p in ids if len(p) > 100]
        if too_long:
            raise forms.ValidationError(
                f"Not an Expensify policy ID (over 100 characters): {too_long[0][:20]}..."
            )
        return ",".join(dict.fromkeys(ids))

    def _post_clean(self) -> None:
        if "expensify_policy_ids" in self.cleaned_data:
            # Set before the model's clean(), which names another company holding a policy.
            self.instance.expensify_policy_ids = self.cleaned_data["expensify_policy_ids"]
        super()._post_clean()


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


def _run_for_each(
    request: HttpRequest,
    queryset: QuerySet[Company],
    what: str,
    action: Any,
    describe: Any = None,
) -> None:
    """Run `action(company) -> str` per company and show one message each, success or error.

    `describe(exc) -> str`, when given, replaces the error's own text (which may quote the remote
    answer) with our classification of it. Every message is redacted of every stored credential.
    """
    for company in queryset:
        try:
            summary = action(company)
        except Exception as exc:  # the operator sees the typed error's plain sentence
            text = describe(exc) if describe is not None else f"{what} failed: {exc}"
            messages.error(request, redact(f"{company.code}: {text}"))
        else:
            messages.success(request, redact(f"{company.code}: {summary}"))


def _http_status(exc: BaseException) -> int | None:
    status = getattr(exc, "http_status", None) or getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status
    # Our own message names the status it saw ("answered HTTP 404"); the remote body is not read.
    match = re.search(r"\bHTTP (\d{3})\b", str(exc))
    return int(match.group(1)) if match else None


def describe_expensify_failure(exc: BaseException) -> str:
    """Our classification of a failed Expensify connection test, never the remote answer."""
    from connector.expensify.errors import (
        ExpensifyAuthError,
        ExpensifyError,
        ExpensifyProtocolError,
        ExpensifyTransientError,
    )

    status = _http_status(exc)
    code = f" (HTTP {status})" if status else ""
    if isinstance(exc, ExpensifyAuthError):
        lowered = str(exc).lower()
        if ("url" in lowered and "refused" in lowered) or "must start with https" in lowered:
            return f"Expensify: URL refused: {exc}"
        if "incomplete" in lowered or "no expensify credentials" in lowered:
            return "Expensify: credentials missing (enter the partner user ID and secret)"
        if "admin" in lowered:
            return "Expensify: access refused (the partner user is not an admin of the policies)"
        return "Expensify: credentials refused"
    if isinstance(exc, ExpensifyTransientError):
        lowered = str(exc).lower()
        if "rate-limited" in lowered or status == 429:
            return "Expensify: rate-limited, try again in a minute"
        if "did not answer" in lowered:
            return "Expensify: no answer in time (timeout)"
        if "could not reach" in lowered:
            return "Expensify: not reachable (connection failed)"
        return f"Expensify: unavailable{code}"
    if isinstance(exc, ExpensifyProtocolError):
        return f"Expensify: the URL does not answer like Expensify's Integration Server{code}"
    if isinstance(exc, ExpensifyError):
        return f"Expensify: request refused{code}"
    from connector.fields import SecretDecryptionError

    if isinstance(exc, SecretDecryptionError):
        return f"Expensify: {exc}"
    return f"Expensify: connection test failed ({type(exc).__name__})"


def describe_sage_failure(exc: BaseException) -> str:
    """Our classification of a failed Sage 100 connection test, never the remote answer."""
    from connector.sage100.errors import SageError

    if not isinstance(exc, SageError):
        from connector.fields import SecretDecryptionError

        if isinstance(exc, SecretDecryptionError):
            return f"Sage 100: {exc}"
        return f"Sage 100: connection test failed ({type(exc).__name__})"
    status = _http_status(exc)
    code = f" (HTTP {status})" if status else ""
    texts = {
        "AUTH_AGENT": "Sage 100: agent API key refused",
        "AUTH_SAGE": "Sage 100: Sage username or password refused",
        "NO_ACCESS": "Sage 100: the Sage user lacks General Ledger rights",
        "COMPANY_NOT_FOUND": "Sage 100: no company with this company code",
        "SAGE_UNAVAILABLE": f"Sage 100: unavailable{code}",
        "SAGE_TIMEOUT": "Sage 100: no answer in time (timeout)",
        "CONNECTION_LOST": "Sage 100: connection lost",
        "RECORD_LOCKED": "Sage 100: busy (record locked)",
        "TOO_MANY_WRITES": "Sage 100: busy (too many writes)",
    }
    if exc.code in texts:
        return texts[exc.code]
    if exc.code == "CONFIG":
        lowered = str(exc).lower()
        if "is refused" in lowered or "must start with https" in lowered:
            return f"Sage 100: URL refused: {exc}"
        if status in (404, 405, 413):
            return f"Sage 100: agent URL/path wrong{code}"
        if "no sage 100 connection" in lowered or "decrypt" in lowered:
            return f"Sage 100: {exc}"
        if "could not be read" in lowered:
            return "Sage 100: the answer could not be read (check the base URL and the agent version)"
        return f"Sage 100: configuration error{code}"
    if exc.kind == "transient":
        return f"Sage 100: unavailable{code}"
    return f"Sage 100: request refused ({exc.code}){code}"


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
        if obj.degraded_reason:
            return format_html('<span style="color:#b26b00">Degraded: {}</span>', obj.degraded_reason)
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
        if obj.degraded_reason:
            return format_html(
                '<strong style="color:#b26b00">Degraded ({} failed run(s) in a row): {}</strong><br>{}',
                obj.failure_streak,
                obj.degraded_reason,
                links,
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

        _run_for_each(
            request,
            queryset,
            "Expensify connection test",
            test_expensify_connection,
            describe_expensify_failure,
        )
        _run_for_each(
            request, queryset, "Sage 100 connection test", test_sage_connection, describe_sage_failure
        )

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
