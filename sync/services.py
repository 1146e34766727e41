"""The sync engine: where an approved Expensify report becomes a Sage 100 journal entry, once.

A run (`run_sync`) takes the company's run lease, exports approved reports (test mode), upserts
them, posts the ready ones through the Sage gateway, marks the posted ones exported, and records
everything on a SyncRun and in the audit trail. Report states are the ledger that makes posting
exactly-once: a report moves to `posting` only by a conditional update, the idempotency key is
derived from the entry body, and a report whose outcome is unknown is settled in Sage (lookup,
then a re-post of the same body under the same key) before anything else happens to it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.services import record, record_many
from connector.expensify.errors import ExpensifyAuthError, ExpensifyError
from connector.expensify.types import ExpensifyReport, RejectedReport
from connector.models import Company
from connector.sage100.errors import (
    SageCompanyError,
    SageError,
    SageOutcomeUnknown,
    SageTransientError,
)
from connector.sage100.types import JournalEntryPayload, PostResult
from sync import leases, selectors
from sync.journal import (
    BuiltEntry,
    ExpenseInput,
    NeedsMapping,
    NothingToPost,
    Periods,
    ReportInput,
    ReportRejected,
    build_entry,
    describe_difference,
    entry_fingerprint,
    report_fingerprint,
)
from sync.models import (
    EntryState,
    Expense,
    ExpenseReport,
    JournalEntry,
    JournalLine,
    ReportState,
    RunOutcome,
    SyncRun,
)

log = logging.getLogger(__name__)

RUN_LEASE_SECONDS = 600
LEASE_RENEW_SECONDS = 30.0  # renew the run lease this often, not once per report (a write each)
CLAIM_SECONDS = 300  # a claim older than this is a dead worker's: settle by lookup
CHART_MAX_AGE = dt.timedelta(minutes=15)
RETRY_WAIT_FIRST = dt.timedelta(minutes=2)
RETRY_WAIT_MAX = dt.timedelta(hours=6)
# A report listed by a run is built and posted only if it is still in one of these states.
POSTABLE_NOW = (*selectors.POSTABLE_STATES, ReportState.RETRY_WAIT)


class LeaseKeeper:
    """Renews the run lease while a run works through its reports, at most every few seconds."""

    def __init__(self, key: str, holder: str) -> None:
        self.key = key
        self.holder = holder
        self._last = time.monotonic()

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last >= LEASE_RENEW_SECONDS:
            leases.renew(self.key, holder=self.holder, seconds=RUN_LEASE_SECONDS)
            self._last = now


class CompanyStopped(Exception):
    """A company-level failure (credentials, access, configuration): the run stops."""


@dataclass
class RunCounts:
    seen: int = 0
    posted: int = 0
    exported: int = 0
    failed: int = 0
    needs_mapping: int = 0
    retrying: int = 0
    changed: int = 0
    unknown: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


@dataclass(frozen=True)
class DryRunEntry:
    report_id: str
    employee_email: str
    outcome: str  # "post", "nothing", "needs_mapping", "rejected", "already posted"
    built: BuiltEntry | None
    message: str


# ---------------------------------------------------------------------------------------------
# From Expensify to the ledger


def report_input_from_export(parsed: ExpensifyReport) -> ReportInput:
    return ReportInput(
        report_id=parsed.report_id,
        report_name=parsed.report_name,
        employee_email=parsed.employee_email,
        policy_id=parsed.policy_id,
        currency=parsed.currency,
        total_cents=parsed.total_cents,
        approved_on=parsed.approved,
        expenses=tuple(
            ExpenseInput(
                transaction_id=e.transaction_id,
                merchant=e.merchant,
                category=e.category,
                category_gl_code=e.category_gl_code,
                tag_levels=e.tag_levels,
                amount_cents=e.amount_cents,
                currency=e.original_currency,
                reimbursable=e.reimbursable,
                spent_on=e.created,
            )
            for e in parsed.expenses
        ),
    )


def _write_expenses(report: ExpenseReport, parsed: ExpensifyReport) -> None:
    Expense.objects.bulk_create(
        [
            Expense(
                report=report,
                transaction_id=e.transaction_id,
                merchant=e.merchant[:500],
                category=e.category[:200],
                category_gl_code=e.category_gl_code[:64],
                tag=e.tag[:500],
                tag_levels=list(e.tag_levels),
                amount_cents=e.amount_cents,
                original_amount_cents=e.original_amount_cents,
                original_currency=e.original_currency[:3],
                reimbursable=e.reimbursable,
                billable=e.billable,
                spent_on=e.created,
                comment=e.comment,
            )
            for e in parsed.expenses
        ],
        batch_size=500,
    )


def _report_fields(parsed: ExpensifyReport, fingerprint: str) -> dict[str, Any]:
    return {
        "report_name": parsed.report_name[:500],
        "employee_email": parsed.employee_email[:254],
        "policy_id": parsed.policy_id[:64],
        "currency": parsed.currency[:3],
        "total_cents": parsed.total_cents,
        "approved_on": parsed.approved,
        "submitted_on": parsed.submitted,
        "fingerprint": fingerprint,
    }


def upsert_report(*, company: Company, parsed: ExpensifyReport, actor: str) -> tuple[ExpenseReport, str]:
    """Store an exported report; returns it and what happened: new, unchanged, revised or changed."""
    fingerprint = report_fingerprint(report_input_from_export(parsed))
    with transaction.atomic():
        report = (
            ExpenseReport.objects.select_for_update()
            .filter(company=company, report_id=parsed.report_id)
            .first()
        )
        if report is None:
            report = ExpenseReport.objects.create(
                company=company,
                report_id=parsed.report_id,
                state=ReportState.NEW,
                **_report_fields(parsed, fingerprint),
            )
            _write_expenses(report, parsed)
            record(
                action="discovered",
                actor=actor,
                report=report,
                amount_cents=parsed.total_cents,
                currency=parsed.currency,
                message=f"{len(parsed.expenses)} expense(s), approved {parsed.approved or 'date unknown'}",
            )
            return report, "new"
        if fingerprint in (report.fingerprint, report.changed_fingerprint):
            return report, "unchanged"  # the same revision, or a change already flagged or accepted
        if report.state in (ReportState.POSTED, ReportState.EXPORTED, ReportState.CHANGED):
            # Never repost automatically: a person decides (reverse and repost, or ignore).
            summary = describe_difference(selectors.report_input(report), report_input_from_export(parsed))
            ExpenseReport.objects.filter(pk=report.pk).update(
                state=ReportState.CHANGED,
                change_summary=summary,
                changed_fingerprint=fingerprint,
                updated_at=timezone.now(),
            )
            record(action="changed_after_posting", actor=actor, report=report, message=summary)
            report.refresh_from_db()
            return report, "changed"
        if report.state in (ReportState.POSTING, ReportState.UNKNOWN):
            return report, "unchanged"  # settle the revision in flight first; seen again next run
        report.expenses.all().delete()
        for name, value in _report_fields(parsed, fingerprint).items():
            setattr(report, name, value)
        report.state = ReportState.NEW
        report.last_error = ""
        report.save()
        _write_expenses(report, parsed)
        record(action="revised", actor=actor, report=report, message="Expensify shows a new revision")
        return report, "revised"


def upsert_rejected(*, company: Company, rejected: RejectedReport, actor: str) -> tuple[ExpenseReport, bool]:
    """A report whose export data is unusable: kept, failed, with the reason; True if it failed just now."""
    with transaction.atomic():
        report, created = ExpenseReport.objects.select_for_update().get_or_create(
            company=company,
            report_id=rejected.report_id,
            defaults={
                "report_name": rejected.report_name[:500],
                "employee_email": rejected.employee_email[:254],
                "currency": "",
                "total_cents": 0,
                "fingerprint": "rejected",
                "state": ReportState.FAILED,
                "last_error": rejected.reason,
            },
        )
        failed_now = created
        if not created and report.state in (ReportState.NEW, ReportState.READY, ReportState.NEEDS_MAPPING):
            report.state = ReportState.FAILED
            report.last_error = rejected.reason
            report.save(update_fields=["state", "last_error", "updated_at"])
            failed_now = True
        if failed_now:
            record(action="rejected", actor=actor, report=report, message=rejected.reason)
    return report, failed_now


# ---------------------------------------------------------------------------------------------
# Building


class PeriodCache:
    """Fiscal periods from Sage, fetched once per fiscal year per run."""

    def __init__(self, fetch: Callable[[int], list[Any]]) -> None:
        self._fetch = fetch
        self._years: dict[int, list[tuple[dt.date, dt.date, bool]]] = {}

    def around(self, day: dt.date) -> Periods:
        rows: list[tuple[dt.date, dt.date, bool]] = []
        for year in (day.year, day.year + 1, day.year + 2):
            if year not in self._years:
                self._years[year] = [(p.start, p.end, p.status == "open") for p in self._fetch(year)]
            rows.extend(self._years[year])
        return Periods(rows)


@dataclass
class BuildContext:
    company: Company
    rules: Any
    mappings: Any
    chart: Any
    periods: PeriodCache
    export_date: dt.date

    @classmethod
    def load(cls, company: Company, periods: PeriodCache) -> BuildContext:
        return cls(
            company=company,
            rules=selectors.company_rules(company),
            mappings=selectors.mapping_tables(company),
            chart=selectors.chart(company),
            periods=periods,
            export_date=timezone.localdate(),
        )

    def build(self, report: ReportInput) -> BuiltEntry | NothingToPost:
        anchor = report.approved_on or self.export_date
        latest = max([e.spent_on for e in report.expenses if e.spent_on] + [anchor, self.export_date])
        periods = self.periods.around(min(anchor, latest))
        return build_entry(
            report, self.rules, self.mappings, self.chart, periods, export_date=self.export_date
        )


def idempotency_key(company: Company, report_id: str, fingerprint: str) -> str:
    """One key per entry body: the same body always posts under the same key."""
    return f"mlc:{company.code}:{report_id}:{fingerprint[:32]}"


def save_entry(*, report: ExpenseReport, built: BuiltEntry) -> JournalEntry:
    """The entry about to be posted, stored with its lines before anything is sent."""
    fingerprint = entry_fingerprint(built)
    key = idempotency_key(report.company, report.report_id, fingerprint)
    try:
        with transaction.atomic():
            # One read finds this body's entry and any other unposted entry of the report.
            found = list(
                JournalEntry.objects.filter(
                    Q(company=report.company, idempotency_key=key) | Q(report=report, state=EntryState.BUILT)
                )
            )
            for entry in found:
                if entry.idempotency_key == key:
                    return entry
            entry = JournalEntry.objects.create(
                company=report.company,
                report=report,
                idempotency_key=key,
                fingerprint=fingerprint,
                source_journal=built.source_journal,
                posting_date=built.posting_date,
                reference=built.reference,
                comment=built.comment,
            )
            JournalLine.objects.bulk_create(
                JournalLine(
                    entry=entry,
                    line_no=n,
                    account=line.account,
                    debit_cents=line.debit_cents,
                    credit_cents=line.credit_cents,
                    comment=line.comment,
                    source_transactions=list(line.source_transactions),
                    mapping_source=line.mapping_source[:200],
                )
                for n, line in enumerate(built.lines, start=1)
            )
            if found:
                JournalEntry.objects.filter(pk__in=[e.pk for e in found], state=EntryState.BUILT).update(
                    state=EntryState.SUPERSEDED
                )
    except IntegrityError:
        # Another worker stored the same body at the same moment: its row is this entry.
        return JournalEntry.objects.get(company=report.company, idempotency_key=key)
    return entry


def payload_of(entry: JournalEntry, built: BuiltEntry | None = None) -> JournalEntryPayload:
    """The exact body stored for an entry (re-sent unchanged when settling an unknown outcome).

    `built`: the entry just built for it (its key is derived from that body, so the stored lines
    are these lines): saves reading them back."""
    return JournalEntryPayload.from_lines(
        source_journal=entry.source_journal,
        posting_date=entry.posting_date,
        reference=entry.reference,
        comment=entry.comment,
        lines=built.lines if built is not None else entry.lines.order_by("line_no"),
    )


# ---------------------------------------------------------------------------------------------
# Posting one report


def claim(report: ExpenseReport, *, holder: str, from_states: Iterable[str]) -> bool:
    """Move a report to `posting` only if it is still in one of `from_states` (one worker wins)."""
    now = timezone.now()
    return bool(
        ExpenseReport.objects.filter(pk=report.pk, state__in=list(from_states)).update(
            state=ReportState.POSTING,
            claimed_by=holder,
            claimed_until=now + dt.timedelta(seconds=CLAIM_SECONDS),
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    )


def claim_stale(report: ExpenseReport, *, holder: str) -> bool:
    """Take over a report a dead worker left in `posting` (its claim has expired)."""
    now = timezone.now()
    return bool(
        ExpenseReport.objects.filter(pk=report.pk, state=ReportState.POSTING, claimed_until__lt=now).update(
            state=ReportState.UNKNOWN, claimed_by=holder, updated_at=now
        )
    )


def _set_state(report: ExpenseReport, state: str, *, holder: str, **fields: Any) -> None:
    updated = ExpenseReport.objects.filter(pk=report.pk, claimed_by=holder).update(
        state=state, claimed_until=None, updated_at=timezone.now(), **fields
    )
    if not updated:
        log.warning("report %s: claim lost before recording %s", report.report_id, state)
        report.refresh_from_db()
        return
    # Our claim held, so the row now is what we wrote: mirror it instead of reading it back.
    report.state = state
    report.claimed_until = None
    for name, value in fields.items():
        setattr(report, name, value)


def retry_delay(attempts: int) -> dt.timedelta:
    """Growing wait before a report's next try: 2, 4, 8 ... minutes, at most 6 hours."""
    delay = RETRY_WAIT_FIRST * (2 ** max(0, min(attempts - 1, 12)))
    return min(delay, RETRY_WAIT_MAX)


def record_posted(
    *,
    report: ExpenseReport,
    entry: JournalEntry,
    result: PostResult,
    actor: str,
    holder: str,
    how: str,
    built: BuiltEntry | None = None,
    expenses: list[Expense] | None = None,
) -> None:
    """The entry is in Sage: write its number on the entry, the report and every expense's audit row.

    `built` and `expenses`: the entry's lines and the report's expenses when the caller has them."""
    with transaction.atomic():
        JournalEntry.objects.filter(pk=entry.pk).update(
            state=EntryState.POSTED,
            sage_entry_no=result.entry_no,
            sage_batch_no=result.batch_no,
            posted_at=timezone.now(),
        )
        _set_state(
            report,
            ReportState.POSTED,
            holder=holder,
            posted_fingerprint=report.fingerprint,
            last_error="",
            next_attempt_at=None,
        )
        if built is not None:
            lines: Iterable[tuple[str, Any, int]] = (
                (line.account, line.source_transactions, line.debit_cents) for line in built.lines
            )
        else:
            lines = entry.lines.values_list("account", "source_transactions", "debit_cents")
        accounts = _accounts_by_transaction(lines)
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
            for expense in (expenses if expenses is not None else report.expenses.all())
        ]
        events.append(
            {
                "action": "posted",
                "actor": actor,
                "report": report,
                "amount_cents": report.total_cents,
                "currency": report.currency,
                "sage_entry_no": result.entry_no,
                "sage_batch_no": result.batch_no,
                "message": f"batch {result.batch_no}, dated {result.posting_date} ({how})",
                "detail": {"idempotency_key": entry.idempotency_key, "replayed": result.replayed},
            }
        )
        record_many(events)  # one INSERT: the expenses' rows, then the report's


def _accounts_by_transaction(lines: Iterable[tuple[str, Any, int]]) -> dict[str, str]:
    accounts: dict[str, str] = {}
    for account, sources, debit in lines:
        for transaction_id in sources or []:
            # An expense line's account wins over its offset line's (the debit side for expenses).
            if debit or transaction_id not in accounts:
                accounts[transaction_id] = account
    return accounts


@dataclass
class PendingSend:
    """A claimed report whose stored entry is ready to go to Sage (the send itself is pending)."""

    report: ExpenseReport
    entry: JournalEntry
    payload: JournalEntryPayload
    how: str
    unsettled: bool = False
    built: BuiltEntry | None = None
    expenses: list[Expense] | None = None


@dataclass
class Poster:
    """Posts reports of one company through one gateway factory, within the write limit.

    With `defer`, a report that is ready to send comes back from post() as a PendingSend: the
    caller runs transmit() (Sage only, no database: any thread) and then finish() (database).
    """

    company: Company
    context: BuildContext
    gateway_factory: Callable[[], Any]
    slots: Any
    policy: Any
    actor: str
    holder: str
    counts: RunCounts
    defer: bool = False
    _local: threading.local = field(default_factory=threading.local)
    _opened: list[Any] = field(default_factory=list)

    def gateway(self) -> Any:
        gateway = getattr(self._local, "gateway", None)
        if gateway is None:
            gateway = self._local.gateway = self.gateway_factory()
            self._opened.append(gateway)
        return gateway

    def post(self, report: ExpenseReport) -> str | PendingSend:
        """Take one report as far as it can go now; returns its new state."""
        if report.state == ReportState.POSTING and not claim_stale(report, holder=self.holder):
            return report.state
        report.refresh_from_db()
        report.company = self.company  # the same row: spares a query per report for its code
        if report.state == ReportState.UNKNOWN:
            return self.settle(report)
        if report.state not in POSTABLE_NOW:
            return report.state  # settled by another worker since this run listed it
        return self.build_and_post(report)

    def settle(self, report: ExpenseReport) -> str | PendingSend:
        """An earlier write may have happened: find it in Sage, or re-send the same body and key."""
        entry = report.entries.filter(state=EntryState.BUILT).order_by("-id").first()
        if entry is None:
            entry = report.entries.filter(state=EntryState.POSTED).order_by("-id").first()
        if not claim(report, holder=self.holder, from_states=[ReportState.UNKNOWN]):
            return report.state
        if entry is None:  # nothing was ever stored to send: nothing can have been written
            _set_state(report, ReportState.READY, holder=self.holder)
            return self.build_and_post(report)
        found = None
        try:
            found = self.gateway().lookup(idempotency_key=entry.idempotency_key)
        except SageError as exc:
            return self.failed_post(report, exc, unsettled=True)
        if found is not None:
            try:
                record_posted(
                    report=report,
                    entry=entry,
                    result=found.as_result(),
                    actor=self.actor,
                    holder=self.holder,
                    how="settled by lookup",
                )
            except DatabaseError as exc:
                return self.unrecorded(report, exc)
            self.counts.add("posted")
            return ReportState.POSTED
        return self.send(report, entry, how="re-sent after an unknown outcome", unsettled=True)

    def build_and_post(self, report: ExpenseReport) -> str | PendingSend:
        expenses = list(report.expenses.all().order_by("id"))
        try:
            built = self.context.build(selectors.report_input(report, expenses=expenses))
        except NeedsMapping as exc:
            return self.stop_before_posting(report, ReportState.NEEDS_MAPPING, "; ".join(exc.problems))
        except ReportRejected as exc:
            return self.stop_before_posting(report, ReportState.FAILED, exc.reason)
        if isinstance(built, NothingToPost):
            return self.nothing_to_post(report, built)
        # Entry, notes and claim in one commit (a commit is a disk flush on both databases).
        with transaction.atomic():
            entry = save_entry(report=report, built=built)
            for note in built.notes:
                record(action="note", actor=self.actor, report=report, message=note)
            claimed = claim(report, holder=self.holder, from_states=[report.state])
        if not claimed:
            return ExpenseReport.objects.get(pk=report.pk).state
        pending = PendingSend(
            report, entry, payload_of(entry, built), "posted", built=built, expenses=expenses
        )
        if self.defer:
            return pending
        return self.finish(pending, self.transmit(pending))

    def send(self, report: ExpenseReport, entry: JournalEntry, *, how: str, unsettled: bool = False) -> str:
        pending = PendingSend(report, entry, payload_of(entry), how, unsettled=unsettled)
        return self.finish(pending, self.transmit(pending))

    def transmit(self, pending: PendingSend) -> Any:
        """The Sage side of a send, and nothing else: its PostOutcome, or the exception it raised."""
        from connector.sage100.retry import post_with_retries

        try:
            return post_with_retries(
                self.gateway(),
                pending.payload,
                idempotency_key=pending.entry.idempotency_key,
                policy=self.policy,
                slots=self.slots,
            )
        except Exception as exc:
            return exc

    def finish(self, pending: PendingSend, outcome: Any) -> str:
        """Record what a send came to: posted, failed, retry later, or unknown."""
        report, entry, how = pending.report, pending.entry, pending.how
        if isinstance(outcome, SageError):
            return self.failed_post(report, outcome, unsettled=pending.unsettled)
        if isinstance(outcome, Exception):
            # Anything unexpected after a send may have written: settle by lookup next time.
            log.error("report %s: unexpected error while posting", report.report_id, exc_info=outcome)
            _set_state(
                report, ReportState.UNKNOWN, holder=self.holder, last_error=f"unexpected error: {outcome}"
            )
            self.counts.add("unknown")
            return ReportState.UNKNOWN
        if outcome.settled_by_lookup:
            how = f"{how}; settled by lookup"
        try:
            if outcome.retries_by_code:
                record(
                    action="post_retried",
                    actor=self.actor,
                    report=report,
                    message=", ".join(f"{code} x{n}" for code, n in sorted(outcome.retries_by_code.items())),
                    detail={"attempts": outcome.attempts, "retries": outcome.retries_by_code},
                )
            record_posted(
                report=report,
                entry=entry,
                result=outcome.result,
                actor=self.actor,
                holder=self.holder,
                how=how,
                built=pending.built,
                expenses=pending.expenses,
            )
        except DatabaseError as exc:
            return self.unrecorded(report, exc)
        self.counts.add("posted")
        return ReportState.POSTED

    def unrecorded(self, report: ExpenseReport, exc: DatabaseError) -> str:
        """Sage holds the entry but writing that down failed: unknown, so the next run settles it by
        lookup at once (if the database is still down, the claim's expiry brings it back instead)."""
        log.exception("report %s: posted in Sage, but recording it failed", report.report_id)
        _set_state(
            report,
            ReportState.UNKNOWN,
            holder=self.holder,
            last_error=f"could not record the posted entry: {exc}",
        )
        self.counts.add("unknown")
        return ReportState.UNKNOWN

    def failed_post(self, report: ExpenseReport, exc: SageError, *, unsettled: bool = False) -> str:
        """Record a failed post. `unsettled`: an earlier write of this entry may still commit, so
        anything short of Sage's definite refusal keeps the report unknown (same key next time)."""
        message = str(exc)
        if isinstance(exc, SageOutcomeUnknown) or (unsettled and isinstance(exc, SageTransientError)):
            state, counter = ReportState.UNKNOWN, "unknown"
            extra: dict[str, Any] = {}
        elif isinstance(exc, SageTransientError):
            state, counter = ReportState.RETRY_WAIT, "retrying"
            attempts = ExpenseReport.objects.get(pk=report.pk).attempts
            extra = {"next_attempt_at": timezone.now() + retry_delay(attempts)}
        elif isinstance(exc, SageCompanyError):
            # This call wrote nothing (only unknown outcomes may write): stop the run. A report whose
            # earlier write is unsettled stays unknown; any other goes back to ready.
            state = ReportState.UNKNOWN if unsettled else ReportState.READY
            _set_state(report, state, holder=self.holder, last_error=message)
            raise CompanyStopped(message) from exc
        else:
            state, counter = ReportState.FAILED, "failed"
            extra = {}
        _set_state(report, state, holder=self.holder, last_error=message, **extra)
        record(
            action=f"post_{counter}",
            actor=self.actor,
            report=report,
            message=message,
            detail={"code": getattr(exc, "code", ""), "kind": getattr(exc, "kind", "")},
        )
        self.counts.add(counter)
        return state

    def stop_before_posting(self, report: ExpenseReport, state: str, reason: str) -> str:
        updated = ExpenseReport.objects.filter(pk=report.pk, state=report.state).update(
            state=state, last_error=reason, updated_at=timezone.now()
        )
        if updated and (report.state != state or report.last_error != reason):
            record(action=state, actor=self.actor, report=report, message=reason)
        self.counts.add("needs_mapping" if state == ReportState.NEEDS_MAPPING else "failed")
        return state

    def nothing_to_post(self, report: ExpenseReport, built: NothingToPost) -> str:
        with transaction.atomic():
            updated = ExpenseReport.objects.filter(pk=report.pk, state=report.state).update(
                state=ReportState.POSTED,
                posted_fingerprint=report.fingerprint,
                last_error="",
                updated_at=timezone.now(),
            )
            if updated:
                record(action="nothing_to_post", actor=self.actor, report=report, message=built.reason)
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
                    for expense in report.expenses.all()
                )
        return ReportState.POSTED

    def close(self) -> None:
        """Close every gateway this poster opened, in any thread."""
        for gateway in self._opened:
            gateway.close()
        self._opened.clear()
        self._local.gateway = None


# ---------------------------------------------------------------------------------------------
# A run


@dataclass
class RunOptions:
    trigger: str
    actor: str
    since: dt.date | None = None
    report_ids: list[str] | None = None
    progress: Callable[[str, int, int], None] | None = None


def _export(client: Any, company: Company, options: RunOptions) -> Iterator[ExpensifyReport | RejectedReport]:
    since = options.since or company.export_start_date or (timezone.localdate() - dt.timedelta(days=90))
    kwargs: dict[str, Any] = {"label": company.export_label, "policy_ids": company.policy_ids}
    if options.report_ids:
        kwargs["report_ids"] = options.report_ids
    else:
        kwargs["approved_after"] = since
    return client.export_reports(**kwargs)  # type: ignore[no-any-return]


def _stop_company(company: Company, message: str, *, actor: str) -> None:
    Company.objects.filter(pk=company.pk).update(blocked_reason=message)
    company.blocked_reason = message
    record(action="company_stopped", actor=actor, company=company, message=message)


def _refresh_chart_if_stale(company: Company) -> None:
    from connector.sage100.services import refresh_chart

    fresh = company.chart_refreshed_at and timezone.now() - company.chart_refreshed_at < CHART_MAX_AGE
    if not fresh:
        refresh_chart(company)
        company.refresh_from_db()


def run_sync(*, company: Company, options: RunOptions) -> SyncRun:
    """One sync run for one company (see the module docstring). Never raises for report problems."""
    holder = leases.new_holder()
    lease_key = f"run:{company.code}"
    run = SyncRun.objects.create(company=company, trigger=options.trigger, actor=options.actor)
    if not leases.acquire(lease_key, holder=holder, seconds=RUN_LEASE_SECONDS):
        return _finish(run, RunOutcome.SKIPPED, "another run for this company is in progress", RunCounts())
    counts = RunCounts()
    try:
        outcome, message = _run_locked(company, options, run, counts, holder, lease_key)
    except Exception as exc:
        log.exception("sync run for %s failed", company.code)
        outcome, message = RunOutcome.FAILED, f"unexpected error: {exc}"
    finally:
        leases.release(lease_key, holder=holder)
    return _finish(run, outcome, message, counts)


def _run_locked(
    company: Company, options: RunOptions, run: SyncRun, counts: RunCounts, holder: str, lease_key: str
) -> tuple[str, str]:
    from connector.expensify import client_for_company
    from connector.sage100.gateway import open_gateway, settings_for_company
    from connector.sage100.retry import RetryPolicy
    from connector.sage100.slots import WriteSlots, effective_limit

    actor = options.actor
    problems: list[str] = []
    record(action="run_started", actor=actor, company=company, message=f"run {run.pk} ({options.trigger})")
    if options.trigger == "schedule" and company.blocked_reason:
        return RunOutcome.FAILED, f"runs stopped until fixed: {company.blocked_reason}"

    # 1. Export approved reports (test mode: nothing is marked) and store them.
    keeper = LeaseKeeper(lease_key, holder)
    client = None
    try:
        client = client_for_company(company)
        for parsed in _export(client, company, options):
            counts.add("seen")
            if isinstance(parsed, RejectedReport):
                _report, failed_now = upsert_rejected(company=company, rejected=parsed, actor=actor)
                if failed_now:
                    counts.add("failed")
                continue
            _report, what = upsert_report(company=company, parsed=parsed, actor=actor)
            if what == "changed":
                counts.add("changed")
            if options.progress:
                options.progress("export", counts.seen, 0)
            keeper.tick()
    except ExpensifyAuthError as exc:
        _stop_company(company, str(exc), actor=actor)
        if client is not None:
            client.close()
        return RunOutcome.FAILED, str(exc)
    except ExpensifyError as exc:
        # Reports stored by earlier runs can still post; the export is tried again next run.
        problems.append(f"Expensify export failed: {exc}")
        record(action="export_failed", actor=actor, company=company, message=str(exc))
    finally:
        if client is not None:
            run.expensify_calls = getattr(client, "calls", 0)

    # 2. Post what is ready, within the company's write limit.
    stopped = ""
    try:
        sage_settings = settings_for_company(company)
        _refresh_chart_if_stale(company)
        probe = open_gateway(sage_settings)
        try:
            ping = probe.ping() if sage_settings.transport == "agent" else None
            period_gateway = probe
            periods = PeriodCache(lambda year: period_gateway.periods(year))
            limit = effective_limit(company, ping)
            poster = Poster(
                company=company,
                context=BuildContext.load(company, periods),
                gateway_factory=lambda: open_gateway(sage_settings),
                slots=WriteSlots.for_company(company, ping),
                policy=RetryPolicy.for_company(company),
                actor=actor,
                holder=holder,
                counts=counts,
            )
            pending = list(selectors.reports_to_post(company, report_ids=options.report_ids))
            # Periods are fetched lazily on the first build; warm the cache here, single-threaded.
            _post_all(poster, pending, limit, options, lease_key, holder)
        finally:
            probe.close()
    except (CompanyStopped, SageCompanyError) as exc:
        # Stop the company, but still mark what this run posted before it stopped.
        stopped = str(exc)
        _stop_company(company, stopped, actor=actor)
    except SageError as exc:
        problems.append(f"Sage 100 unavailable: {exc}")
        record(action="sage_unavailable", actor=actor, company=company, message=str(exc))

    # 3. Mark what was posted as exported in Expensify (one call for the batch).
    if client is not None:
        try:
            counts.exported += mark_exported(company=company, client=client, actor=actor)
        except ExpensifyAuthError as exc:
            _stop_company(company, str(exc), actor=actor)
            return RunOutcome.FAILED, str(exc)
        except ExpensifyError as exc:
            problems.append(f"marking exported failed (tried again next run): {exc}")
            record(action="mark_failed", actor=actor, company=company, message=str(exc))
        finally:
            run.expensify_calls = getattr(client, "calls", 0)
            client.close()

    if stopped:
        return RunOutcome.FAILED, stopped
    if company.blocked_reason and not problems:
        Company.objects.filter(pk=company.pk).update(blocked_reason="")
        record(action="company_resumed", actor=actor, company=company, message="run succeeded")
    if problems:
        return RunOutcome.FAILED, "; ".join(problems)
    if counts.failed or counts.needs_mapping or counts.retrying or counts.unknown or counts.changed:
        return RunOutcome.PARTIAL, ""
    return RunOutcome.SUCCESS, ""


def _post_all(
    poster: Poster,
    reports: list[ExpenseReport],
    limit: int,
    options: RunOptions,
    lease_key: str,
    holder: str,
) -> None:
    """Post the listed reports: this thread does every database read and write, in order, while
    `limit` threads do only the Sage calls. The next report is built, stored and claimed while
    the others are in Sage, so the bookkeeping overlaps Sage's latency, and SQLite (one writer
    at a time) gets the same concurrency as PostgreSQL. No send starts before a thread is free:
    a stop (credentials, access) leaves at most one claimed report unsent, and it goes back."""
    total = len(reports)
    done = 0
    keeper = LeaseKeeper(lease_key, holder)
    in_sage: dict[Future[Any], PendingSend] = {}
    ready: PendingSend | None = None  # built, stored and claimed; waits for a free thread
    error: Exception | None = None
    queue = iter(reports)

    def one_done() -> None:
        nonlocal done
        done += 1
        if options.progress:
            options.progress("post", done, total)
        keeper.tick()

    poster.defer = True
    try:
        with ThreadPoolExecutor(max_workers=limit, thread_name_prefix=f"post-{poster.company.code}") as pool:
            while True:
                while error is None:
                    if ready is not None:
                        if len(in_sage) >= limit:
                            break
                        in_sage[pool.submit(poster.transmit, ready)] = ready
                        ready = None
                    report = next(queue, None)
                    if report is None:
                        break
                    try:
                        outcome = poster.post(report)
                    except Exception as exc:  # the company stopped, or the database failed
                        error = exc
                        break
                    if isinstance(outcome, PendingSend):
                        ready = outcome
                    else:
                        one_done()
                if not in_sage:
                    break
                finished, _ = wait(in_sage, return_when=FIRST_COMPLETED)
                for future in finished:
                    # Every send that went out is recorded, even after the company stopped.
                    try:
                        poster.finish(in_sage.pop(future), future.result())
                    except Exception as exc:
                        error = error or exc
                    one_done()
        if ready is not None:  # claimed, never sent: nothing was written, so it is ready again
            _set_state(ready.report, ReportState.READY, holder=holder)
    finally:
        poster.defer = False
        poster.close()
    if error is not None:
        raise error


def mark_exported(*, company: Company, client: Any, actor: str) -> int:
    """Mark every posted, not yet marked report exported in Expensify; returns how many."""
    reports = list(selectors.reports_to_mark(company))
    if not reports:
        return 0
    client.mark_exported([r.report_id for r in reports], label=company.export_label)
    now = timezone.now()
    ids = [r.pk for r in reports]
    # State and audit together: a half-written record would leave exported reports unaudited.
    with transaction.atomic():
        ExpenseReport.objects.filter(pk__in=ids, state=ReportState.POSTED).update(
            state=ReportState.EXPORTED, exported_at=now, updated_at=now
        )
        record_many(
            {
                "action": "marked_exported",
                "actor": actor,
                "report": r,
                "message": f"label {company.export_label!r}",
            }
            for r in reports
        )
    return len(reports)


def _finish(run: SyncRun, outcome: str, message: str, counts: RunCounts) -> SyncRun:
    run.outcome = outcome
    run.message = message
    run.finished_at = timezone.now()
    run.reports_seen = counts.seen
    run.reports_posted = counts.posted
    run.reports_exported = counts.exported
    run.reports_failed = counts.failed
    run.reports_needing_mapping = counts.needs_mapping
    run.reports_retrying = counts.retrying + counts.unknown
    run.reports_changed = counts.changed
    run.save()
    record(
        action="run_finished",
        actor=run.actor or run.trigger,
        company=run.company,
        message=f"run {run.pk}: {outcome}" + (f": {message}" if message else ""),
        detail={
            "seen": counts.seen,
            "posted": counts.posted,
            "exported": counts.exported,
            "failed": counts.failed,
            "needs_mapping": counts.needs_mapping,
            "retrying": counts.retrying,
            "unknown": counts.unknown,
            "changed": counts.changed,
        },
    )
    return run


# ---------------------------------------------------------------------------------------------
# Replay, dry run, preview, reconcile


def replay(
    *, company: Company, actor: str, report_ids: list[str] | None = None, failed: bool = False
) -> SyncRun:
    """Re-read the chosen reports from Expensify, rebuild with today's mappings, and post them."""
    queryset = ExpenseReport.objects.filter(company=company, state__in=selectors.REPLAYABLE_STATES)
    if report_ids is not None:
        queryset = queryset.filter(report_id__in=report_ids)
    elif not failed:
        raise ValueError("replay needs report IDs or failed=True")
    chosen = list(queryset.values_list("pk", "report_id"))
    now = timezone.now()
    for pk, report_id in chosen:
        updated = ExpenseReport.objects.filter(pk=pk, state__in=selectors.REPLAYABLE_STATES).update(
            state=ReportState.READY, next_attempt_at=None, updated_at=now
        )
        if updated:
            record(
                action="replay_requested",
                actor=actor,
                company=company,
                report=ExpenseReport.objects.get(pk=pk),
                message=f"replay of report {report_id}",
            )
    ids = [report_id for _, report_id in chosen]
    return run_sync(
        company=company, options=RunOptions(trigger="replay", actor=actor, report_ids=ids or ["-"])
    )


def dry_run(*, company: Company, since: dt.date | None = None) -> list[DryRunEntry]:
    """What a run would post now, without storing, posting or marking anything."""
    from connector.expensify import client_for_company
    from connector.sage100.gateway import open_gateway, settings_for_company

    posted_states = (ReportState.POSTED, ReportState.EXPORTED, ReportState.CHANGED, ReportState.POSTING)
    already = set(
        ExpenseReport.objects.filter(company=company, state__in=posted_states).values_list(
            "report_id", flat=True
        )
    )
    # A run refreshes a stale chart before building; so must its preview, or it rejects every account.
    _refresh_chart_if_stale(company)
    gateway = open_gateway(settings_for_company(company))
    client = client_for_company(company)
    results: list[DryRunEntry] = []
    try:
        context = BuildContext.load(company, PeriodCache(gateway.periods))
        for parsed in _export(client, company, RunOptions(trigger="command", actor="dry-run", since=since)):
            if isinstance(parsed, RejectedReport):
                results.append(
                    DryRunEntry(parsed.report_id, parsed.employee_email, "rejected", None, parsed.reason)
                )
                continue
            if parsed.report_id in already:
                results.append(
                    DryRunEntry(parsed.report_id, parsed.employee_email, "already posted", None, "")
                )
                continue
            results.append(_dry_build(context, report_input_from_export(parsed)))
    finally:
        client.close()
        gateway.close()
    return results


def _dry_build(context: BuildContext, report: ReportInput) -> DryRunEntry:
    try:
        built = context.build(report)
    except NeedsMapping as exc:
        return DryRunEntry(
            report.report_id, report.employee_email, "needs_mapping", None, "; ".join(exc.problems)
        )
    except ReportRejected as exc:
        return DryRunEntry(report.report_id, report.employee_email, "rejected", None, exc.reason)
    if isinstance(built, NothingToPost):
        return DryRunEntry(report.report_id, report.employee_email, "nothing", None, built.reason)
    return DryRunEntry(report.report_id, report.employee_email, "post", built, "; ".join(built.notes))


def preview(report: ExpenseReport) -> DryRunEntry:
    """The entry this report would post now, with today's mappings and cached chart."""
    from connector.sage100.gateway import open_gateway, settings_for_company

    company = report.company
    try:
        gateway = open_gateway(settings_for_company(company))
    except SageError as exc:
        return DryRunEntry(report.report_id, report.employee_email, "rejected", None, str(exc))
    try:
        context = BuildContext.load(company, PeriodCache(gateway.periods))
        return _dry_build(context, selectors.report_input(report))
    except SageError as exc:
        return DryRunEntry(report.report_id, report.employee_email, "rejected", None, f"Sage 100: {exc}")
    finally:
        gateway.close()


@dataclass(frozen=True)
class ReconcileRow:
    report_id: str
    reference: str
    ours: str
    theirs: str
    our_total_cents: int
    their_total_cents: int | None
    status: str  # ok, missing, duplicated, different

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def reconcile(*, company: Company, since: dt.date | None = None) -> list[ReconcileRow]:
    """Every entry this connector posted vs what Sage holds under its key and its reference."""
    from connector.sage100.gateway import open_gateway, settings_for_company

    entries = (
        JournalEntry.objects.filter(company=company, state=EntryState.POSTED)
        .select_related("report")
        .prefetch_related("lines")
        .order_by("id")
    )
    if since is not None:
        entries = entries.filter(posting_date__gte=since)
    gateway = open_gateway(settings_for_company(company))
    rows: list[ReconcileRow] = []
    try:
        for entry in entries:
            ours_total = sum(line.debit_cents for line in entry.lines.all())
            found = gateway.lookup(idempotency_key=entry.idempotency_key)
            newest = gateway.lookup(reference=entry.reference)
            status = "ok"
            theirs_total: int | None = None
            theirs = ""
            if found is None:
                status = "missing"
            else:
                theirs = found.entry_no
                # The agent's lookup returns the lines; the SOAP service's FindGLJournalEntry does not.
                their_lines = sorted((x.account, x.debit_cents, x.credit_cents) for x in found.lines)
                our_lines = sorted((x.account, x.debit_cents, x.credit_cents) for x in entry.lines.all())
                if found.lines:
                    theirs_total = sum(line.debit_cents for line in found.lines)
                if found.entry_no != entry.sage_entry_no or (found.lines and their_lines != our_lines):
                    status = "different"
                elif newest is not None and newest.entry_no != found.entry_no:
                    status = "duplicated"
                    theirs = f"{found.entry_no}, {newest.entry_no}"
            rows.append(
                ReconcileRow(
                    report_id=entry.report.report_id,
                    reference=entry.reference,
                    ours=entry.sage_entry_no,
                    theirs=theirs,
                    our_total_cents=ours_total,
                    their_total_cents=theirs_total,
                    status=status,
                )
            )
    finally:
        gateway.close()
    return rows
