"""Reconcile: what this connector's ledger says it posted against everything Sage holds.

One search of Sage by the connector's reference prefix over the posting dates finds every entry
the connector could have made, whoever holds the ledger now. Each is compared with the ledger:
an entry Sage holds twice for one reference, an entry with our prefix the ledger does not know,
a posted entry Sage lacks, or one whose number or lines differ, is a difference.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.utils import timezone

from connector.models import Company
from connector.sage100.types import FoundEntry
from sync.journal import REFERENCE_PREFIX
from sync.models import EntryState, JournalEntry
from sync.services.entries import line_set
from sync.services.runs import Connections

# Posting dates may lie ahead of today (the next open period): search that far past the newest.
LOOK_AHEAD = dt.timedelta(days=400)


@dataclass(frozen=True)
class ReconcileRow:
    report_id: str
    reference: str
    ours: str
    theirs: str
    our_total_cents: int | None
    their_total_cents: int | None
    status: str  # ok, missing, duplicated, different, unknown to the connector

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def reconcile(
    *, company: Company, since: dt.date | None = None, connections: Connections | None = None
) -> list[ReconcileRow]:
    """Every entry posted by this ledger, and every entry in Sage with its reference prefix."""
    from connector.sage100.gateway import settings_for_company

    entries = list(
        JournalEntry.objects.filter(company=company, state=EntryState.POSTED)
        .select_related("report")
        .prefetch_related("lines")
        .order_by("id")
    )
    if since is not None:
        entries = [e for e in entries if e.posting_date >= since]
    known_dates = [e.posting_date for e in entries]
    start = since or min(
        [*known_dates, company.export_start_date or timezone.localdate(), timezone.localdate()]
    )
    end = max([*known_dates, timezone.localdate()]) + LOOK_AHEAD
    gateway = (connections or Connections()).sage(settings_for_company(company))
    try:
        in_sage = gateway.search(
            reference_prefix=REFERENCE_PREFIX, posting_date_from=start, posting_date_to=end
        )
    finally:
        gateway.close()
    by_reference: dict[str, list[FoundEntry]] = defaultdict(list)
    for found in in_sage:
        by_reference[found.reference].append(found)
    rows = [_compare(entry, by_reference.pop(entry.reference, [])) for entry in entries]
    for reference, strays in sorted(by_reference.items()):
        for found in strays:
            rows.append(
                ReconcileRow(
                    report_id=reference.removeprefix(REFERENCE_PREFIX),
                    reference=reference,
                    ours="",
                    theirs=found.entry_no,
                    our_total_cents=None,
                    their_total_cents=sum(line.debit_cents for line in found.lines),
                    status="unknown to the connector",
                )
            )
    return rows


def _compare(entry: JournalEntry, found: list[FoundEntry]) -> ReconcileRow:
    ours = list(entry.lines.all())
    if not found:
        status = "missing"
    elif len(found) > 1:
        status = "duplicated"
    elif found[0].entry_no != entry.sage_entry_no or line_set(found[0].lines) != line_set(ours):
        status = "different"
    else:
        status = "ok"
    return ReconcileRow(
        report_id=entry.report.report_id,
        reference=entry.reference,
        ours=entry.sage_entry_no,
        theirs=", ".join(f.entry_no for f in found),
        our_total_cents=sum(line.debit_cents for line in ours),
        their_total_cents=sum(line.debit_cents for line in found[0].lines) if found else None,
        status=status,
    )
