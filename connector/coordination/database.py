"""The database backend: Lease rows and ThrottleEvent rows, on the database's own clock.

Every time is the database's: Django's `Now()` (STATEMENT_TIMESTAMP() on PostgreSQL, the
SQLite library's 'now') in each statement that compares or stores one, so an app server whose
clock is off changes nothing. Statements run on the calling thread's connection, each on its
own (autocommit) unless the caller holds a transaction. A thread that opened its connection
only for a claim, renewal or release closes it again (write-slot renewer threads, post threads).

Pacing checks and inserts in one transaction: PostgreSQL serializes it with a transaction-level
advisory lock on the key; SQLite serializes writers itself (settings use BEGIN IMMEDIATE) and may
answer "database is locked" under contention, which is retried briefly. Call Expensify outside
any transaction.atomic() block: inside one, the rows would stay invisible to other workers.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeVar

from django.db import OperationalError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.db.models.functions import Now

from connector.coordination.base import Held, Rule, horizon, wait_needed
from connector.models import Lease, ThrottleEvent

T = TypeVar("T")
LOCKED_RETRIES = 20


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


Seconds = Callable[[float], "str | float"]  # a duration as the vendor's SQL takes it


def _lease_sql(vendor: str) -> tuple[str, str, Seconds]:
    """(now, now + %s, the %s argument for `seconds`) in the vendor's SQL, on its own clock."""
    if vendor == "postgresql":
        return "statement_timestamp()", "statement_timestamp() + make_interval(secs => %s)", float
    # SQLite stores Django datetimes as UTC text 'YYYY-MM-DD HH:MM:SS.ffffff': same order as text.
    stamp = "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now'{})"
    return stamp.format(""), stamp.format(", %s"), lambda seconds: f"{seconds:+.3f} seconds"


def _short(key: str) -> str:
    # ThrottleEvent.key holds 200 characters: long partner IDs are hashed.
    return key if len(key) <= 150 else "h:" + hashlib.sha256(key.encode()).hexdigest()


class DatabaseBackend:
    """Shared by every worker on the same database."""

    name = "database"

    def __init__(
        self,
        *,
        using: str = "default",
        own_connection: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._using = using
        # Leases on a connection of their own (autocommit): a claim is seen by every worker at
        # once even when the caller holds a transaction (write slots). Off, they go with the
        # caller's transaction (run leases, taken outside any).
        self._own_connection = own_connection
        # Tests only: pacing figures on a hand-moved clock. Leases always use the database's.
        self._clock = clock

    # -- plumbing ------------------------------------------------------------------------------

    @contextmanager
    def _connection_scope(self, using: str | None = None) -> Iterator[None]:
        """In a helper thread, close the connection afterwards if this call opened it."""
        connection = connections[using or self._using]
        helper = threading.current_thread() is not threading.main_thread()
        opened_here = helper and connection.connection is None
        try:
            yield
        finally:
            if opened_here and not connection.in_atomic_block:
                connection.close()

    def _retry_locked(self, step: Callable[[], T]) -> T:
        """SQLite's "database is locked" under contention: retried briefly, anything else raised."""
        for attempt in range(LOCKED_RETRIES):
            try:
                return step()
            except OperationalError as exc:
                if "locked" not in str(exc).lower() or attempt == LOCKED_RETRIES - 1:
                    raise
                time.sleep(0.01 * (attempt + 1) + random.random() * 0.01)
        raise AssertionError("unreachable")

    def now(self) -> float:
        if self._clock is not None:
            return self._clock()
        connection = connections[self._using]
        with self._connection_scope(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT extract(epoch FROM statement_timestamp())")
            else:
                cursor.execute("SELECT (julianday('now') - 2440587.5) * 86400.0")
            row = cursor.fetchone()
        return float(row[0])

    # -- leases --------------------------------------------------------------------------------

    @contextmanager
    def _lease_cursor(self) -> Iterator[CursorWrapper]:
        """A cursor on the caller's connection, or on a connection of its own (autocommit)."""
        if not self._own_connection:
            with self._connection_scope(), connections[self._using].cursor() as cursor:
                yield cursor
            return
        # Opened and closed around each statement: it never outlives the call (nor the tests' database).
        own: BaseDatabaseWrapper = connections.create_connection(self._using)
        try:
            with own.cursor() as cursor:
                yield cursor
        finally:
            own.close()

    def _lease_statement(self, template: str, params: Callable[[Seconds], list[str | float]]) -> bool:
        """Run one lease statement; True when it touched a row."""

        def step() -> bool:
            with self._lease_cursor() as cursor:
                now, later, seconds = _lease_sql(cursor.db.vendor)
                sql = template.format(table=Lease._meta.db_table, now=now, later=later)
                cursor.execute(sql, params(seconds))
                if "RETURNING" in template:
                    return cursor.fetchone() is not None
                return bool(cursor.rowcount)

        return self._retry_locked(step)

    def claim(self, key: str, *, holder: str, seconds: float) -> bool:
        # One statement: insert, or take over only a lease that expired by the database's clock.
        return self._lease_statement(
            "INSERT INTO {table} (key, holder, expires_at) VALUES (%s, %s, {later}) "
            "ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
            "WHERE {table}.expires_at <= {now} RETURNING id",
            lambda arg: [key, holder, arg(seconds)],
        )

    def renew(self, key: str, *, holder: str, seconds: float) -> bool:
        return self._lease_statement(
            "UPDATE {table} SET expires_at = {later} WHERE key = %s AND holder = %s",
            lambda arg: [arg(seconds), key, holder],
        )

    def release(self, key: str, *, holder: str) -> None:
        self._lease_statement(
            "DELETE FROM {table} WHERE key = %s AND holder = %s", lambda arg: [key, holder]
        )

    def held(self, prefix: str) -> list[Held]:
        def step() -> list[Held]:
            with self._lease_cursor() as cursor:
                now, _, _ = _lease_sql(cursor.db.vendor)
                if cursor.db.vendor == "postgresql":
                    left = "extract(epoch FROM expires_at - statement_timestamp())"
                else:
                    left = "(julianday(expires_at) - julianday('now')) * 86400.0"
                cursor.execute(
                    f"SELECT key, holder, {left} FROM {Lease._meta.db_table} "  # noqa: S608 (no input)
                    f"WHERE substr(key, 1, %s) = %s AND expires_at > {now} ORDER BY key",
                    [len(prefix), prefix],
                )
                return [Held(key, holder, float(seconds)) for key, holder, seconds in cursor.fetchall()]

        return self._retry_locked(step)

    # -- pacing: rows under `key` finished (at = answered), `key#flying` in flight (at = start,
    #    the row id is the token), `key#blocked` Retry-After deadlines --------------------------

    def _lock(self, key: str) -> None:
        connection = connections[self._using]
        if connection.vendor == "postgresql":
            digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
            lock_id = int.from_bytes(digest, "big", signed=True)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id])

    def pace(self, key: str, rules: Sequence[Rule], hold: float) -> tuple[float, str]:
        key = _short(key)
        events = ThrottleEvent.objects.using(self._using)

        def step() -> tuple[float, str]:
            with transaction.atomic(using=self._using):
                self._lock(key)
                now = self.now()
                # In flight past `hold`: its worker died; count it where it began.
                events.filter(key=key + "#flying", at__lte=_dt(now - hold)).update(key=key)
                events.filter(key=key, at__lte=_dt(now - horizon(rules))).delete()
                # One statement, one snapshot: under READ COMMITTED a release committing between
                # two queries would move a row out of both and lose a request.
                times: list[float] = []
                flying = 0
                blocked = 0.0
                rows = events.filter(key__in=(key, key + "#flying", key + "#blocked"))
                for row_key, at in rows.values_list("key", "at"):
                    if row_key == key:
                        times.append(at.timestamp())
                    elif row_key == key + "#flying":
                        flying += 1
                    else:
                        blocked = max(blocked, at.timestamp())
                wait = wait_needed(times, now, rules, blocked, flying)
                if wait > 0:
                    return wait, ""
                return 0.0, str(events.create(key=key + "#flying", at=_dt(now)).pk)

        with self._connection_scope():
            return self._retry_locked(step)

    def paced(self, key: str, token: str) -> None:
        key = _short(key)
        row = ThrottleEvent.objects.using(self._using).filter(pk=int(token), key=key + "#flying")

        def step() -> int:
            at = Now() if self._clock is None else _dt(self._clock())
            return row.update(key=key, at=at)

        with self._connection_scope():
            self._retry_locked(step)

    def block(self, key: str, seconds: float) -> None:
        key = _short(key) + "#blocked"
        events = ThrottleEvent.objects.using(self._using)

        def step() -> None:
            with transaction.atomic(using=self._using):
                now = self.now()
                events.filter(key=key, at__lt=_dt(now)).delete()
                events.create(key=key, at=_dt(now + max(0.0, seconds)))

        with self._connection_scope():
            self._retry_locked(step)


__all__ = ["DatabaseBackend"]
