"""The contract's operations after the request schema: logon → company → rights → (posts:) write
limit → idempotency → period → accounts → balance, then the BOI write and the store commit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from mlc_agent import __version__
from mlc_agent.boi import Provider
from mlc_agent.config import CompanyConfig, Config
from mlc_agent.errors import AgentError
from mlc_agent.names import NAMES
from mlc_agent.pool import SessionPool, Worker
from mlc_agent.sage import BoiSession, WriteUnknown, marker_for
from mlc_agent.store import KeyRecord, Store

log = logging.getLogger("mlc_agent.service")


def body_hash(entry: dict[str, Any]) -> str:
    """Hash of the normalized entry: member order ignored (keys sorted), absent comment = ""."""
    return hashlib.sha256(json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class WriteSlots:
    """At most `max_concurrent_writes` posts per company; a slot is freed once the answer is written."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        # Posts that arrived while the company was at its limit (refused with 429), and the
        # highest number of posts at once counting those (what the connector tried).
        self.refused = 0
        self.tried_peak: dict[str, int] = {}

    def in_use(self) -> dict[str, int]:
        """Writes open now, per company."""
        with self._lock:
            return dict(self._used)

    def clear_counts(self) -> None:
        """Forget the peaks and refusals (test mode)."""
        with self._lock:
            self.peak, self.tried_peak, self.refused = {}, {}, 0

    def take(self, company: CompanyConfig) -> Callable[[], None]:
        """A release function, or TOO_MANY_WRITES."""
        with self._lock:
            used = self._used.get(company.code, 0)
            self.tried_peak[company.code] = max(self.tried_peak.get(company.code, 0), used + 1)
            if used >= company.max_concurrent_writes:
                self.refused += 1
                raise AgentError(
                    "TOO_MANY_WRITES",
                    f"Company {company.code} allows {company.max_concurrent_writes} concurrent write(s).",
                    retry_after=1,
                )
            self._used[company.code] = used + 1
            self.peak[company.code] = max(self.peak.get(company.code, 0), used + 1)
        done = threading.Event()

        def release() -> None:
            if done.is_set():
                return
            done.set()
            with self._lock:
                self._used[company.code] -= 1

        return release


class Agent:
    """One agent: its configuration, BOI provider, session pool, store and write slots."""

    def __init__(self, config: Config, provider: Provider, store: Store) -> None:
        self.config = config
        self.provider = provider
        self.store = store
        self.pool = SessionPool(
            provider, home=config.sage_home, max_age=config.session_max_age, timeout=config.boi_timeout
        )
        self.slots = WriteSlots()
        self._locks_guard = threading.Lock()
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}
        self._inflight: set[tuple[str, str]] = set()
        # Test mode only (mlc_agent.simcontrol): write limits set at run time, a page size cap
        # like a small agent's, and counters of posts and replays.
        self.limit_override: dict[str, int] = {}
        self.page_size: int | None = None
        self.counts: dict[str, int] = {}

    def count(self, name: str) -> None:
        """One more of `name` (posts past logon, replays: for test-mode statistics)."""
        with self._locks_guard:
            self.counts[name] = self.counts.get(name, 0) + 1

    def forget_keys(self) -> None:
        """Drop the per-key locks and in-flight marks (test-mode reset, once nothing runs)."""
        with self._locks_guard:
            self._key_locks.clear()
            self._inflight.clear()

    def close(self) -> None:
        """Stop the session workers and close the store."""
        self.pool.close()
        self.store.close()

    # -- shared steps --------------------------------------------------------------------------
    def _company(self, code: str) -> CompanyConfig:
        company = self.config.companies.get(code)
        if company is None:
            raise AgentError("COMPANY_NOT_FOUND", f"Company {code} is not configured in this agent.")
        if code in self.limit_override:
            return dataclasses.replace(company, max_concurrent_writes=self.limit_override[code])
        return company

    def _page(self, limit: int) -> int:
        return min(limit, self.page_size) if self.page_size else limit

    def _key_lock(self, code: str, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._key_locks.setdefault((code, key), threading.Lock())

    def _in_flight(self, code: str, key: str) -> bool:
        with self._locks_guard:
            return (code, key) in self._inflight

    def _boi(self, request: dict[str, Any], task: str, fn: Callable[[BoiSession, Worker], Any]) -> Any:
        """Logon → company → rights on the session's thread, then `fn`."""
        logon, code = request["logon"], request["companyCode"]

        def job(worker: Worker) -> Any:
            session = worker.session()
            self._company(code)
            session.use(task)
            self._settle_leftovers(session, code)
            return fn(session, worker)

        return self.pool.run(logon["username"], logon["password"], code, job)

    def _settle_leftovers(self, session: BoiSession, code: str) -> None:
        """Pending keys left by a crash are settled by their marker as soon as a session is open."""
        for record in self.store.pending(code):
            lock = self._key_lock(code, record.key)
            if not lock.acquire(blocking=False):
                continue
            try:
                self._settle(session, record)
            finally:
                lock.release()

    def _settle(self, session: BoiSession, record: KeyRecord) -> None:
        """Pending and not being written here: committed if Sage holds its marker, else freed."""
        current = self.store.get(record.company, record.key)
        if current is None or current.state != "pending" or self._in_flight(record.company, record.key):
            return
        found = session.find_marker(marker_for(record.company, record.key))
        if found is None:
            log.info("pending key of company %s not found in Sage: freed", record.company)
            self.store.release(record.company, record.key)
            return
        log.warning(
            "pending key of company %s found in Sage as entry %s: committed", record.company, found["entryNo"]
        )
        self.store.commit(
            record.company,
            record.key,
            {
                "entryNo": found["entryNo"],
                "batchNo": found["batchNo"],
                "postingDate": found["postingDate"],
                "reference": found["reference"],
                "replayed": False,
            },
        )

    # -- reads ---------------------------------------------------------------------------------
    def ping(self, request: dict[str, Any]) -> dict[str, Any]:
        """Logon, company and read rights; versions and the company's write limit."""
        limit = self._boi(
            request, NAMES.read_task, lambda s, w: self._company(request["companyCode"]).max_concurrent_writes
        )
        return {
            "agentVersion": __version__,
            "sageVersion": self.provider.sage_version(),
            "maxConcurrentWrites": limit,
        }

    def structure(self, request: dict[str, Any]) -> dict[str, Any]:
        """The company's account structure."""
        return dict(self._boi(request, NAMES.read_task, lambda s, w: s.structure()))

    def accounts(self, request: dict[str, Any]) -> dict[str, Any]:
        """A page of accounts after the cursor (the last account of the previous page)."""
        rows: list[dict[str, str]] = self._boi(request, NAMES.read_task, lambda s, w: s.accounts())
        status, cursor = request.get("status"), request.get("cursor")
        limit = self._page(request.get("limit", 1000))
        rows = [
            r
            for r in rows
            if (not status or r["status"] == status) and (cursor is None or r["account"] > cursor)
        ]
        page = rows[:limit]
        return {"accounts": page, "nextCursor": page[-1]["account"] if len(rows) > limit else None}

    def periods(self, request: dict[str, Any]) -> dict[str, Any]:
        """The fiscal year's periods ([] when not set up)."""
        rows: list[dict[str, Any]] = self._boi(request, NAMES.read_task, lambda s, w: s.periods())
        year = request["fiscalYear"]
        return {
            "periods": [
                {k: v for k, v in r.items() if k != "fiscalYear"} for r in rows if r["fiscalYear"] == year
            ]
        }

    def _entries(self, session: BoiSession, code: str) -> list[dict[str, Any]]:
        """Every entry Sage's journal holds, plus those of the store no longer in the journal."""
        journal = session.journal()
        keyed = {marker_for(code, r.key): r for r in self.store.committed(code)}
        seen = set()
        entries = []
        for e in journal:
            record = keyed.get(e["marker"]) if e["marker"] else None
            entries.append(self._merge(e, record))
            seen.add((e["sourceJournal"], e["entryNo"]))
        for record in keyed.values():
            answer = record.answer or {}
            if (record.entry["sourceJournal"], answer.get("entryNo")) not in seen:
                # Updated to history by the journal update: the store still knows it.
                entries.append(self._from_store(record))
        return sorted(entries, key=lambda e: (e["entryNo"], e["sourceJournal"]))

    @staticmethod
    def _from_store(record: KeyRecord) -> dict[str, Any]:
        answer = record.answer or {}
        return {
            "entryNo": answer["entryNo"],
            "batchNo": answer["batchNo"],
            "postingDate": answer["postingDate"],
            "reference": answer["reference"],
            "sourceJournal": record.entry["sourceJournal"],
            "comment": record.entry["comment"],
            "idempotencyKey": record.key,
            "lines": record.entry["lines"],
            "replayed": False,
        }

    def _merge(self, found: dict[str, Any], record: KeyRecord | None) -> dict[str, Any]:
        if record is not None:
            # The store has the comment uncut and the key; Sage confirms the entry exists.
            return self._from_store(record)
        entry = {k: v for k, v in found.items() if k != "marker"}
        entry.update(idempotencyKey="", replayed=False)
        return entry

    def lookup(self, request: dict[str, Any]) -> dict[str, Any]:
        """By key (from the store, pending keys settled first) or the newest entry with a reference."""
        code = request["companyCode"]
        key: str = request.get("idempotencyKey") or ""

        def by_key(session: BoiSession, worker: Worker) -> dict[str, Any] | None:
            record = self.store.get(code, key)
            lock = self._key_lock(code, key)
            # Never wait here: a post holding the lock may be queued behind this very job.
            if record is not None and record.state == "pending" and lock.acquire(blocking=False):
                try:
                    self._settle(session, record)
                finally:
                    lock.release()
                record = self.store.get(code, key)
            if record is not None and record.state == "pending" and self._in_flight(code, key):
                # Still being written here (BOI has not answered): Sage's journal says whether
                # the entry is there; the writer commits the store itself.
                found = session.find_marker(marker_for(code, key))
                if found is None:
                    return None
                return self._from_store(dataclasses.replace(record, answer=found))
            if record is None or record.state != "committed":
                return None
            return self._from_store(record)

        def by_reference(session: BoiSession, worker: Worker) -> dict[str, Any] | None:
            matches = [e for e in self._entries(session, code) if e["reference"] == request["reference"]]
            return matches[-1] if matches else None

        found = self._boi(request, NAMES.read_task, by_key if key else by_reference)
        return {"found": True, "entry": found} if found else {"found": False}

    def search(self, request: dict[str, Any]) -> dict[str, Any]:
        """Every entry with the reference, or with the prefix in the date range, by entryNo."""
        code = request["companyCode"]
        entries: list[dict[str, Any]] = self._boi(
            request, NAMES.read_task, lambda s, w: self._entries(s, code)
        )
        if "reference" in request:
            matches = [e for e in entries if e["reference"] == request["reference"]]
        else:
            low, high = request["postingDateFrom"], request["postingDateTo"]
            matches = [
                e
                for e in entries
                if e["reference"].startswith(request["referencePrefix"]) and low <= e["postingDate"] <= high
            ]
        cursor, limit = request.get("cursor"), self._page(request.get("limit", 500))
        if cursor is not None:
            matches = [e for e in matches if e["entryNo"] > cursor]
        page = matches[:limit]
        return {"entries": page, "nextCursor": page[-1]["entryNo"] if len(matches) > limit else None}

    # -- the post ------------------------------------------------------------------------------
    def post(self, request: dict[str, Any], key: str) -> tuple[int, dict[str, Any], Callable[[], None]]:
        """(status, answer, release): `release` frees the write slot once the answer is written."""
        _code, entry = request["companyCode"], request["entry"]
        company = self._company_after_logon(request)
        self.count("post")
        release = self.slots.take(company)
        try:
            status, answer = self._post_holding_slot(request, company, key, entry)
        except BaseException:
            release()
            raise
        return status, answer, release

    def _company_after_logon(self, request: dict[str, Any]) -> CompanyConfig:
        code = request["companyCode"]
        self._boi(request, NAMES.post_task, lambda s, w: None)
        return self._company(code)

    def _post_holding_slot(
        self, request: dict[str, Any], company: CompanyConfig, key: str, entry: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        code = company.code
        digest = body_hash(entry)
        lock = self._key_lock(code, key)
        if not lock.acquire(timeout=self.config.boi_timeout):
            raise AgentError("SAGE_TIMEOUT", "Another post with this idempotency key is still running.")
        try:
            record = self.store.get(code, key)
            if record is not None and record.state == "pending":
                if self._in_flight(code, key):
                    raise AgentError(
                        "SAGE_TIMEOUT", "A post with this key is still being written in Sage 100."
                    )
                pending = record
                self._boi(request, NAMES.read_task, lambda s, w: self._settle(s, pending))
                record = self.store.get(code, key)
            if record is not None and record.state == "committed":
                if record.body_hash != digest:
                    raise AgentError(
                        "IDEMPOTENCY_MISMATCH", "This idempotency key was used with another entry."
                    )
                self.count("replay")
                return 200, dict(record.answer or {}, replayed=True)
            self._boi(request, NAMES.read_task, lambda s, w: self._check_entry(s, entry))
            check_balance(entry)
            self.store.begin(code, key, digest, entry)
            with self._locks_guard:
                self._inflight.add((code, key))
            answer = self._boi(request, NAMES.post_task, lambda s, w: self._write(w, company, key, entry))
            return 201, answer
        finally:
            lock.release()

    @staticmethod
    def _check_entry(session: BoiSession, entry: dict[str, Any]) -> None:
        """Period, then accounts (the order of checks), from Sage's own calendar and chart."""
        day = entry["postingDate"]
        periods = session.periods()
        state = next((p["status"] for p in periods if p["start"] <= day <= p["end"]), None)
        if state != "open":
            raise AgentError("PERIOD_CLOSED", f"Posting date {day} is in a closed or unset period.")
        chart = {a["account"]: a for a in session.accounts()}
        for line in entry["lines"]:
            account = chart.get(line["account"])
            if account is None:
                raise AgentError("INVALID_ACCOUNT", f"Account {line['account']} is not in the chart.")
            if account["status"] != "A":
                raise AgentError(
                    "ACCOUNT_INACTIVE",
                    f"Account {line['account']} has status {account['status']} (not active).",
                )

    def _write(
        self, worker: Worker, company: CompanyConfig, key: str, entry: dict[str, Any]
    ) -> dict[str, Any]:
        """On the session thread: BOI write, then the store commit; unknown outcomes settled by marker."""
        code = company.code
        marker = marker_for(code, key)
        try:
            try:
                entry_no, batch = worker.session().write(entry, marker, batch_entry=company.batch_entry)
            except AgentError:
                self.store.release(code, key)
                raise
            except Exception as exc:
                if not isinstance(exc, WriteUnknown) and not worker.is_fatal(exc):
                    raise
                if worker.is_fatal(exc):
                    worker.drop()
                log.warning(
                    "journal write for company %s ended unclearly (%s); looking for its marker",
                    code,
                    type(exc).__name__,
                )
                found = worker.session().find_marker(marker)
                if found is None:
                    self.store.release(code, key)
                    raise AgentError(
                        "SAGE_UNAVAILABLE", "Sage 100 failed the write; nothing was written."
                    ) from None
                entry_no, batch = found["entryNo"], found["batchNo"]
            answer = {
                "entryNo": entry_no,
                "batchNo": batch,
                "postingDate": entry["postingDate"],
                "reference": entry["reference"],
                "replayed": False,
            }
            self.store.commit(code, key, answer)
            return answer
        finally:
            with self._locks_guard:
                self._inflight.discard((code, key))


def check_balance(entry: dict[str, Any]) -> None:
    """Total debits equal total credits, to the cent."""
    debit = sum(Decimal(line["debit"]) for line in entry["lines"])
    credit = sum(Decimal(line["credit"]) for line in entry["lines"])
    if debit != credit:
        raise AgentError("UNBALANCED", f"Debits {debit} and credits {credit} are not equal.")
