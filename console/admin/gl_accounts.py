"""The cached chart of accounts: read-only (it is refreshed from Sage 100, never edited here)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from connector.models import GLAccount


@admin.register(GLAccount)
class GLAccountAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("account", "description", "status", "company", "refreshed_at")
    list_filter = ("company", "status")
    search_fields = ("account", "description")
    list_select_related = ("company",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: GLAccount | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: GLAccount | None = None) -> bool:
        return False
