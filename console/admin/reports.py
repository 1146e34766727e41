"""The expense report list and page, with the report's expenses and entries inline.

Every state, outcome and action is shown in words and every amount with its currency. What can be
done to a report is a button on its page (report_changes, report_sage) or a list action
(report_actions); long work goes to the workers.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from connector.money import display
from console.admin.common import LedgerAdmin, ReadOnlyAdminMixin, partial_search
from console.admin.downloads import ExportMixin
from console.admin.report_actions import ReportActions
from console.admin.report_changes import ReportChanges
from console.admin.report_page import ReportPageFields
from console.admin.report_sage import ReportSageViews
from console.admin.report_search import search_reports
from sync.exports import ReportResource
from sync.models import Expense, ExpenseReport, JournalEntry


class ExpenseInline(ReadOnlyAdminMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = Expense
    fields = ("transaction_id", "spent_on", "merchant", "category", "tag", "amount", "reimbursable")
    readonly_fields = fields
    extra = 0
    classes = ("compact-inline",)

    @admin.display(description="Amount")
    def amount(self, obj: Expense) -> str:
        text = display(obj.amount_cents, obj.report.currency)
        if obj.original_currency != obj.report.currency:
            text += f" ({display(obj.original_amount_cents, obj.original_currency)})"
        return text

    def get_queryset(self, request: HttpRequest) -> QuerySet[Expense]:
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
class ExpenseReportAdmin(
    ExportMixin, ReportChanges, ReportSageViews, ReportActions, ReportPageFields, LedgerAdmin
):
    list_display = (
        "report_id",
        "company_code",
        "employee_email",
        "total",
        "approved_on",
        "state",
        "next_attempt_at",
        "problem",
    )
    list_filter = ("company", "state")
    search_fields = ("report_id",)  # shows the box; get_search_results does the searching
    search_help_text = (
        "Part of an employee email, report ID, transaction ID or merchant (at least 3 characters "
        "for a part; fewer must match the start)."
    )
    date_hierarchy = "approved_on"
    inlines = [ExpenseInline, JournalEntryInline]
    actions = ["replay_reports", "accept_change"]
    export_resource = ReportResource
    readonly_fields = (
        "what_to_do",
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
        "exported_at",
        "first_seen_at",
        "updated_at",
        "fingerprint",
        "posted_fingerprint",
        "audit_timeline",
    )
    fields = readonly_fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ExpenseReport], search_term: str
    ) -> tuple[QuerySet[ExpenseReport], bool]:
        """Reports whose ID or employee, or one of whose expenses' transaction ID or merchant, holds
        the term (console/admin/report_search.py)."""
        term = partial_search(search_term)
        if not term:
            return queryset, False
        return search_reports(queryset, term), False

    @admin.display(description="Company", ordering="company__code")
    def company_code(self, obj: ExpenseReport) -> str:
        return obj.company.code

    @admin.display(description="Total", ordering="total_cents")
    def total(self, obj: ExpenseReport) -> str:
        return display(obj.total_cents, obj.currency)

    @admin.display(description="Problem")
    def problem(self, obj: ExpenseReport) -> str:
        text = obj.change_summary or obj.last_error
        if len(text) > 400:
            text = text[:399] + "…"
        return format_html('<span class="problem-text">{}</span>', text) if text else ""

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        custom = [
            path("<int:pk>/preview/", view(self.preview_view), name="sync_expensereport_preview"),
            path("<int:pk>/replay/", view(self.replay_view), name="sync_expensereport_replay"),
            path(
                "<int:pk>/accept-change/",
                view(self.accept_change_view),
                name="sync_expensereport_accept_change",
            ),
            path("<int:pk>/lookup/", view(self.lookup_view), name="sync_expensereport_lookup"),
            path("<int:pk>/correction/", view(self.correction_view), name="sync_expensereport_correction"),
        ]
        return custom + super().get_urls()
