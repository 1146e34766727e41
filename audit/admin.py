"""Read-only, undeletable admin for the audit trail."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent
from connector.money import display
from connector.paginators import CappedCountPaginator


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
    list_filter = ("action", "company")
    search_fields = ("=report_ref", "=transaction_ref", "=sage_entry_no", "employee_email")
    list_select_related = ("company",)
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 100

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
