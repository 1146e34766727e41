"""The third step of a post: record what Sage's answer came to (posting.py has the first two).

Only a definite answer frees a report's open key: posted (by the answer, a lookup, or an entry
found by reference), or refused / not written by a coded error. Anything else leaves the entry
open, and the report *unknown*, to be settled under the same key and body.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

from django.db import DatabaseError, transaction
from django.utils import timezone

from audit.services import record
from connector.models import Company
from connector.sage100.errors import (
    SageCompanyError,
    SageError,
    SageOutcomeUnknown,
    SageReportError,
    SageTransientError,
)
from connector.sage100.retry import PostOutcome
from connector.sage100.types import FoundEntry, PostResult
from sync import selectors
from sync.journal import BuiltEntry, NeedsMapping, ReportRejected
from sync.models import EntryState, ExpenseReport, ReportState
from sync.services.context import BuildContext
from sync.services.counts import RunCounts
from sync.services.entries import (
    PostedVia,
    close_unwritten,
    line_set,
    record_posted,
    store_found,
)
from sync.services.ledger import move
from sync.services.retry_wait import retry_delay
from sync.services.sends import Answer, CompanyStopped, Send

log = logging.getLogger(__name__)
S = ReportState


class RecordsAnswers:
    """finish() and what it needs; mixed into Poster."""

    company: Company
    context: BuildContext
    actor: str
    holder: str
    counts: RunCounts

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

    @staticmethod
    def deferrable(send: Send, answer: Answer) -> bool:
        """A first post that Sage took: its record may wait to share a transaction (finish_many)."""
        return answer.outcome is not None and answer.error is None and not send.settling

    def finish_many(self, items: list[tuple[Send, Answer]]) -> None:
        """Record deferrable answers in one transaction. On a database error it all rolls back:
        the report it happened on is left open (as finish() does), the others are recorded again
        one at a time."""
        posted, done = self.counts.posted, 0
        try:
            with transaction.atomic():
                for send, answer in items:
                    self._sent(send, cast(PostOutcome, answer.outcome))  # deferrable: it has one
                    done += 1
        except DatabaseError as exc:
            log.exception("recording %d answers failed; recording them one at a time", len(items))
            with self.counts.lock:
                self.counts.posted = posted
            for n, (send, answer) in enumerate(items):
                send.report.state, send.entry.state = S.POSTING, EntryState.OPEN  # rolled back
                if n == done:
                    self._left_open(send, f"could not record Sage's answer: {exc}")
                else:
                    self.finish(send, answer)

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
        if send.entry.correction_no:
            return  # an adjusting entry holds a difference, never a whole build
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
        # A lock or a timeout Sage answered definitely: try again later; anything else: failed.
        state, action, count = S.FAILED, "post_failed", "failed"
        later: dict[str, Any] = {}
        if isinstance(exc, SageTransientError):
            attempts = ExpenseReport.objects.filter(pk=report.pk).values_list("attempts", flat=True).first()
            state, action, count = S.RETRY_WAIT, "post_retrying", "retrying"
            later = {"next_attempt_at": timezone.now() + retry_delay(attempts or 1)}
        move(
            report,
            state,
            actor=self.actor,
            action=action,
            message=str(exc),
            holder=self.holder,
            detail=detail,
            last_error=str(exc),
            claimed_until=None,
            **later,
        )
        self.counts.add(count)
        return state

    def release_unsent(self, send: Send) -> None:
        """Claimed, never sent (the run stopped first): nothing was written, so it is as it was."""
        if send.settling:
            move(send.report, S.UNKNOWN, actor=self.actor, holder=self.holder, claimed_until=None)
        else:
            close_unwritten(send.entry, refused=False)
            move(send.report, S.READY, actor=self.actor, holder=self.holder, claimed_until=None)


def describe_lines(lines: Sequence[tuple[str, int, int]]) -> str:
    """Lines in a person's words: '6100-00-000 Dr 125.40, 2100-00-000 Cr 125.40'."""
    from connector.money import display

    parts = [
        f"{account} {'Dr ' + display(debit) if debit else 'Cr ' + display(credit)}"
        for account, debit, credit in lines
    ]
    return "[" + ", ".join(parts) + "]"
