"""Reconcile: what this connector's ledger says it posted against everything Sage holds.

One search of Sage by the connector's reference prefix over the posting dates finds every entry
the connector could have made, whoever holds the ledger now. Each is compared with the ledger:
an entry Sage holds twice for one reference, an entry with our prefix the ledger does not know,
a posted entry Sage lacks, or one whose number or lines differ, is a difference.

A report with posted corrections (`EXP <id>/C<n>`, sync/services/corrections.py) is one row: what
Sage holds for all its references, netted per account, against the journal of Expensify's latest
approved revision (read again, built with today's mappings). Where a person accepted a later
change (Sage stays as posted), or one waits for a person, that net is compared with what the
connector posted instead.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from audit.models import AuditEvent
from connector.expensify.errors import ExpensifyError
from connector.models import Company
from connector.money import display
from connector.sage100.errors import SageError
from connector.sage100.types import FoundEntry
from sync.journal import REFERENCE_PREFIX, NeedsMapping, NothingToPost, ReportRejected
from sync.models import EntryState, ExpenseReport, JournalEntry, ReportState
from sync.services.context import BuildContext, PeriodCache
from sync.services.corrections import correction_reference, latest_revisions
from sync.services.entries import line_set
from sync.services.ingest import report_input_from_export
from sync.services.runs import Connections

if TYPE_CHECKING:
    from connector.sage100.gateway import SageGateway

# Posting dates may lie ahead of today (the next open period): search that far past the newest.
LOOK_AHEAD = dt.timedelta(days=400)
CORRECTION_TAIL = re.compile(r"/C(\d+)$")
LATEST = "Expensify's latest approved revision"
POSTED = "what the connector posted"


@dataclass(frozen=True)
class ReconcileRow:
    report_id: str
    reference: str
    ours: str
    theirs: str
    our_total_cents: int | None
    their_total_cents: int | None
    status: str  # ok, missing, duplicated, different, unknown to the connector
    detail: str = ""  # for a difference: which accounts and amounts, in words

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class Expected:
    """What Sage should hold for a corrected report, net per account, and what that is in words."""

    net: dict[str, int]
    basis: str
    note: str = ""


def reconcile(
    *, company: Company, since: dt.date | None = None, connections: Connections | None = None
) -> list[ReconcileRow]:
    """Every entry posted by this ledger, and every entry in Sage with its reference prefix."""
    from connector.sage100.gateway import settings_for_company

    connections = connections or Connections()
    entries = list(
        JournalEntry.objects.filter(company=company, state=EntryState.POSTED)
        .select_related("report")
        .prefetch_related("lines")
        .order_by("id")
    )
    corrected = _by_corrected_report(entries)
    if since is not None:
        # A corrected report is compared whole: all its entries, if one is dated on or after `since`.
        corrected = {r: g for r, g in corrected.items() if any(e.posting_date >= since for e in g)}
        entries = [e for e in entries if e.posting_date >= since or e.report_id in corrected]
    known_dates = [e.posting_date for e in entries]
    start = min(
        [*known_dates, company.export_start_date or timezone.localdate(), timezone.localdate()]
        if since is None
        else [since, *known_dates]
    )
    end = max([*known_dates, timezone.localdate()]) + LOOK_AHEAD
    gateway = connections.sage(settings_for_company(company))
    try:
        in_sage = gateway.search(
            reference_prefix=REFERENCE_PREFIX, posting_date_from=start, posting_date_to=end
        )
        expected = _expected(company, corrected, connections, gateway)
    finally:
        gateway.close()
    by_reference: dict[str, list[FoundEntry]] = defaultdict(list)
    for found in in_sage:
        by_reference[found.reference].append(found)
    rows = [
        _compare(entry, by_reference.pop(entry.reference, []))
        for entry in entries
        if entry.report_id not in corrected
    ]
    for report_entries in corrected.values():
        held = _pop_report_references(report_entries, by_reference)
        rows.append(_compare_report(report_entries, held, expected[report_entries[0].report_id]))
    for reference, strays in sorted(by_reference.items()):
        # Searched from before `since` only for a corrected report's earlier entries.
        rows.extend(_stray(reference, s) for s in strays if since is None or s.posting_date >= since)
    return rows


def _stray(reference: str, found: FoundEntry) -> ReconcileRow:
    return ReconcileRow(
        report_id=CORRECTION_TAIL.sub("", reference.removeprefix(REFERENCE_PREFIX)),
        reference=reference,
        ours="",
        theirs=found.entry_no,
        our_total_cents=None,
        their_total_cents=sum(line.debit_cents for line in found.lines),
        status="unknown to the connector",
    )


def _compare(entry: JournalEntry, found: list[FoundEntry]) -> ReconcileRow:
    ours = list(entry.lines.all())
    detail = ""
    if not found:
        status = "missing"
    elif len(found) > 1:
        status = "duplicated"
    elif found[0].entry_no != entry.sage_entry_no or line_set(found[0].lines) != line_set(ours):
        status = "different"
        detail = "; ".join(
            _number_differences(entry, found[0])
            + _account_differences(net_by_account(found[0].lines), net_by_account(ours), POSTED)
        )
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
        detail=detail,
    )


# -- reports with corrections ------------------------------------------------------------------


def _by_corrected_report(entries: list[JournalEntry]) -> dict[int, list[JournalEntry]]:
    """The posted entries of each report that has a posted correction, the report's own first."""
    by_report: dict[int, list[JournalEntry]] = defaultdict(list)
    for entry in entries:
        by_report[entry.report_id].append(entry)
    return {
        report: sorted(group, key=lambda e: e.correction_no)
        for report, group in by_report.items()
        if any(e.correction_no for e in group)
    }


def _pop_report_references(
    entries: list[JournalEntry], by_reference: dict[str, list[FoundEntry]]
) -> dict[str, list[FoundEntry]]:
    """What Sage holds under the report's references: ours, and any `/C<n>` of the report."""
    report_id = entries[0].report.report_id
    references = {e.reference for e in entries}
    for reference in list(by_reference):
        tail = CORRECTION_TAIL.search(reference)
        if tail and correction_reference(report_id, int(tail.group(1))) == reference:
            references.add(reference)
    return {reference: by_reference.pop(reference, []) for reference in sorted(references)}


def _compare_report(
    entries: list[JournalEntry], found: dict[str, list[FoundEntry]], expected: Expected
) -> ReconcileRow:
    everything = [f for group in found.values() for f in group]
    theirs = net_by_account(line for f in everything for line in f.lines)
    problems = [
        problem
        for reference, group in found.items()
        for problem in _reference_problems(
            reference, group, next((e for e in entries if e.reference == reference), None)
        )
    ]
    differences = _account_differences(theirs, expected.net, expected.basis)
    if not everything:
        status = "missing"
    elif any(len(group) > 1 for group in found.values()):
        status = "duplicated"
    elif differences or problems:
        status = "different"
    else:
        status = "ok"
    words = [*problems, *differences] if status != "ok" else []
    head = entries[0]
    return ReconcileRow(
        report_id=head.report.report_id,
        reference=f"{head.reference} +{len(entries) - 1} correction(s)",
        ours=", ".join(e.sage_entry_no for e in entries),
        theirs=", ".join(f.entry_no for f in everything),
        our_total_cents=sum(max(amount, 0) for amount in expected.net.values()),
        their_total_cents=sum(max(amount, 0) for amount in theirs.values()) if everything else None,
        status=status,
        detail="; ".join([*words, *([expected.note] if expected.note else [])]),
    )


def _reference_problems(reference: str, group: list[FoundEntry], ours: JournalEntry | None) -> list[str]:
    """One reference of a corrected report: lacking, doubled, not ours, or renumbered in Sage."""
    if ours is None:
        return [f"{reference} (Sage entry {f.entry_no}) was not posted by the connector" for f in group]
    if not group:
        return [f"{reference} (Sage entry {ours.sage_entry_no}) is not in Sage"]
    if len(group) > 1:
        return [f"{reference} is in Sage {len(group)} times ({', '.join(f.entry_no for f in group)})"]
    return _number_differences(ours, group[0])


def _expected(
    company: Company,
    corrected: dict[int, list[JournalEntry]],
    connections: Connections,
    gateway: SageGateway,
) -> dict[int, Expected]:
    """For each corrected report: the net Sage should hold, from Expensify's latest revision where
    the connector corrected Sage to it, else from what was posted."""
    posted = {
        report: Expected(net_by_account(line for e in group for line in e.lines.all()), POSTED)
        for report, group in corrected.items()
    }
    follow = [group[0].report for report, group in corrected.items() if _follows_expensify(group[0].report)]
    if not follow:
        return posted
    try:
        latest = latest_revisions(
            company=company, report_ids=[r.report_id for r in follow], connections=connections
        )
        context = BuildContext.load(company, PeriodCache(gateway.periods))
    except (ExpensifyError, SageError) as exc:
        note = f"{LATEST} could not be read ({exc}): compared with {POSTED}"
        return {report: Expected(e.net, e.basis, note) for report, e in posted.items()}
    for report in follow:
        parsed = latest.get(report.report_id)
        if parsed is None:
            note = f"Expensify no longer shows the report approved: compared with {POSTED}"
            posted[report.pk] = Expected(posted[report.pk].net, POSTED, note)
            continue
        try:
            built = context.build(report_input_from_export(parsed))
        except (NeedsMapping, ReportRejected, SageError) as exc:
            note = f"today's build of {LATEST} fails ({exc}): compared with {POSTED}"
            posted[report.pk] = Expected(posted[report.pk].net, POSTED, note)
            continue
        lines = [] if isinstance(built, NothingToPost) else built.lines
        posted[report.pk] = Expected(net_by_account(lines), LATEST)
    return posted


def _follows_expensify(report: ExpenseReport) -> bool:
    """Sage was corrected to Expensify's latest revision, and no later change was accepted or
    waits for a person (then Sage stays as posted: accounting.md)."""
    if report.state == ReportState.CHANGED:
        return False
    last = (
        AuditEvent.objects.filter(report=report, action__in=("correction_posted", "change_accepted"))
        .order_by("-id")
        .values_list("action", flat=True)
        .first()
    )
    return last == "correction_posted"


# -- in words ----------------------------------------------------------------------------------


def net_by_account(lines: Iterable[Any]) -> dict[str, int]:
    """Debits less credits per account, in cents; accounts that net to zero left out."""
    net: dict[str, int] = defaultdict(int)
    for line in lines:
        net[line.account] += line.debit_cents - line.credit_cents
    return {account: cents for account, cents in sorted(net.items()) if cents}


def _side(cents: int) -> str:
    if not cents:
        return "nothing"
    return f"{'Dr' if cents > 0 else 'Cr'} {display(abs(cents))}"


def _account_differences(theirs: dict[str, int], wanted: dict[str, int], basis: str) -> list[str]:
    """'6100-01-000: Sage Dr 1,098.95, Expensify's latest approved revision Dr 1,198.95', per account."""
    return [
        f"{account}: Sage {_side(theirs.get(account, 0))}, {basis} {_side(wanted.get(account, 0))}"
        for account in sorted(set(theirs) | set(wanted))
        if theirs.get(account, 0) != wanted.get(account, 0)
    ]


def _number_differences(entry: JournalEntry, found: FoundEntry) -> list[str]:
    if found.entry_no == entry.sage_entry_no:
        return []
    return [f"{entry.reference} is Sage entry {found.entry_no}, the connector recorded {entry.sage_entry_no}"]
