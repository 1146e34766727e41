"""Admin for reports, expenses, journal entries and lines, and sync runs."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from audit.models import AuditEvent
from connector.money import display
from connector.paginators import CappedCountPaginator
from sync.models import Expense, ExpenseReport, JournalEntry, JournalLine, ReportState, SyncRun
from sync.selectors import REPLAYABLE_STATES


class ReadOnlyAdminMixin:
    """Rows the engine writes; people look at them (and act through actions), never edit them."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ExpenseInline(ReadOnlyAdminMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = Expense
    fields = ("transaction_id", "spent_on", "merchant", "category", "tag", "amount", "reimbursable")
    readonly_fields = fields
    extra = 0

    @admin.display(description="Amount")
    def amount(self, obj: Expense) -> str:
        text = display(obj.amount_cents, obj.report.currency)
        if obj.original_currency != obj.report.currency:
            text += f" ({display(obj.original_amount_cents, obj.original_currency)})"
        return text

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("report")


class JournalEntryInline(ReadOnlyAdminMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = JournalEntry
    fields = ("entry_link", "state", "posting_date", "sage_entry_no", "sage_batch_no", "posted_at")
    readonly_fields = fields
    extra = 0

    @admin.display(description="Entry")
    def entry_link(self, obj: JournalEntry) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:sync_journalentry_change", args=[obj.pk]), obj.reference
        )


@admin.register(ExpenseReport)
class ExpenseReportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "report_id",
        "company_code",
        "employee_email",
        "total",
        "approved_on",
        "state",
        "attempts",
        "next_attempt_at",
        "problem",
    )
    list_filter = ("company", "state", ("approved_on", admin.DateFieldListFilter))
    search_fields = ("=report_id", "employee_email")
    list_select_related = ("company",)
    paginator = CappedCountPaginator
    show_full_result_count = False
    date_hierarchy = None
    inlines = [ExpenseInline, JournalEntryInline]
    actions = ["replay_reports", "accept_change"]
    readonly_fields = (
        "preview_link",
        "company",
        "report_id",
        "report_name",
        "employee_email",
        "policy_id",
        "total",
        "approved_on",
        "submitted_on",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
        "change_summary",
        "fingerprint",
        "posted_fingerprint",
        "exported_at",
        "first_seen_at",
        "updated_at",
        "audit_timeline",
    )
    fields = readonly_fields

    @admin.display(description="Company", ordering="company__code")
    def company_code(self, obj: ExpenseReport) -> str:
        return obj.company.code

    @admin.display(description="Entry preview")
    def preview_link(self, obj: ExpenseReport) -> str:
        url = reverse("admin:sync_expensereport_preview", args=[obj.pk])
        return format_html('<a href="{}">Show the entry this report would post now</a>', url)

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="sync_expensereport_preview",
            )
        ]
        return custom + super().get_urls()

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        from sync.services import preview

        report = get_object_or_404(ExpenseReport.objects.select_related("company"), pk=pk)
        if not self.has_view_permission(request, report):
            raise PermissionDenied
        result = preview(report)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Entry preview for report {report.report_id}",
            "report": report,
            "result": result,
            "lines": [
                {
                    "account": line.account,
                    "debit": display(line.debit_cents) if line.debit_cents else "",
                    "credit": display(line.credit_cents) if line.credit_cents else "",
                    "comment": line.comment,
                    "source": line.mapping_source,
                    "expenses": ", ".join(line.source_transactions),
                }
                for line in (result.built.lines if result.built else ())
            ],
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/sync/expensereport/preview.html", context)

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("sync.replay_expensereport")

    @admin.action(description="Replay selected reports (re-read, rebuild, post)", permissions=["replay"])
    def replay_reports(self, request: HttpRequest, queryset: QuerySet[ExpenseReport]) -> None:
        from sync.services import replay

        actor = f"admin:{request.user.get_username()}"
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
            run = replay(company=company, actor=actor, report_ids=[r.report_id for r in reports])
            if run is None:
                self.message_user(request, f"{company.code}: nothing to replay", messages.WARNING)
                continue
            states = dict(
                ExpenseReport.objects.filter(pk__in=[r.pk for r in reports]).values_list("report_id", "state")
            )
            summary = ", ".join(f"{rid}: {state}" for rid, state in sorted(states.items()))
            level = messages.SUCCESS if run.outcome == "success" else messages.WARNING
            text = f"{company.code} replay {run.get_outcome_display().lower()} — {summary}"
            self.message_user(request, text + (f" ({run.message})" if run.message else ""), level)

    @admin.action(description="Accept change after posting (keep the posted entry)", permissions=["replay"])
    def accept_change(self, request: HttpRequest, queryset: QuerySet[ExpenseReport]) -> None:
        from sync.services import accept_change

        actor = f"admin:{request.user.get_username()}"
        accepted = 0
        for report in queryset.filter(state=ReportState.CHANGED):
            reason = f"kept the posted entry; ignored: {report.change_summary}"
            accepted += accept_change(report=report, actor=actor, reason=reason)
        self.message_user(request, f"{accepted} changed report(s) accepted without reposting.")

    @admin.display(description="Total", ordering="total_cents")
    def total(self, obj: ExpenseReport) -> str:
        return display(obj.total_cents, obj.currency)

    @admin.display(description="Problem")
    def problem(self, obj: ExpenseReport) -> str:
        text = obj.change_summary or obj.last_error
        return text if len(text) <= 120 else text[:117] + "…"

    @admin.display(description="Audit timeline")
    def audit_timeline(self, obj: ExpenseReport) -> str:
        events = AuditEvent.objects.filter(report=obj).order_by("id")[:500]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{e.at:%Y-%m-%d %H:%M:%S}",
                    e.action,
                    e.actor,
                    e.transaction_ref,
                    "" if e.amount_cents is None else display(e.amount_cents, e.currency),
                    " ".join(
                        x for x in (e.account, e.sage_entry_no and f"entry {e.sage_entry_no}", e.message) if x
                    ),
                )
                for e in events
            ),
        )
        return format_html(
            "<table><thead><tr><th>When</th><th>What</th><th>Who</th><th>Expense</th><th>Amount</th>"
            "<th>Detail</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )


class JournalLineInline(ReadOnlyAdminMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = JournalLine
    fields = ("line_no", "account", "debit", "credit", "comment", "mapping_source")
    readonly_fields = fields
    extra = 0

    @admin.display(description="Debit")
    def debit(self, obj: JournalLine) -> str:
        return display(obj.debit_cents) if obj.debit_cents else ""

    @admin.display(description="Credit")
    def credit(self, obj: JournalLine) -> str:
        return display(obj.credit_cents) if obj.credit_cents else ""


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("reference", "company", "report", "state", "posting_date", "sage_entry_no", "posted_at")
    list_filter = ("company", "state")
    search_fields = ("=reference", "=sage_entry_no", "=report__report_id")
    list_select_related = ("company", "report", "report__company")
    paginator = CappedCountPaginator
    show_full_result_count = False
    inlines = [JournalLineInline]
    readonly_fields = (
        "company",
        "report",
        "state",
        "reference",
        "comment",
        "source_journal",
        "posting_date",
        "idempotency_key",
        "fingerprint",
        "sage_entry_no",
        "sage_batch_no",
        "posted_at",
        "created_at",
    )
    fields = readonly_fields


@admin.register(JournalLine)
class JournalLineAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("entry_reference", "company_code", "line_no", "account", "debit", "credit", "comment")
    list_filter = ("entry__company",)
    search_fields = ("=account", "=entry__reference")
    list_select_related = ("entry", "entry__company")
    paginator = CappedCountPaginator
    show_full_result_count = False

    @admin.display(description="Entry")
    def entry_reference(self, obj: JournalLine) -> str:
        return obj.entry.reference

    @admin.display(description="Company")
    def company_code(self, obj: JournalLine) -> str:
        return obj.entry.company.code

    @admin.display(description="Debit", ordering="debit_cents")
    def debit(self, obj: JournalLine) -> str:
        return display(obj.debit_cents) if obj.debit_cents else ""

    @admin.display(description="Credit", ordering="credit_cents")
    def credit(self, obj: JournalLine) -> str:
        return display(obj.credit_cents) if obj.credit_cents else ""


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "started_at",
        "company",
        "trigger",
        "actor",
        "outcome",
        "reports_seen",
        "reports_posted",
        "reports_exported",
        "reports_failed",
        "reports_needing_mapping",
        "reports_retrying",
        "finished_at",
    )
    list_filter = ("company", "outcome", "trigger")
    list_select_related = ("company",)
    paginator = CappedCountPaginator
    show_full_result_count = False
