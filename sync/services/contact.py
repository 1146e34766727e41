"""Connection health: when each company last reached Expensify and Sage 100, and its last error.

A run watches the connections it is given (`ContactLog.watch`): every call to Expensify (export,
re-check, marking) and to Sage 100 (ping, periods, chart refresh, search, lookup, post) tells the
log whether the system answered. The log keeps that in memory and `save()` writes it once at the
run's end: one UPDATE per system the run reached (an INSERT the first time), never one per report.
The admin's connection tests go through `checked()` the same way.

Whether a system *answered* is what counts: Sage refusing an entry (a report error) or a locked
record is a good contact; no answer, a refused password or an unreadable answer is not.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import DateTimeField, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from connector.expensify.errors import (
    ExpensifyAuthError,
    ExpensifyConfigError,
    ExpensifyError,
    ExpensifyTransientError,
)
from connector.expensify.types import ExpensifyReport, RejectedReport
from connector.logs import redact
from connector.models import Company
from connector.sage100.errors import (
    STOPPING_WORDS,
    SageCompanyError,
    SageError,
    SageOutcomeUnknown,
    SageReportError,
    SageTransientError,
)
from connector.sage100.gateway import SageGateway, SageSettings
from connector.sage100.types import (
    AccountStructure,
    FiscalPeriod,
    FoundEntry,
    GLAccountInfo,
    JournalEntryPayload,
    PingInfo,
    PostResult,
)
from sync.models import ConnectionHealth, OutsideSystem
from sync.services.seams import ExpensifySession

if TYPE_CHECKING:
    from sync.services.runs import Connections

log = logging.getLogger(__name__)
T = TypeVar("T")
EXPENSIFY, SAGE = OutsideSystem.EXPENSIFY.value, OutsideSystem.SAGE.value
MAX_ERROR_CHARS = 300
# Sage answered, just not with a yes: the connection itself is fine.
SAGE_ANSWERED_BUSY = frozenset({"RECORD_LOCKED", "TOO_MANY_WRITES"})


def trouble_of(exc: BaseException) -> str | None:
    """A few words for what a failed call says about the connection; None when the system answered.

    An exception that is neither an Expensify nor a Sage error (a bug of ours) says nothing about
    the connection: "" (not noted)."""
    if isinstance(exc, SageError):
        if isinstance(exc, SageReportError) or exc.code in SAGE_ANSWERED_BUSY:
            return None
        if isinstance(exc, SageCompanyError):
            words = STOPPING_WORDS.get(exc.code)
            return words.trouble if words else "set-up problem"
        if isinstance(exc, SageOutcomeUnknown):
            return "no answer"
        return "unreachable" if isinstance(exc, SageTransientError) else "answering with errors"
    if isinstance(exc, ExpensifyError):
        if isinstance(exc, ExpensifyAuthError):
            return "credentials rejected"
        if isinstance(exc, ExpensifyConfigError):
            return "set-up problem"
        return "unreachable" if isinstance(exc, ExpensifyTransientError) else "answering with errors"
    return ""


@dataclass
class Outcome:
    """What one system did during one run (or one test), as the calls ended."""

    last_ok_at: dt.datetime | None = None
    last_error_at: dt.datetime | None = None
    first_error_at: dt.datetime | None = None  # the first error after this run's last success
    error: str = ""
    trouble: str = ""


@dataclass
class ContactLog:
    """The outcomes of one company's calls, per system, until `save()` writes them."""

    company: Company
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def answered(self, system: str) -> None:
        with self._lock:
            outcome = self.outcomes.setdefault(system, Outcome())
            outcome.last_ok_at = timezone.now()
            outcome.first_error_at = None

    def failed(self, system: str, exc: BaseException) -> None:
        """Note a call that raised: a failed contact, a good one (Sage refused an entry), or neither."""
        trouble = trouble_of(exc)
        if trouble is None:
            self.answered(system)
            return
        if not trouble:
            return
        with self._lock:
            outcome = self.outcomes.setdefault(system, Outcome())
            now = timezone.now()
            outcome.last_error_at = now
            outcome.first_error_at = outcome.first_error_at or now
            outcome.error = redact(str(exc))[:MAX_ERROR_CHARS]
            outcome.trouble = trouble

    def call(self, system: str, action: Callable[[], T]) -> T:
        """`action()`, its outcome noted."""
        try:
            result = action()
        except Exception as exc:
            self.failed(system, exc)
            raise
        self.answered(system)
        return result

    def opened(self, system: str, action: Callable[[], T]) -> T:
        """`action()` that sets a connection up without asking anything: only a failure is noted."""
        try:
            return action()
        except Exception as exc:
            self.failed(system, exc)
            raise

    def iterate(self, system: str, items: Iterator[T]) -> Iterator[T]:
        """`items` as they come; noted when they are all read, or when reading them fails."""
        try:
            yield from items
        except Exception as exc:
            self.failed(system, exc)
            raise
        self.answered(system)

    def watch(self, connections: Connections) -> Connections:
        """The same connections, each call's outcome noted here."""
        return replace(
            connections,
            expensify=lambda company: WatchedExpensify(
                self.opened(EXPENSIFY, lambda: connections.expensify(company)), self
            ),
            sage=lambda settings: _watched_gateway(self, connections.sage, settings),
            chart=lambda company: self.call(SAGE, lambda: connections.chart(company)),
        )

    def save(self) -> None:
        """Write what was seen: one statement per system reached (two the very first time)."""
        with self._lock:
            seen = {system: replace(outcome) for system, outcome in self.outcomes.items()}
            self.outcomes.clear()
        for system, outcome in seen.items():
            try:
                save_outcome(self.company, system, outcome)
            except DatabaseError:  # the run's own outcome still gets written after this
                log.exception("could not record %s connection health of %s", system, self.company.code)


def _watched_gateway(
    log: ContactLog, opener: Callable[[SageSettings], SageGateway], settings: SageSettings
) -> SageGateway:
    return WatchedGateway(log.opened(SAGE, lambda: opener(settings)), log)


def save_outcome(company: Company, system: str, outcome: Outcome) -> None:
    fields: dict[str, Any] = {}
    if outcome.last_ok_at is not None:
        fields["last_ok_at"] = outcome.last_ok_at
    if outcome.last_error_at is not None:
        fields.update(last_error_at=outcome.last_error_at, last_error=outcome.error, trouble=outcome.trouble)
    if outcome.first_error_at is None:
        fields["failing_since"] = None
    elif outcome.last_ok_at is not None:
        fields["failing_since"] = outcome.first_error_at
    else:  # still failing as before this run, or failing from now on
        fields["failing_since"] = Coalesce(
            "failing_since", Value(outcome.first_error_at, output_field=DateTimeField())
        )
    rows = ConnectionHealth.objects.filter(company=company, system=system)
    if rows.update(**fields):
        return
    if outcome.first_error_at is not None:
        fields["failing_since"] = outcome.first_error_at
    try:
        with transaction.atomic():
            ConnectionHealth.objects.create(company=company, system=system, **fields)
    except IntegrityError:  # made meanwhile by another run or test: update it as above
        rows.update(**fields)


def checked(system: str, action: Callable[[Company], T]) -> Callable[[Company], T]:
    """`action(company)` (a connection test, a chart refresh) with its outcome saved at once."""

    def run(company: Company) -> T:
        log = ContactLog(company)
        try:
            return log.call(system, lambda: action(company))
        finally:
            log.save()

    return run


class WatchedExpensify:
    """An Expensify client whose export and marking calls are noted; the rest passes through."""

    def __init__(self, client: ExpensifySession, log: ContactLog) -> None:
        self._client = client
        self._log = log

    @property
    def calls(self) -> int:
        return int(getattr(self._client, "calls", 0))

    def export_reports(self, **kwargs: Any) -> Iterator[ExpensifyReport | RejectedReport]:
        items = self._log.call(EXPENSIFY, lambda: self._client.export_reports(**kwargs))
        return self._log.iterate(EXPENSIFY, iter(items))

    def mark_exported(self, report_ids: Sequence[str], *, label: str) -> set[str]:
        return self._log.call(EXPENSIFY, lambda: self._client.mark_exported(report_ids, label=label))

    def close(self) -> None:
        self._client.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class WatchedGateway:
    """A SageGateway whose every call is noted."""

    def __init__(self, gateway: SageGateway, log: ContactLog) -> None:
        self._gateway = gateway
        self._log = log

    def ping(self) -> PingInfo:
        return self._log.call(SAGE, self._gateway.ping)

    def account_structure(self) -> AccountStructure:
        return self._log.call(SAGE, self._gateway.account_structure)

    def accounts(self, status: str | None = None) -> Iterator[GLAccountInfo]:
        items = self._log.call(SAGE, lambda: self._gateway.accounts(status))
        return self._log.iterate(SAGE, iter(items))

    def periods(self, fiscal_year: int) -> list[FiscalPeriod]:
        return self._log.call(SAGE, lambda: self._gateway.periods(fiscal_year))

    def post_entry(self, entry: JournalEntryPayload, *, idempotency_key: str) -> PostResult:
        return self._log.call(SAGE, lambda: self._gateway.post_entry(entry, idempotency_key=idempotency_key))

    def lookup(
        self, *, idempotency_key: str | None = None, reference: str | None = None
    ) -> FoundEntry | None:
        return self._log.call(
            SAGE, lambda: self._gateway.lookup(idempotency_key=idempotency_key, reference=reference)
        )

    def search(
        self,
        *,
        reference: str | None = None,
        reference_prefix: str | None = None,
        posting_date_from: date | None = None,
        posting_date_to: date | None = None,
    ) -> list[FoundEntry]:
        return self._log.call(
            SAGE,
            lambda: self._gateway.search(
                reference=reference,
                reference_prefix=reference_prefix,
                posting_date_from=posting_date_from,
                posting_date_to=posting_date_to,
            ),
        )

    def close(self) -> None:
        self._gateway.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gateway, name)
