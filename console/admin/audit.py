"""The audit trail: every event in words, searchable and downloadable, never changed or deleted."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from audit.models import AuditEvent
from connector.money import display
from console.admin.common import LedgerAdmin, partial_search
from console.admin.downloads import ExportMixin
from sync.exports import AuditEventResource
from sync.words import action_words

# The actions the connector writes; a fixed list, so the filter needs no DISTINCT over the table.
KNOWN_ACTIONS = (
    "discovered",
    "revised",
    "rejected",
    "changed_after_posting",
    "change_accepted",
    "needs_mapping",
    "failed",
    "note",
    "post_retried",
    "post_retrying",
    "post_unknown",
    "post_failed",
    "posted",
    "expense_posted",
    "expense_not_posted",
    "nothing_to_post",
    "marked_exported",
    "mark_failed",
    "export_failed",
    "sage_unavailable",
    "replay_requested",
    "company_stopped",
    "company_resumed",
    "run_started",
    "run_finished",
    "run_interrupted",
    "withdrawn",
    "eligible_again",
    "conflict",
    "found_in_sage",
    "claim_taken_over",
    "sage_config_error",
)


class ActionFilter(admin.SimpleListFilter):
    title = "action"
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(action, action_words(action)) for action in KNOWN_ACTIONS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ExportMixin, LedgerAdmin):
    list_display = (
        "at",
        "company_code",
        "what",
        "report_link",
        "transaction_ref",
        "employee_email",
        "amount",
        "account",
        "entry_link",
        "actor",
        "message",
    )
    list_filter = (ActionFilter, "company")
    search_fields = ("report_ref",)  # shows the box; get_search_results does the searching
    search_help_text = (
        "Part of an employee email, Expensify report ID or transaction ID (3 characters or more), "
        "or a Sage entry number."
    )
    date_hierarchy = "at"
    list_per_page = 100
    export_resource = AuditEventResource

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AuditEvent], search_term: str
    ) -> tuple[QuerySet[AuditEvent], bool]:
        """Exact IDs and entry numbers through their indexes; parts of 3+ characters through the
        trigram indexes on PostgreSQL (audit migration 0003)."""
        term = partial_search(search_term)
        if not term:
            return queryset, False
        match = Q(report_ref=term) | Q(transaction_ref=term) | Q(sage_entry_no=term)
        if "@" in term:
            match |= Q(employee_email=term.lower())
        if len(term) >= 3:
            match |= (
                Q(report_ref__icontains=term)
                | Q(transaction_ref__icontains=term)
                | Q(employee_email__icontains=term)
            )
        return queryset.filter(match), False

    @admin.display(description="Company", ordering="company__code")
    def company_code(self, obj: AuditEvent) -> str:
        return obj.company.code if obj.company else "—"

    @admin.display(description="What", ordering="action")
    def what(self, obj: AuditEvent) -> str:
        return format_html('<span title="{}">{}</span>', obj.action, action_words(obj.action))

    @admin.display(description="Report", ordering="report_ref")
    def report_link(self, obj: AuditEvent) -> str:
        if not obj.report_id:
            return obj.report_ref
        url = reverse("admin:sync_expensereport_change", args=[obj.report_id])
        return format_html('<a href="{}">{}</a>', url, obj.report_ref)

    @admin.display(description="Sage entry")
    def entry_link(self, obj: AuditEvent) -> str:
        if not obj.sage_entry_no:
            return ""
        url = reverse("admin:sync_journalentry_changelist") + f"?q={obj.sage_entry_no}"
        return format_html('<a href="{}">{}</a>', url, obj.sage_entry_no)

    @admin.display(description="Amount")
    def amount(self, obj: AuditEvent) -> str:
        return "" if obj.amount_cents is None else display(obj.amount_cents, obj.currency)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in AuditEvent._meta.fields]
