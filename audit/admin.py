"""Read-only, undeletable admin for the audit trail."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.models import AuditEvent
from connector.money import display
from connector.paginators import CappedCountPaginator

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
)


class ActionFilter(admin.SimpleListFilter):
    title = "action"
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(action, action.replace("_", " ")) for action in KNOWN_ACTIONS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "at",
        "company_code",
        "action",
        "report_ref",
        "transaction_ref",
        "employee_email",
        "amount",
        "account",
        "sage_entry_no",
        "actor",
        "message",
    )
    list_filter = (ActionFilter, "company")
    search_fields = ("report_ref", "transaction_ref", "sage_entry_no", "employee_email")
    search_help_text = "Exact Expensify report ID, transaction ID, Sage entry number or employee email."
    list_select_related = ("company",)
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 100

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AuditEvent], search_term: str
    ) -> tuple[QuerySet[AuditEvent], bool]:
        """Exact, case-sensitive matches (Expensify IDs are case-sensitive): indexes do the work."""
        term = search_term.strip()
        if not term:
            return queryset, False
        from django.db.models import Q

        match = Q(report_ref=term) | Q(transaction_ref=term) | Q(sage_entry_no=term)
        if "@" in term:
            match |= Q(employee_email=term) | Q(employee_email=term.lower())
        return queryset.filter(match), False

    @admin.display(description="Company", ordering="company__code")
    def company_code(self, obj: AuditEvent) -> str:
        return obj.company.code if obj.company else "—"

    @admin.display(description="Amount")
    def amount(self, obj: AuditEvent) -> str:
        return "" if obj.amount_cents is None else display(obj.amount_cents, obj.currency)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
