"""Idempotency keys at work: one lock per key, the keys being written now, and settling.

A key left pending (a crash between the BOI write and the store commit, or a write that ended
unclearly) is settled by its marker: committed if Sage's journal holds it, else freed.
"""

from __future__ import annotations

import logging
import threading

from mlc_agent.sage import BoiSession, marker_for
from mlc_agent.store import KeyRecord, Store

log = logging.getLogger("mlc_agent.service")


class Keys:
    """Per-key locks and in-flight marks of one agent, and the settling of pending keys."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._inflight: set[tuple[str, str]] = set()

    def lock(self, code: str, key: str) -> threading.Lock:
        """The one lock of this company's key."""
        with self._guard:
            return self._locks.setdefault((code, key), threading.Lock())

    def in_flight(self, code: str, key: str) -> bool:
        """True while BOI is writing this key here (its answer not yet stored)."""
        with self._guard:
            return (code, key) in self._inflight

    def writing(self, code: str, key: str) -> None:
        """Mark the key as being written (before the BOI write)."""
        with self._guard:
            self._inflight.add((code, key))

    def written(self, code: str, key: str) -> None:
        """The write of the key has ended, whatever its outcome."""
        with self._guard:
            self._inflight.discard((code, key))

    def forget(self) -> None:
        """Drop the per-key locks and in-flight marks (test-mode reset, once nothing runs)."""
        with self._guard:
            self._locks.clear()
            self._inflight.clear()

    def settle_leftovers(self, session: BoiSession, code: str) -> None:
        """Pending keys left by a crash are settled by their marker as soon as a session is open."""
        for record in self.store.pending(code):
            lock = self.lock(code, record.key)
            if not lock.acquire(blocking=False):
                continue
            try:
                self.settle(session, record)
            finally:
                lock.release()

    def settle(self, session: BoiSession, record: KeyRecord) -> None:
        """Pending and not being written here: committed if Sage holds its marker, else freed."""
        current = self.store.get(record.company, record.key)
        if current is None or current.state != "pending" or self.in_flight(record.company, record.key):
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
