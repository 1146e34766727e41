"""The local idempotency store: SQLite in WAL mode, one row per (company, key), kept for ever.

A key is written *pending* (with the body hash and the entry) before the BOI write and
*committed* (with the first answer) after it; a refused write deletes its pending row, since only
a committed entry binds its key. A pending row that outlives its process (a crash between the
BOI write and the commit) is settled by looking for the key's marker in Sage (mlc_agent.service).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    company TEXT NOT NULL,
    key TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'committed')),
    entry TEXT NOT NULL,
    answer TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (company, key)
);
CREATE INDEX IF NOT EXISTS idempotency_reference ON idempotency (company, state);
"""


@dataclass(frozen=True)
class KeyRecord:
    company: str
    key: str
    body_hash: str
    state: str
    entry: dict[str, Any]
    answer: dict[str, Any] | None


class Store:
    """Thread-safe access to the store file; every change is its own durable transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed answer survives a power cut, not only a process crash.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    @staticmethod
    def _record(row: tuple[Any, ...]) -> KeyRecord:
        return KeyRecord(
            company=row[0],
            key=row[1],
            body_hash=row[2],
            state=row[3],
            entry=json.loads(row[4]),
            answer=json.loads(row[5]) if row[5] else None,
        )

    def get(self, company: str, key: str) -> KeyRecord | None:
        """The key's record, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT company, key, body_hash, state, entry, answer FROM idempotency"
                " WHERE company=? AND key=?",
                (company, key),
            ).fetchone()
        return self._record(row) if row else None

    def begin(self, company: str, key: str, body_hash: str, entry: dict[str, Any]) -> None:
        """Record the key as pending before the BOI write (a free key only)."""
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO idempotency (company, key, body_hash, state, entry, answer, created, updated)"
                " VALUES (?, ?, ?, 'pending', ?, NULL, ?, ?)",
                (company, key, body_hash, json.dumps(entry), now, now),
            )

    def commit(self, company: str, key: str, answer: dict[str, Any]) -> None:
        """The write happened: the key is bound to this answer for ever."""
        with self._lock:
            self._db.execute(
                "UPDATE idempotency SET state='committed', answer=?, updated=? WHERE company=? AND key=?",
                (json.dumps(answer), time.time(), company, key),
            )

    def release(self, company: str, key: str) -> None:
        """Nothing was written: free a pending key for a corrected body."""
        with self._lock:
            self._db.execute(
                "DELETE FROM idempotency WHERE company=? AND key=? AND state='pending'", (company, key)
            )

    def pending(self, company: str) -> list[KeyRecord]:
        """Every pending key of the company."""
        return self._select("company=? AND state='pending'", (company,))

    def committed(self, company: str) -> list[KeyRecord]:
        """Every committed key of the company, oldest first."""
        return self._select("company=? AND state='committed'", (company,))

    def _select(self, where: str, args: tuple[Any, ...]) -> list[KeyRecord]:
        # `where` is one of this module's constant clauses; values are always bound parameters.
        with self._lock:
            rows = self._db.execute(
                "SELECT company, key, body_hash, state, entry, answer FROM idempotency WHERE "  # noqa: S608
                + where
                + " ORDER BY created",
                args,
            ).fetchall()
        return [self._record(r) for r in rows]

    def clear(self) -> None:
        """Forget every key (the test mode's reset; never called otherwise)."""
        with self._lock:
            self._db.execute("DELETE FROM idempotency")

    def counts(self) -> dict[str, int]:
        """Number of keys per state (for `check`)."""
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM idempotency GROUP BY state").fetchall()
        return {state: int(n) for state, n in rows}
