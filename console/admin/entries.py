"""Journal entries and their lines: what was built and sent for each report, read-only."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from connector.money import display
from console.admin.common import LedgerAdmin, amount_or_blank, partial_search
from console.admin.downloads import ExportMixin
from sync.exports import JournalLineResource
from sync.models import ExpenseReport, JournalEntry, JournalLine


def lines_table(lines: list[JournalLine], currency: str) -> SafeString:
    """An entry's lines with their currency and a debit/credit totals row."""
    rows = format_html_join(
        "",
        '<tr><td class="num">{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td>'
        "<td>{}</td></tr>",
        (
            (
                line.line_no,
                line.account,
                amount_or_blank(line.debit_cents, currency),
                amount_or_blank(line.credit_cents, currency),
                line.comment,
                line.mapping_source,
            )
            for line in lines
        ),
    )
    debit = sum(line.debit_cents for line in lines)
    credit = sum(line.credit_cents for line in lines)
    balance = "balanced" if debit == credit else f"out of balance by {display(debit - credit, currency)}"
    return format_html(
        '<table class="entry-lines"><thead><tr><th>Line</th><th>Account</th><th>Debit</th><th>Credit</th>'
        "<th>Comment</th><th>Made by</th></tr></thead><tbody>{}"
        '<tr class="totals-row"><td></td><td>Total ({})</td><td class="num">{}</td><td class="num">{}</td>'
        "<td colspan=2></td></tr></tbody></table>",
        rows,
        balance,
        display(debit, currency),
        display(credit, currency),
    )


@admin.register(JournalEntry)
class JournalEntryAdmin(LedgerAdmin):
    list_display = (
        "reference",
        "company",
        "report_link",
        "state",
        "posting_date",
        "sage_entry_no",
        "posted_at",
    )
    list_filter = ("company", "state")
    search_fields = ("reference",)
    search_help_text = "Part of a report ID or reference, or a Sage entry number."
    date_hierarchy = "posting_date"
    list_select_related = ("company", "report", "report__company")
    readonly_fields = (
        "company",
        "report_link",
        "state",
        "reference",
        "comment",
        "source_journal",
        "posting_date",
        "sage_entry_no",
        "sage_batch_no",
        "posted_at",
        "lines",
        "idempotency_key",
        "fingerprint",
        "created_at",
    )
    fields = readonly_fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[JournalEntry], search_term: str
    ) -> tuple[QuerySet[JournalEntry], bool]:
        term = partial_search(search_term)
        if not term:
            return queryset, False
        match = Q(sage_entry_no=term) | Q(report__report_id__startswith=term)
        if len(term) >= 3:
            match |= Q(report__report_id__icontains=term) | Q(reference__icontains=term)
        return queryset.filter(match), False

    @admin.display(description="Report", ordering="report__report_id")
    def report_link(self, obj: JournalEntry) -> str:
        url = reverse("admin:sync_expensereport_change", args=[obj.report_id])
        return format_html('<a href="{}">{}</a>', url, obj.report.report_id)

    @admin.display(description="Lines")
    def lines(self, obj: JournalEntry) -> str:
        return lines_table(list(obj.lines.all()), obj.report.currency)


@admin.register(JournalLine)
class JournalLineAdmin(ExportMixin, LedgerAdmin):
    list_display = ("entry_link", "company_code", "line_no", "account", "debit", "credit", "comment")
    list_filter = ("entry__company",)
    search_fields = ("account",)
    search_help_text = "A report ID (or part of it), or the start of an account (e.g. 6100)."
    list_select_related = ("entry", "entry__company", "entry__report")
    export_resource = JournalLineResource

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[JournalLine], search_term: str
    ) -> tuple[QuerySet[JournalLine], bool]:
        """Lines of the entries whose report ID holds the term (an indexed lookup on reports, then
        the lines' entry index); a term starting with a digit also matches accounts by their start."""
        term = partial_search(search_term)
        if not term:
            return queryset, False
        ids = Q(report_id__startswith=term) if len(term) < 3 else Q(report_id__icontains=term)
        entries = JournalEntry.objects.filter(report__in=ExpenseReport.objects.filter(ids).values("pk"))
        match = Q(entry__in=entries.values("pk"))
        if term[0].isdigit():
            match |= Q(account__startswith=term)
        return queryset.filter(match), False

    @admin.display(description="Entry")
    def entry_link(self, obj: JournalLine) -> str:
        url = reverse("admin:sync_journalentry_change", args=[obj.entry_id])
        return format_html('<a href="{}">{}</a>', url, obj.entry.reference)

    @admin.display(description="Company")
    def company_code(self, obj: JournalLine) -> str:
        return obj.entry.company.code

    @admin.display(description="Debit", ordering="debit_cents")
    def debit(self, obj: JournalLine) -> str:
        return amount_or_blank(obj.debit_cents, obj.entry.report.currency)

    @admin.display(description="Credit", ordering="credit_cents")
    def credit(self, obj: JournalLine) -> str:
        return amount_or_blank(obj.credit_cents, obj.entry.report.currency)
