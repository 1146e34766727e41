"""Where a report is posted: `Poster.prepare` → `transmit` → `finish`, read top to bottom.

prepare (database, the run's thread): the one entry this report may send now — its open entry if
it has one (settle it under the same key and body), else a fresh build, stored and opened —
claimed in one commit. transmit (Sage only, a write-limit thread): for an open entry a lookup,
then the same key and body again; for a fresh key a search by reference first (the ledger may
have forgotten an earlier post: a restored backup, a second installation; the pipeline starts it
ahead, while earlier posts are in Sage), then the post with retries. finish (database): record
what that came to. Nothing else sends an entry to Sage.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from audit.services import record, record_many
from connector.models import Company
from connector.sage100.errors import (
    SageError,
    SageOutcomeUnknown,
)
from connector.sage100.gateway import SageGateway
from connector.sage100.retry import RetryPolicy, post_with_retries
from connector.sage100.slots import WriteSlots
from connector.sage100.types import FoundEntry, JournalEntryPayload, PostResult
from sync import selectors
from sync.journal import NeedsMapping, NothingToPost, ReportRejected
from sync.models import EntryState, Expense, ExpenseReport, JournalEntry, ReportState
from sync.services.context import BuildContext
from sync.services.counts import RunCounts
from sync.services.entries import (
    open_entry,
    open_for_send,
    payload_of,
    save_entry,
)
from sync.services.ledger import claim, conflict_message, move, take_over_stale, take_ownership
from sync.services.recording import RecordsAnswers
from sync.services.sends import Answer, Send
from sync.states import POSTABLE_STATES

log = logging.getLogger(__name__)
S = ReportState
POSTABLE_NOW = (*POSTABLE_STATES, S.RETRY_WAIT)


class _Watched:
    """The gateway, noting whether any post had an unknown outcome (then the key stays open)."""

    def __init__(self, gateway: SageGateway) -> None:
        self.gateway = gateway
        self.unknown = False

    def post_entry(self, entry: JournalEntryPayload, *, idempotency_key: str) -> PostResult:
        try:
            return self.gateway.post_entry(entry, idempotency_key=idempotency_key)
        except SageOutcomeUnknown:
            self.unknown = True
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.gateway, name)


class _OwnedElsewhere(Exception):
    """Another company's ledger has this report ID: roll the claim's transaction back."""


@dataclass
class Poster(RecordsAnswers):
    """Posts reports of one company through one gateway factory, within the write limit."""

    company: Company
    context: BuildContext
    gateway_factory: Callable[[], SageGateway]
    slots: WriteSlots
    policy: RetryPolicy
    actor: str
    holder: str
    counts: RunCounts
    eligible: set[str] | None  # report IDs this run saw approved; None: every listed report
    claim_seconds: float = 300.0
    _local: threading.local = field(default_factory=threading.local)
    _opened: list[SageGateway] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def gateway(self) -> SageGateway:
        gateway: SageGateway | None = getattr(self._local, "gateway", None)
        if gateway is None:
            gateway = self._local.gateway = self.gateway_factory()
            with self._lock:
                self._opened.append(gateway)
        return gateway

    def is_eligible(self, report: ExpenseReport) -> bool:
        return self.eligible is None or report.report_id in self.eligible

    # -- prepare (database) -------------------------------------------------------------------

    def prepare(self, report: ExpenseReport) -> str | Send:
        """Claim the report with the one entry it may send now; or return the state it stays in."""
        listed: list[Expense] | None = getattr(report, "listed_expenses", None)
        if listed is not None and report.state in POSTABLE_NOW and hasattr(report, "has_entries"):
            # Listed by this run with its expenses: no re-read. The claim holds only if the report
            # is still in that state and revision; else it is read again and prepared as below.
            report.company = self.company
            if not self.is_eligible(report):
                return report.state
            return self._prepare_fresh(report, listed=listed)
        if report.state == S.POSTING and not take_over_stale(report, holder=self.holder):
            return report.state
        report.refresh_from_db()
        report.company = self.company  # the same row: spares a query per report for its code
        # Only a claimed or unknown report can have an open entry (and the index refuses a second).
        entry = open_entry(report) if report.state in (S.POSTING, S.UNKNOWN) else None
        if entry is None and report.state == S.UNKNOWN:
            # A claim from before entries were opened: its newest built entry may have gone out.
            entry = report.entries.filter(state=EntryState.BUILT).order_by("-id").first()
            if entry is None:
                return self._nothing_was_sent(report)
        if entry is not None:
            return self._prepare_settle(report, entry)
        if report.state not in POSTABLE_NOW or not self.is_eligible(report):
            return report.state  # settled by another worker, or not approved now
        return self._prepare_fresh(report)

    def _nothing_was_sent(self, report: ExpenseReport) -> str | Send:
        """Unknown, but no entry was ever stored to send: nothing can have been written; ready again."""
        if not move(report, S.POSTING, actor=self.actor, from_states=[S.UNKNOWN], claimed_by=self.holder):
            return ExpenseReport.objects.get(pk=report.pk).state  # another worker took it
        move(report, S.READY, actor=self.actor, holder=self.holder, claimed_until=None)
        return self._prepare_fresh(report) if self.is_eligible(report) else S.READY

    def _prepare_settle(self, report: ExpenseReport, entry: JournalEntry) -> str | Send:
        with transaction.atomic():
            if not claim(report, holder=self.holder, from_states=[S.UNKNOWN], seconds=self.claim_seconds):
                return ExpenseReport.objects.get(pk=report.pk).state
            open_for_send(entry)
        return Send(report, entry, payload_of(entry), settling=True, eligible=self.is_eligible(report))

    def _prepare_fresh(self, report: ExpenseReport, *, listed: list[Expense] | None = None) -> str | Send:
        expenses = listed if listed is not None else list(report.expenses.all().order_by("id"))
        try:
            built = self.context.build(selectors.report_input(report, expenses=expenses))
        except NeedsMapping as exc:
            return self._stop_before_posting(report, S.NEEDS_MAPPING, "; ".join(exc.problems))
        except ReportRejected as exc:
            return self._stop_before_posting(report, S.FAILED, exc.reason)
        if isinstance(built, NothingToPost):
            return self._nothing_to_post(report, built, expenses)
        other: int | None = None
        try:
            # Ownership, the entry (stored open), its notes and the claim in one commit, or none.
            with transaction.atomic():
                other = take_ownership(report)
                if other is not None:
                    raise _OwnedElsewhere
                first = listed is not None and not getattr(report, "has_entries", True)
                entry = save_entry(report=report, built=built, opened=True, first=first)
                for note in built.notes:
                    record(action="note", actor=self.actor, report=report, message=note)
                claimed = claim(
                    report,
                    holder=self.holder,
                    from_states=[report.state],
                    seconds=self.claim_seconds,
                    revision=report.fingerprint if listed is not None else None,
                )
                if not claimed:
                    transaction.set_rollback(True)  # another worker has it: nothing of ours stays
        except _OwnedElsewhere:
            message = conflict_message(report.report_id, other)
            move(report, S.CONFLICT, actor=self.actor, action="conflict", message=message, last_error=message)
            self.counts.add("failed")
            return S.CONFLICT
        except IntegrityError:
            claimed = False  # another entry was opened meanwhile
        if not claimed:
            fresh = ExpenseReport.objects.get(pk=report.pk)  # another worker moved it meanwhile
            return self.prepare(fresh) if listed is not None else fresh.state
        payload = payload_of(entry, built.lines)
        return Send(
            report, entry, payload, settling=False, eligible=True, lines=built.lines, expenses=expenses
        )

    def _stop_before_posting(self, report: ExpenseReport, state: str, reason: str) -> str:
        quiet = report.state == state and report.last_error == reason
        move(
            report,
            state,
            actor=self.actor,
            action=None if quiet else state,
            message=reason,
            last_error=reason,
        )
        self.counts.add("needs_mapping" if state == S.NEEDS_MAPPING else "failed")
        return state

    def _nothing_to_post(self, report: ExpenseReport, built: NothingToPost, expenses: list[Expense]) -> str:
        with transaction.atomic():
            if move(
                report,
                S.POSTED,
                actor=self.actor,
                action="nothing_to_post",
                message=built.reason,
                posted_fingerprint=report.fingerprint,
                last_error="",
            ):
                record_many(
                    {
                        "action": "expense_not_posted",
                        "actor": self.actor,
                        "report": report,
                        "expense": expense,
                        "amount_cents": expense.amount_cents,
                        "currency": report.currency,
                        "account": built.expense_accounts.get(expense.transaction_id, ""),
                        "message": "nets to zero" if expense.amount_cents else "zero amount",
                    }
                    for expense in expenses
                )
        return S.POSTED

    # -- transmit (Sage only: any thread, no database) ---------------------------------------

    def search_first(self, send: Send) -> list[FoundEntry]:
        """Every entry Sage holds under a fresh key's reference (a read; any thread)."""
        return self.gateway().search(reference=send.payload.reference)

    def transmit(self, send: Send) -> Answer:
        """The Sage side of a send, and nothing else."""
        watched = _Watched(self.gateway())
        key = send.entry.idempotency_key
        try:
            if send.settling:
                try:
                    found = watched.gateway.lookup(idempotency_key=key)
                except SageError:
                    found = None  # a lookup that fails settles nothing
                if found is not None:
                    return Answer(found=found)
                if not send.eligible:
                    return Answer(not_resent=True)
            else:
                in_sage = send.searched.result() if send.searched is not None else self.search_first(send)
                if in_sage:
                    return Answer(in_sage=list(in_sage))
            outcome = post_with_retries(
                watched,
                send.payload,
                idempotency_key=key,
                policy=self.policy,
                slots=self.slots,
            )
            return Answer(outcome=outcome, unknown_seen=watched.unknown)
        except Exception as exc:  # recorded by finish(), whatever it is
            return Answer(error=exc, unknown_seen=watched.unknown)

    # -- finish (database) --------------------------------------------------------------------

    def close(self) -> None:
        """Close every gateway this poster opened, in any thread."""
        with self._lock:
            for gateway in self._opened:
                gateway.close()
            self._opened.clear()
        self._local = threading.local()
