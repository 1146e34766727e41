"""What every ledger page of the console shares: who acts, how a search term is read, read-only rows,
capped lists, and amounts in words with their currency."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import admin
from django.http import HttpRequest

from connector.money import display
from connector.paginators import CappedCountPaginator


def actor_of(request: HttpRequest) -> str:
    """The audit trail's name for the person behind a request."""
    return f"admin:{request.user.get_username()}"


def partial_search(term: str) -> str:
    """The term as typed, trimmed; an empty term searches nothing."""
    return " ".join(term.split())


def amount_or_blank(cents: int, currency: str) -> str:
    """A debit or credit with its currency; a zero side of a line stays blank."""
    return display(cents, currency) if cents else ""


class ReadOnlyAdminMixin:
    """Rows the engine writes; people look at them (and act through services), never edit them."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LedgerAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """A read-only list over a large table: counts capped, rows joined to their company."""

    list_select_related: ClassVar[bool | list[str] | tuple[str, ...]] = ("company",)
    paginator = CappedCountPaginator
    show_full_result_count = False
