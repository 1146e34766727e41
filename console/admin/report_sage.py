"""The report page's read-only buttons: what Sage 100 holds under the report's reference, and the
entry the connector would post today (nothing is written by either)."""

from __future__ import annotations

from typing import Protocol

from django.http import HttpRequest, HttpResponse

from connector.logs import redact
from connector.money import display
from connector.sage100 import gateway as sage
from connector.sage100.types import FoundEntry
from console.admin.common import amount_or_blank
from console.admin.report_base import ReportPages
from sync.fixes import fixes_for
from sync.journal import REFERENCE_PREFIX
from sync.models import ExpenseReport, JournalEntry
from sync.services import preview
from sync.words import PREVIEW_OUTCOMES


class LineLike(Protocol):
    """A line of an entry, ours (built or stored) or Sage's."""

    @property
    def account(self) -> str: ...
    @property
    def debit_cents(self) -> int: ...
    @property
    def credit_cents(self) -> int: ...
    @property
    def comment(self) -> str: ...


def line_row(line: LineLike, currency: str) -> dict[str, str]:
    """One line of an entry as the lookup and preview tables show it."""
    return {
        "account": line.account,
        "debit": amount_or_blank(line.debit_cents, currency),
        "credit": amount_or_blank(line.credit_cents, currency),
        "comment": line.comment,
    }


def ours_in_sage(report: ExpenseReport) -> dict[str, int]:
    """Sage entry number → our stored entry's pk, for the report's entries Sage numbered."""
    return dict(
        JournalEntry.objects.filter(report=report)
        .exclude(sage_entry_no="")
        .values_list("sage_entry_no", "pk")
    )


def search_sage(report: ExpenseReport, reference: str) -> tuple[list[FoundEntry], str]:
    """Sage's entries under the reference, or none and our redacted sentence for the failure."""
    from console.admin.failures import describe_sage_failure

    try:
        gateway = sage.open_gateway(sage.settings_for_company(report.company))
        try:
            return gateway.search(reference=reference), ""
        finally:
            gateway.close()
    except Exception as exc:  # the operator sees our sentence, redacted
        return [], redact(describe_sage_failure(exc))


class ReportSageViews(ReportPages):
    def lookup_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """What Sage 100 holds under the report's reference (a read; nothing is written)."""
        report = self._report(request, pk)
        reference = f"{REFERENCE_PREFIX}{report.report_id}"[:30]
        found, error = search_sage(report, reference)
        ours = ours_in_sage(report)
        entries = [
            {
                "entry_no": f.entry_no,
                "batch_no": f.batch_no,
                "posting_date": f.posting_date,
                "ours": ours.get(f.entry_no),
                "lines": [line_row(line, report.currency) for line in f.lines],
            }
            for f in found
        ]
        title = f"Sage 100 entries with reference {reference}"
        return self._page(
            request, report, "lookup.html", title=title, reference=reference, entries=entries, error=error
        )

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The entry a run would build for the report now, with its lines and where each came from."""
        report = self._report(request, pk)
        result = preview(report)
        lines = list(result.built.lines) if result.built else []
        return self._page(
            request,
            report,
            "preview.html",
            title=f"Entry preview for report {report.report_id}",
            result=result,
            outcome=PREVIEW_OUTCOMES.get(result.outcome, result.outcome),
            fixes=fixes_for(report),
            lines=[
                {
                    **line_row(line, report.currency),
                    "source": line.mapping_source,
                    "expenses": ", ".join(line.source_transactions),
                }
                for line in lines
            ],
            total_debit=display(sum(line.debit_cents for line in lines), report.currency),
            total_credit=display(sum(line.credit_cents for line in lines), report.currency),
        )
