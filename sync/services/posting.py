"""Where a report is posted: `Poster.prepare` → `transmit` → `finish`, read top to bottom.

prepare (database, the run's thread): the one entry this report may send now — its open entry if
it has one (settle it under the same key and body), else a fresh build, stored and opened —
claimed in one commit. transmit (Sage only, a write-limit thread): for an open entry a lookup,
then the same key and body again; for a fresh key a search by reference first (the ledger may
have forgotten an earlier post: a restored backup, a second installation), then the post with
retries. finish (database): record what that came to. Nothing else sends an entry to Sage.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from audit.services import record, record_many
from connector.models import Company
from connector.sage100.errors import (
    SageCompanyError,
    SageError,
    SageOutcomeUnknown,
    SageReportError,
    SageTransientError,
)
from connector.sage100.gateway import SageGateway
from connector.sage100.retry import PostOutcome, RetryPolicy, post_with_retries
from connector.sage100.slots import WriteSlots
from connector.sage100.types import FoundEntry, JournalEntryPayload, PostResult
from sync import selectors
from sync.journal import BuiltEntry, NeedsMapping, NothingToPost, ReportRejected
from sync.models import EntryState, Expense, ExpenseReport, JournalEntry, ReportState
from sync.services.context import BuildContext
from sync.services.counts import RunCounts
from sync.services.ledger import (
    PostedVia,
    claim,
    close_unwritten,
    conflict_message,
    line_set,
    move,
    open_entry,
    open_for_send,
    payload_of,
    record_posted,
    save_entry,
    store_found,
    take_over_stale,
    take_ownership,
)
from sync.services.retry_wait import retry_delay
from sync.states import POSTABLE_STATES

log = logging.getLogger(__name__)
S = ReportState
POSTABLE_NOW = (*POSTABLE_STATES, S.RETRY_WAIT)


class CompanyStopped(Exception):
    """A company-level failure (credentials, access, configuration): the run stops."""

    def __init__(self, error: SageCompanyError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class Send:
    """A claimed report and the one entry it may send now."""

    report: ExpenseReport
    entry: JournalEntry
    payload: JournalEntryPayload
    settling: bool  # the entry was open already: lookup, then the same key and body
    eligible: bool  # this run's export shows the report approved (else: lookup only)
    lines: Sequence[Any] | None = None
    expenses: list[Expense] | None = None


@dataclass
class Answer:
    """What Sage said to one Send (transmit's result; no database work done yet)."""

    outcome: PostOutcome | None = None
    found: FoundEntry | None = None  # settled by lookup
    in_sage: list[FoundEntry] = field(default_factory=list)  # found by reference before a first post
    not_resent: bool = False  # open, not found, and not eligible: left open
    error: Exception | None = None
    unknown_seen: bool = False  # some post in this send had an unknown outcome


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


@dataclass
class Poster:
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
        if report.state == S.POSTING and not take_over_stale(report, holder=self.holder):
            return report.state
        report.refresh_from_db()
        report.company = self.company  # the same row: spares a query per report for its code
        entry = open_entry(report)
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

    def _nothing_was_sent(self, report: ExpenseReport) -> str:
        move(report, S.POSTING, actor=self.actor, from_states=[S.UNKNOWN], claimed_by=self.holder)
        move(report, S.READY, actor=self.actor, holder=self.holder, claimed_until=None)
        return self._prepare_fresh(report) if self.is_eligible(report) else S.READY  # type: ignore[return-value]

    def _prepare_settle(self, report: ExpenseReport, entry: JournalEntry) -> str | Send:
        with transaction.atomic():
            if not claim(report, holder=self.holder, from_states=[S.UNKNOWN], seconds=self.claim_seconds):
                return ExpenseReport.objects.get(pk=report.pk).state
            open_for_send(entry)
        return Send(report, entry, payload_of(entry), settling=True, eligible=self.is_eligible(report))

    def _prepare_fresh(self, report: ExpenseReport) -> str | Send:
        expenses = list(report.expenses.all().order_by("id"))
        try:
            built = self.context.build(selectors.report_input(report, expenses=expenses))
        except NeedsMapping as exc:
            return self._stop_before_posting(report, S.NEEDS_MAPPING, "; ".join(exc.problems))
        except ReportRejected as exc:
            return self._stop_before_posting(report, S.FAILED, exc.reason)
        if isinstance(built, NothingToPost):
            return self._nothing_to_post(report, built, expenses)
        other = take_ownership(report)
        if other is not None:
            message = conflict_message(report.report_id, other)
            move(report, S.CONFLICT, actor=self.actor, action="conflict", message=message, last_error=message)
            self.counts.add("failed")
            return S.CONFLICT
        try:
            # Entry, notes, claim and the entry's opening in one commit.
            with transaction.atomic():
                entry = save_entry(report=report, built=built)
                for note in built.notes:
                    record(action="note", actor=self.actor, report=report, message=note)
                if not claim(
                    report, holder=self.holder, from_states=[report.state], seconds=self.claim_seconds
                ):
                    return ExpenseReport.objects.get(pk=report.pk).state
                open_for_send(entry)
        except IntegrityError:
            return ExpenseReport.objects.get(pk=report.pk).state  # another entry was opened meanwhile
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
                in_sage = watched.gateway.search(reference=send.payload.reference)
                if in_sage:
                    return Answer(in_sage=list(in_sage))
            outcome = post_with_retries(
                watched,  # type: ignore[arg-type]
                send.payload,
                idempotency_key=key,
                policy=self.policy,
                slots=self.slots,
            )
            return Answer(outcome=outcome, unknown_seen=watched.unknown)
        except Exception as exc:  # recorded by finish(), whatever it is
            return Answer(error=exc, unknown_seen=watched.unknown)

    # -- finish (database) --------------------------------------------------------------------

    def finish(self, send: Send, answer: Answer) -> str:
        """Record what a send came to: posted, failed, retry later, or still open."""
        try:
            if answer.found is not None:
                return self._posted(send, answer.found.as_result(), PostedVia("settled by lookup"))
            if answer.in_sage:
                return self._found_in_sage(send, answer.in_sage)
            if answer.not_resent:
                return self._left_open(
                    send,
                    "not re-sent: this run's export does not show the report approved, and Sage has no "
                    "entry under its key yet; looked up again next run",
                )
            if answer.outcome is not None:
                return self._sent(send, answer.outcome)
        except DatabaseError as exc:
            log.exception("report %s: Sage answered, but recording it failed", send.report.report_id)
            # The record rolled back: the report is still claimed and its entry still open.
            send.report.state, send.entry.state = S.POSTING, EntryState.OPEN
            return self._left_open(send, f"could not record Sage's answer: {exc}")
        return self._failed(send, answer)

    def _sent(self, send: Send, outcome: PostOutcome) -> str:
        how = "re-sent after an unknown outcome" if send.settling else "posted"
        if outcome.settled_by_lookup:
            how = f"{how}; settled by lookup"
        if outcome.retries_by_code:
            record(
                action="post_retried",
                actor=self.actor,
                report=send.report,
                message=", ".join(f"{code} x{n}" for code, n in sorted(outcome.retries_by_code.items())),
                detail={"attempts": outcome.attempts, "retries": outcome.retries_by_code},
            )
        return self._posted(send, outcome.result, PostedVia(how))

    def _posted(self, send: Send, result: PostResult, via: PostedVia) -> str:
        report = send.report
        if record_posted(
            report=report,
            entry=send.entry,
            result=result,
            actor=self.actor,
            holder=self.holder,
            via=via,
            lines=send.lines,
            expenses=send.expenses,
        ):
            self.counts.add("posted")
            if send.settling:
                self._flag_if_build_differs(send)
        return report.state

    def _flag_if_build_differs(self, send: Send) -> None:
        """Settled under its earlier key: posted, whatever changed; a person sees if today's build differs."""
        report = send.report
        try:
            built = self.context.build(selectors.report_input(report))
        except (NeedsMapping, ReportRejected, SageError):
            return  # no build to compare with today: it stays posted
        theirs = line_set(send.entry.lines.all())
        if isinstance(built, BuiltEntry) and line_set(built.lines) != theirs:
            summary = (
                f"posted under its earlier key (Sage entry {send.entry.sage_entry_no or '?'}); today's "
                f"build differs: {describe_lines(theirs)} in Sage, "
                f"{describe_lines(line_set(built.lines))} now"
            )
            move(
                report,
                S.CHANGED,
                actor=self.actor,
                action="changed_after_posting",
                message=summary,
                change_summary=summary,
                changed_fingerprint=report.fingerprint,
            )
            self.counts.add("changed")

    def _found_in_sage(self, send: Send, in_sage: list[FoundEntry]) -> str:
        """Sage already holds an entry with this report's reference: adopt it, never post again."""
        report, entry = send.report, send.entry
        ours = line_set(send.lines if send.lines is not None else entry.lines.all())
        same = [f for f in in_sage if f.idempotency_key == entry.idempotency_key or line_set(f.lines) == ours]
        numbers = ", ".join(f.entry_no for f in in_sage)
        if same:
            how = f"found in Sage by reference before the first post (entry {numbers})"
            return self._posted(send, same[0].as_result(), PostedVia(how, action="found_in_sage"))
        with transaction.atomic():
            stored = store_found(report=report, found=in_sage[0], instead_of=entry)
            summary = (
                f"Sage already holds entry {numbers} for {entry.reference} (found by reference before the "
                "first post) and it differs from today's build: "
                f"{describe_lines(line_set(in_sage[0].lines))} "
                f"in Sage, {describe_lines(ours)} now. Nothing was posted."
            )
            move(
                report,
                S.CHANGED,
                actor=self.actor,
                action="found_in_sage",
                message=summary,
                holder=self.holder,
                change_summary=summary,
                changed_fingerprint=report.fingerprint,
                posted_fingerprint="",
                claimed_until=None,
                detail={"sage_entry_no": stored.sage_entry_no},
            )
        self.counts.add("changed")
        return S.CHANGED

    def _left_open(self, send: Send, message: str) -> str:
        attempts = ExpenseReport.objects.filter(pk=send.report.pk).values_list("attempts", flat=True).first()
        move(
            send.report,
            S.UNKNOWN,
            actor=self.actor,
            from_states=[S.POSTING],
            action="post_unknown",
            message=message,
            holder=self.holder,
            last_error=message,
            claimed_until=None,
            next_attempt_at=timezone.now() + retry_delay(attempts or 1),
        )
        self.counts.add("unknown")
        return S.UNKNOWN

    def _failed(self, send: Send, answer: Answer) -> str:
        """Sage did not take the entry. Only a definite answer frees the key; anything else keeps it."""
        exc = answer.error
        report, entry = send.report, send.entry
        if not isinstance(exc, SageError):
            log.error("report %s: unexpected error while posting", report.report_id, exc_info=exc)
            return self._left_open(send, f"unexpected error while posting: {exc}")
        if isinstance(exc, SageOutcomeUnknown) and isinstance(exc.__cause__, SageCompanyError):
            self._left_open(send, str(exc))  # unsettled, and the company's credentials failed too
            raise CompanyStopped(exc.__cause__)
        still_open = isinstance(exc, SageOutcomeUnknown) or (
            not isinstance(exc, SageReportError) and (send.settling or answer.unknown_seen)
        )
        if still_open:
            state = self._left_open(send, str(exc))
            if isinstance(exc, SageCompanyError):
                raise CompanyStopped(exc)  # the report stays open under its key; the company stops
            return state
        close_unwritten(entry, refused=isinstance(exc, SageReportError))
        detail = {"code": exc.code, "kind": exc.kind}
        if isinstance(exc, SageCompanyError):
            move(
                report, S.READY, actor=self.actor, holder=self.holder, last_error=str(exc), claimed_until=None
            )
            raise CompanyStopped(exc)
        if isinstance(exc, SageTransientError):
            attempts = ExpenseReport.objects.filter(pk=report.pk).values_list("attempts", flat=True).first()
            move(
                report,
                S.RETRY_WAIT,
                actor=self.actor,
                action="post_retrying",
                message=str(exc),
                holder=self.holder,
                detail=detail,
                last_error=str(exc),
                claimed_until=None,
                next_attempt_at=timezone.now() + retry_delay(attempts or 1),
            )
            self.counts.add("retrying")
            return S.RETRY_WAIT
        move(
            report,
            S.FAILED,
            actor=self.actor,
            action="post_failed",
            message=str(exc),
            holder=self.holder,
            detail=detail,
            last_error=str(exc),
            claimed_until=None,
        )
        self.counts.add("failed")
        return S.FAILED

    def release_unsent(self, send: Send) -> None:
        """Claimed, never sent (the run stopped first): nothing was written, so it is as it was."""
        if send.settling:
            move(send.report, S.UNKNOWN, actor=self.actor, holder=self.holder, claimed_until=None)
        else:
            close_unwritten(send.entry, refused=False)
            move(send.report, S.READY, actor=self.actor, holder=self.holder, claimed_until=None)

    def close(self) -> None:
        """Close every gateway this poster opened, in any thread."""
        with self._lock:
            for gateway in self._opened:
                gateway.close()
            self._opened.clear()
        self._local = threading.local()


def describe_lines(lines: Sequence[tuple[str, int, int]]) -> str:
    """Lines in a person's words: '6100-00-000 Dr 125.40, 2100-00-000 Cr 125.40'."""
    from connector.money import display

    parts = [
        f"{account} {'Dr ' + display(debit) if debit else 'Cr ' + display(credit)}"
        for account, debit, credit in lines
    ]
    return "[" + ", ".join(parts) + "]"
