"""A report's journal entries: the key each is sent under, and the one that may be sent now.

An entry is stored *built* before anything is sent, *open* from its claim until Sage answers
definitely, then *posted*, *refused*, or back to *built* (a definite "nothing written"). A report
has at most one open entry (a partial unique index, too), and while it has one, that entry's key
and body are the only thing its report may send.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import record_many
from connector.models import Company
from connector.rows import insert_rows
from connector.sage100.types import FoundEntry, JournalEntryPayload, PostResult
from sync.journal import BuiltEntry, entry_fingerprint
from sync.models import EntryState, Expense, ExpenseReport, JournalEntry, JournalLine, ReportState
from sync.services.ledger import move

log = logging.getLogger(__name__)
S = ReportState


def idempotency_key(company: Company, report_id: str, fingerprint: str) -> str:
    """One key per entry body, made here and nowhere else: the same body always has the same key."""
    return f"mlc:{company.code}:{report_id}:{fingerprint[:32]}"


def open_entry(report: ExpenseReport) -> JournalEntry | None:
    """The entry whose outcome is open: while it exists it is the only thing the report may send."""
    return JournalEntry.objects.filter(report=report, state=EntryState.OPEN).first()


def save_entry(
    *, report: ExpenseReport, built: BuiltEntry, opened: bool = False, first: bool = False
) -> JournalEntry:
    """Store a freshly built entry with its lines before anything is sent (built, or open when the
    caller claims the report in the same transaction).

    The same body finds its earlier row (same key); other built, never-sent entries are superseded.
    `first`: the caller read that the report has no entry at all, so there is nothing to find.
    Call it inside the caller's transaction: a race (the same key stored by another worker, or a
    second open entry) raises IntegrityError there, and the caller's transaction decides."""
    fingerprint = entry_fingerprint(built)
    key = idempotency_key(report.company, report.report_id, fingerprint)
    found = (
        []
        if first
        else list(
            JournalEntry.objects.filter(
                Q(company=report.company, idempotency_key=key) | Q(report=report, state=EntryState.BUILT)
            )
        )
    )
    for entry in found:
        if entry.idempotency_key == key:
            if opened:
                open_for_send(entry)
            return entry
    entry = JournalEntry.objects.create(
        company=report.company,
        report=report,
        state=EntryState.OPEN if opened else EntryState.BUILT,
        idempotency_key=key,
        fingerprint=fingerprint,
        source_journal=built.source_journal,
        posting_date=built.posting_date,
        reference=built.reference,
        comment=built.comment,
    )
    write_lines(entry, built.lines)
    if found:
        JournalEntry.objects.filter(pk__in=[e.pk for e in found], state=EntryState.BUILT).update(
            state=EntryState.SUPERSEDED
        )
    return entry


_LINE_COLUMNS = (
    "entry",
    "line_no",
    "account",
    "debit_cents",
    "credit_cents",
    "comment",
    "source_transactions",
    "mapping_source",
)


def write_lines(entry: JournalEntry, lines: Iterable[Any]) -> None:
    insert_rows(
        JournalLine,
        _LINE_COLUMNS,
        [
            [
                entry.pk,
                n,
                line.account,
                line.debit_cents,
                line.credit_cents,
                line.comment,
                list(getattr(line, "source_transactions", ()) or ()),
                str(getattr(line, "mapping_source", "") or "")[:200],
            ]
            for n, line in enumerate(lines, start=1)
        ],
    )


def open_for_send(entry: JournalEntry) -> None:
    """Mark the entry open before it is sent: from here on only this key and body may go out for
    its report (the partial unique index refuses a second open entry)."""
    JournalEntry.objects.filter(
        pk=entry.pk, state__in=[EntryState.BUILT, EntryState.OPEN, EntryState.REFUSED]
    ).update(state=EntryState.OPEN)
    entry.state = EntryState.OPEN


def close_unwritten(entry: JournalEntry, *, refused: bool) -> None:
    """Sage answered definitely that nothing was written: the key is free again (refused: the body
    itself was refused; otherwise it may be sent again as it is)."""
    entry_state = EntryState.REFUSED if refused else EntryState.BUILT
    JournalEntry.objects.filter(pk=entry.pk, state=EntryState.OPEN).update(state=entry_state)
    entry.state = entry_state


def payload_of(entry: JournalEntry, lines: Iterable[Any] | None = None) -> JournalEntryPayload:
    """The exact body stored for an entry (`lines`: the entry's lines when the caller has them)."""
    return JournalEntryPayload.from_lines(
        source_journal=entry.source_journal,
        posting_date=entry.posting_date,
        reference=entry.reference,
        comment=entry.comment,
        lines=lines if lines is not None else entry.lines.order_by("line_no"),
    )


def line_set(lines: Iterable[Any]) -> list[tuple[str, int, int]]:
    """Lines as (account, debit, credit), sorted: what must be equal for two entries to be the same."""
    return sorted((x.account, x.debit_cents, x.credit_cents) for x in lines)


# ---------------------------------------------------------------------------------------------
# Recording a post


@dataclass(frozen=True)
class PostedVia:
    """How an entry came to be in Sage, for the audit: posted, settled by lookup, found by search."""

    how: str
    action: str = "posted"


def record_posted(
    *,
    report: ExpenseReport,
    entry: JournalEntry,
    result: PostResult,
    actor: str,
    holder: str,
    via: PostedVia,
    lines: Sequence[Any] | None = None,
    expenses: Sequence[Expense] | None = None,
) -> bool:
    """The entry is in Sage: its number goes on the entry, the report and every expense's audit row.

    Exactly once per entry whatever the timing: the entry moves to posted by a conditional update,
    and only the caller whose update did it writes the audit rows. Returns whether this call did."""
    # No savepoint: inside a caller's transaction (a batch of records) a failure rolls it all back.
    with transaction.atomic(savepoint=False):
        updated = JournalEntry.objects.filter(
            pk=entry.pk, state__in=[EntryState.OPEN, EntryState.BUILT]
        ).update(
            state=EntryState.POSTED,
            sage_entry_no=result.entry_no,
            sage_batch_no=result.batch_no,
            posted_at=timezone.now(),
        )
        if not updated:
            log.warning("report %s: entry %s was already recorded", report.report_id, entry.pk)
            return False
        entry.state, entry.sage_entry_no, entry.sage_batch_no = (
            EntryState.POSTED,
            result.entry_no,
            result.batch_no,
        )
        move(
            report,
            S.POSTED,
            actor=actor,
            from_states=[S.POSTING],
            holder=holder,
            posted_fingerprint=report.fingerprint,
            last_error="",
            next_attempt_at=None,
        )
        line_rows = lines if lines is not None else list(entry.lines.all())
        # An adjusting entry's audit is its own row: the expenses' rows name the first entry.
        rows = (
            [] if entry.correction_no else expenses if expenses is not None else list(report.expenses.all())
        )
        record_many(posting_events(report, entry, result, actor, via, line_rows, rows))
    return True


def posting_events(
    report: ExpenseReport,
    entry: JournalEntry,
    result: PostResult,
    actor: str,
    via: PostedVia,
    lines: Sequence[Any],
    expenses: Sequence[Expense],
) -> list[dict[str, Any]]:
    """The audit rows of a post: one per expense (with its account), then the report's."""
    accounts = accounts_by_transaction(lines)
    events: list[dict[str, Any]] = [
        {
            "action": "expense_posted",
            "actor": actor,
            "report": report,
            "expense": expense,
            "amount_cents": expense.amount_cents,
            "currency": report.currency,
            "account": accounts.get(expense.transaction_id, ""),
            "sage_entry_no": result.entry_no,
            "sage_batch_no": result.batch_no,
            "detail": {
                "category": expense.category,
                "tag": expense.tag,
                "original_amount_cents": expense.original_amount_cents,
                "original_currency": expense.original_currency,
            },
        }
        for expense in expenses
    ]
    events.append(
        {
            "action": "correction_posted" if entry.correction_no else via.action,
            "actor": actor,
            "report": report,
            "amount_cents": report.total_cents,
            "currency": report.currency,
            "sage_entry_no": result.entry_no,
            "sage_batch_no": result.batch_no,
            "message": f"batch {result.batch_no}, dated {result.posting_date} ({via.how})",
            "detail": {"idempotency_key": entry.idempotency_key, "replayed": result.replayed},
        }
    )
    return events


def accounts_by_transaction(lines: Iterable[Any]) -> dict[str, str]:
    """Each expense's account: its expense line's account wins over its offset line's."""
    accounts: dict[str, str] = {}
    for line in lines:
        for transaction_id in getattr(line, "source_transactions", None) or []:
            if line.debit_cents or transaction_id not in accounts:
                accounts[transaction_id] = line.account
    return accounts


def store_found(*, report: ExpenseReport, found: FoundEntry, instead_of: JournalEntry) -> JournalEntry:
    """An entry Sage holds for this report that the ledger did not know (a restored backup, another
    installation): stored as posted, with Sage's own lines, so reconcile and the admin see it. The
    entry built `instead_of` it was never sent: superseded."""
    JournalEntry.objects.filter(pk=instead_of.pk, state__in=[EntryState.OPEN, EntryState.BUILT]).update(
        state=EntryState.SUPERSEDED
    )
    instead_of.state = EntryState.SUPERSEDED
    key = found.idempotency_key or f"found:{found.entry_no}"
    entry, created = JournalEntry.objects.get_or_create(
        company=report.company,
        idempotency_key=key,
        defaults={
            "report": report,
            "fingerprint": "",
            "state": EntryState.POSTED,
            "source_journal": found.source_journal or "GJ",
            "posting_date": found.posting_date,
            "reference": found.reference[:30],
            "comment": found.comment[:2048],
            "sage_entry_no": found.entry_no,
            "sage_batch_no": found.batch_no,
            "posted_at": timezone.now(),
        },
    )
    if created:
        write_lines(entry, found.lines)
    return entry
