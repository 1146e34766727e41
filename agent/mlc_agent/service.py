"""The contract's operations after the request schema: logon → company → rights → (posts:) write
limit → idempotency → period → accounts → balance, then the BOI write and the store commit.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

from mlc_agent import __version__
from mlc_agent.boi import Provider
from mlc_agent.config import CompanyConfig, Config
from mlc_agent.entries import body_hash, check_balance, check_entry, from_store, journal_entries
from mlc_agent.errors import AgentError
from mlc_agent.keys import Keys
from mlc_agent.names import NAMES
from mlc_agent.pool import SessionPool, Worker
from mlc_agent.sage import BoiSession, WriteUnknown, marker_for
from mlc_agent.store import Store
from mlc_agent.writeslots import WriteSlots

log = logging.getLogger("mlc_agent.service")


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
        self.keys = Keys(store)
        self._counts_guard = threading.Lock()
        # Test mode only (mlc_agent.simcontrol): write limits set at run time, a page size cap
        # like a small agent's, and counters of posts and replays.
        self.limit_override: dict[str, int] = {}
        self.page_size: int | None = None
        self.counts: dict[str, int] = {}

    def count(self, name: str) -> None:
        """One more of `name` (posts past logon, replays: for test-mode statistics)."""
        with self._counts_guard:
            self.counts[name] = self.counts.get(name, 0) + 1

    def forget_keys(self) -> None:
        """Drop the per-key locks and in-flight marks (test-mode reset, once nothing runs)."""
        self.keys.forget()

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

    def _boi(self, request: dict[str, Any], task: str, fn: Callable[[BoiSession, Worker], Any]) -> Any:
        """Logon → company → rights on the session's thread, then `fn`."""
        logon, code = request["logon"], request["companyCode"]

        def job(worker: Worker) -> Any:
            session = worker.session()
            self._company(code)
            session.use(task)
            self.keys.settle_leftovers(session, code)
            return fn(session, worker)

        return self.pool.run(logon["username"], logon["password"], code, job)

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

    def lookup(self, request: dict[str, Any]) -> dict[str, Any]:
        """By key (from the store, pending keys settled first) or the newest entry with a reference."""
        code = request["companyCode"]
        key: str = request.get("idempotencyKey") or ""

        def by_key(session: BoiSession, worker: Worker) -> dict[str, Any] | None:
            record = self.store.get(code, key)
            lock = self.keys.lock(code, key)
            # Never wait here: a post holding the lock may be queued behind this very job.
            if record is not None and record.state == "pending" and lock.acquire(blocking=False):
                try:
                    self.keys.settle(session, record)
                finally:
                    lock.release()
                record = self.store.get(code, key)
            if record is not None and record.state == "pending" and self.keys.in_flight(code, key):
                # Still being written here (BOI has not answered): Sage's journal says whether
                # the entry is there; the writer commits the store itself.
                found = session.find_marker(marker_for(code, key))
                if found is None:
                    return None
                return from_store(dataclasses.replace(record, answer=found))
            if record is None or record.state != "committed":
                return None
            return from_store(record)

        def by_reference(session: BoiSession, worker: Worker) -> dict[str, Any] | None:
            entries = journal_entries(session, self.store, code)
            matches = [e for e in entries if e["reference"] == request["reference"]]
            return matches[-1] if matches else None

        found = self._boi(request, NAMES.read_task, by_key if key else by_reference)
        return {"found": True, "entry": found} if found else {"found": False}

    def search(self, request: dict[str, Any]) -> dict[str, Any]:
        """Every entry with the reference, or with the prefix in the date range, by entryNo."""
        code = request["companyCode"]
        entries: list[dict[str, Any]] = self._boi(
            request, NAMES.read_task, lambda s, w: journal_entries(s, self.store, code)
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
        lock = self.keys.lock(code, key)
        if not lock.acquire(timeout=self.config.boi_timeout):
            raise AgentError("SAGE_TIMEOUT", "Another post with this idempotency key is still running.")
        try:
            record = self.store.get(code, key)
            if record is not None and record.state == "pending":
                if self.keys.in_flight(code, key):
                    raise AgentError(
                        "SAGE_TIMEOUT", "A post with this key is still being written in Sage 100."
                    )
                pending = record
                self._boi(request, NAMES.read_task, lambda s, w: self.keys.settle(s, pending))
                record = self.store.get(code, key)
            if record is not None and record.state == "committed":
                if record.body_hash != digest:
                    raise AgentError(
                        "IDEMPOTENCY_MISMATCH", "This idempotency key was used with another entry."
                    )
                self.count("replay")
                return 200, dict(record.answer or {}, replayed=True)
            self._boi(request, NAMES.read_task, lambda s, w: check_entry(s, entry))
            check_balance(entry)
            self.store.begin(code, key, digest, entry)
            self.keys.writing(code, key)
            answer = self._boi(request, NAMES.post_task, lambda s, w: self._write(w, company, key, entry))
            return 201, answer
        finally:
            lock.release()

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
            self.keys.written(code, key)
