"""Admin for companies, their connections (secrets write-only) and the cached chart of accounts."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from connector.admin_secrets import WriteOnlySecretsForm
from connector.logs import redact
from connector.models import Company, ExpensifyCredential, GLAccount, SageConnection

MAX_SEGMENTS = 6


class SegmentNamesWidget(forms.MultiWidget):
    """One text box per account segment, in order."""

    def __init__(self) -> None:
        super().__init__(
            [
                forms.TextInput(
                    attrs={"size": 14, "placeholder": f"Segment {i + 1}", "aria-label": f"Segment {i + 1}"}
                )
                for i in range(MAX_SEGMENTS)
            ]
        )

    def decompress(self, value: Any) -> list[str]:
        names = [str(v) for v in (value or [])][:MAX_SEGMENTS]
        return names + [""] * (MAX_SEGMENTS - len(names))


class SegmentNamesField(forms.MultiValueField):
    """Segment names typed one per box; empty boxes at the end are dropped."""

    widget = SegmentNamesWidget

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("encoder", None)
        kwargs.pop("decoder", None)
        kwargs.pop("max_length", None)
        super().__init__(
            fields=[forms.CharField(required=False, max_length=40) for _ in range(MAX_SEGMENTS)],
            require_all_fields=False,
            required=False,
            **kwargs,
        )

    def compress(self, data_list: list[str]) -> list[str]:
        names = [(name or "").strip() for name in data_list or []]
        while names and not names[-1]:
            names.pop()
        if "" in names:
            raise forms.ValidationError("Name every segment up to the last one (a box in between is empty).")
        return names


class CommaListField(forms.CharField):
    """A JSON list edited as "Department, Location"."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("encoder", None)
        kwargs.pop("decoder", None)
        super().__init__(required=False, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return value

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value)
        return [part.strip() for part in text.split(",") if part.strip()]


class CompanyForm(forms.ModelForm):  # type: ignore[type-arg]
    """The company page; policy IDs are a comma list here, CompanyPolicy rows underneath."""

    segment_names = SegmentNamesField(
        label="Segment names",
        help_text="The account mask's segments in order, e.g. Main, Department, Location.",
    )
    required_segments = CommaListField(
        label="Required segments",
        help_text="Segment names (or numbers) a tag must set, comma-separated; an unmapped tag value "
        "there makes the report need a mapping. E.g. Department.",
    )

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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "transport" in self.fields:
            self.fields["transport"].help_text = format_html(
                'The Windows agent: install, certificate, keys and firewall are in <a href="{}" '
                'target="_blank" rel="noopener">the agent guide (docs/agent.md)</a>.',
                reverse("admin:connector_company_agent_docs"),
            )

    def needed_secrets(self, cleaned: dict[str, Any]) -> list[str]:
        needed = ["sage_password"]
        if cleaned.get("transport", self.instance.transport) == "agent":
            needed.append("agent_api_key")
        return needed

    class Meta:
        model = SageConnection
        fields = (
            "transport",
            "base_url",
            "agent_api_key",
            "sage_username",
            "sage_password",
            "agent_certificate",
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[Company]:
        from sync.models import ExpenseReport, ReportState, SyncRun
        from sync.words import NEEDS_A_PERSON

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
        return super().get_queryset(request).annotate(**annotations)

    @admin.display(description="Schedule")
    def schedule(self, obj: Company) -> str:
        from sync.words import describe_schedule

        return describe_schedule(obj)

    @admin.display(description="Last run")
    def last_run_outcome(self, obj: Company) -> str:
        from sync.models import RunOutcome

        outcome = getattr(obj, "last_outcome", None)
        return str(RunOutcome(outcome).label) if outcome in RunOutcome.values else "No run yet"

    @admin.display(description="Last run at")
    def last_run_at(self, obj: Company) -> Any:
        return getattr(obj, "last_started", None)

    @admin.display(description="Status")
    def status(self, obj: Company) -> str:
        from sync.dashboard import company_status
        from sync.models import ReportState, SyncRun

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
        from sync.dashboard import company_cards

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
        from sync.words import describe_schedule

        return describe_schedule(obj)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        # Read-only: lists in words, not JSON; the schedule as the company says it.
        words = {
            "segment_names": "segment_names_words",
            "required_segments": "required_segments_words",
            "schedule_kind": "schedule_words",
        }
        return [
            (name, {**options, "fields": tuple(words.get(f, f) for f in options["fields"])})
            for name, options in fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and not self.has_change_permission(request, obj):
            fields += ("segment_names_words", "required_segments_words", "schedule_words")
        return fields

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                "<int:pk>/policy-data/",
                self.admin_site.admin_view(self.policy_data_view),
                name="connector_company_policy_data",
            ),
            path(
                "<int:pk>/refresh-chart/",
                self.admin_site.admin_view(self.refresh_chart_view),
                name="connector_company_refresh_chart",
            ),
            path(
                "<int:pk>/sync-now/",
                self.admin_site.admin_view(self.sync_now_view),
                name="connector_company_sync_now",
            ),
            path(
                "agent-guide/",
                self.admin_site.admin_view(self.agent_docs_view),
                name="connector_company_agent_docs",
            ),
        ]
        return custom + super().get_urls()

    def _company(self, request: HttpRequest, pk: int) -> Company:
        company = get_object_or_404(Company, pk=pk)
        if not self.has_view_permission(request, company):
            raise PermissionDenied
        return company

    def refresh_chart_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """GET: a confirmation; POST: read the chart of accounts from Sage 100 again."""
        from connector.sage100.services import refresh_chart

        company = self._company(request, pk)
        if not self._can_test(request):
            raise PermissionDenied
        back = request.GET.get("next") or request.POST.get("next") or ""
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            back = ""
        back = back or reverse("admin:connector_company_change", args=[company.pk])
        if request.method == "POST":
            _run_for_each(
                request,
                Company.objects.filter(pk=company.pk),
                "Chart refresh",
                lambda c: refresh_chart(c).message,
            )
            return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Refresh the chart of accounts of {company}?",
            "company": company,
            "back": back,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/connector/company/refresh_chart.html", context)

    def sync_now_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST only: queue a run of one company and follow it."""
        company = self._company(request, pk)
        if request.method != "POST" or not self.has_sync_permission(request):
            raise PermissionDenied
        url = self._queue_sync(request, company)
        return HttpResponseRedirect(url or reverse("admin:connector_company_change", args=[company.pk]))

    def agent_docs_view(self, request: HttpRequest) -> HttpResponse:
        """docs/agent.md as plain text: the guide the agent settings point at."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        guide = settings.BASE_DIR / "docs" / "agent.md"
        text = guide.read_text(encoding="utf-8") if guide.exists() else "docs/agent.md is not installed here."
        context = {
            **self.admin_site.each_context(request),
            "title": "The Sage 100 agent (docs/agent.md)",
            "text": text,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/connector/company/agent_docs.html", context)

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        if request.method == "POST":
            # The page failed validation: password boxes come back empty, so say what was lost.
            typed = [
                label
                for formset in context.get("inline_admin_formsets", [])
                for form in formset.formset.forms
                if isinstance(form, WriteOnlySecretsForm)
                for label in form.typed_secrets()
            ]
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

    def policy_data_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        from connector.expensify.services import load_policy_data

        company = get_object_or_404(Company, pk=pk)
        if not self.has_view_permission(request, company):
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

    def _queue_sync(self, request: HttpRequest, company: Company) -> str:
        """Queue a run; a message links to the page that follows it. Returns that page's URL."""
        from sync import tasks

        if not company.enabled:
            messages.warning(request, f"{company.code} is disabled: not queued.")
            return ""
        task_id = tasks.queue_sync(company, actor=f"admin:{request.user.get_username()}")
        url = reverse("admin:sync_syncrun_queued", args=[task_id]) if task_id else ""
        messages.success(
            request,
            format_html(
                '{}: sync queued to the workers. <a href="{}">Follow its run</a>.',
                company.code,
                url or reverse("admin:sync_syncrun_changelist"),
            ),
        )
        return url

    @admin.action(description="Sync now (queued to the background worker)", permissions=["sync"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet[Company]) -> None:
        for company in queryset:
            self._queue_sync(request, company)

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
