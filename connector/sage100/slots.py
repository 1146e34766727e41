"""Cluster-wide write slots: at most `limit` posts in flight per company, across every worker.

Backends, chosen from Django settings: Redis lease keys when REDIS_URL is set, Lease rows on
PostgreSQL otherwise, an in-process semaphore on SQLite (one machine, the embedded default).
A slot is held for as long as its post is open, however long: a renewer thread extends the
lease every third of `lease_seconds` until the block ends. A worker that dies stops renewing,
so its slot frees when the lease expires.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol

from connector.sage100.errors import SageTransientError

if TYPE_CHECKING:
    from connector.models import Company
    from connector.sage100.types import PingInfo

logger = logging.getLogger(__name__)
REDIS_PREFIX = "ml-connector:"
# Lua compare-and-delete: release the slot only if this worker still holds it.
RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""
# Lua compare-and-extend: renew the lease only if this worker still holds the slot.
RENEW_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


def effective_limit(company: Company, ping: PingInfo | None) -> int:
    """min(company.max_concurrent_writes, what the agent's ping advertises)."""
    limit = max(1, int(company.max_concurrent_writes))
    advertised = ping.max_concurrent_writes if ping is not None else None
    if advertised is not None and advertised >= 1:
        return min(limit, advertised)
    return limit


def slot_key(company_code: str, index: int) -> str:
    """The lease name of one write slot (shared by the Redis and PostgreSQL backends)."""
    return f"write:{company_code}:{index}"


class _Backend(Protocol):
    def session(self) -> AbstractContextManager[_Backend]: ...

    def try_claim(self, key: str, token: str, lease_seconds: float) -> bool: ...

    def release(self, key: str, token: str) -> None: ...

    def renew(self, key: str, token: str, lease_seconds: float) -> bool: ...


class RedisBackend:
    """SET NX PX per slot; release by token with a Lua compare-and-delete."""

    _clients: dict[str, Any] = {}
    _lock = threading.Lock()

    def __init__(self, url: str) -> None:
        import redis

        with self._lock:
            if url not in self._clients:
                self._clients[url] = redis.Redis.from_url(url)
            self.redis = self._clients[url]
        self._release = self.redis.register_script(RELEASE_SCRIPT)
        self._renew = self.redis.register_script(RENEW_SCRIPT)

    def session(self) -> AbstractContextManager[RedisBackend]:
        return nullcontext(self)

    def try_claim(self, key: str, token: str, lease_seconds: float) -> bool:
        return bool(
            self.redis.set(REDIS_PREFIX + key, token, nx=True, px=max(1, int(lease_seconds * 1000)))
        )

    def release(self, key: str, token: str) -> None:
        self._release(keys=[REDIS_PREFIX + key], args=[token])

    def renew(self, key: str, token: str, lease_seconds: float) -> bool:
        ms = max(1, int(lease_seconds * 1000))
        return bool(self._renew(keys=[REDIS_PREFIX + key], args=[token, ms]))


class LeaseRowBackend:
    """connector.models.Lease rows on PostgreSQL, claimed on a connection of their own.

    One statement claims a slot: insert the row, or take it over only if its lease expired
    (the database's clock decides, so hosts' clocks may differ). The connection is in
    autocommit and separate from Django's, so a claim is visible to every worker at once even
    when the caller is inside a transaction; it lives only as long as one acquire().
    """

    LIBPQ_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "options")

    def __init__(self) -> None:
        self._conn: Any = None
        # The renewer thread shares the session's connection with the claiming thread.
        self._lock = threading.Lock()

    @contextmanager
    def session(self) -> Iterator[LeaseRowBackend]:
        """A backend bound to a fresh autocommit connection, closed afterwards."""
        import psycopg
        from django.db import connection

        params = connection.settings_dict
        conninfo: dict[str, Any] = {
            "dbname": params["NAME"],
            "user": params.get("USER") or None,
            "password": params.get("PASSWORD") or None,
            "host": params.get("HOST") or None,
            "port": str(params["PORT"]) if params.get("PORT") else None,
        }
        options = params.get("OPTIONS") or {}
        conninfo.update({name: options[name] for name in self.LIBPQ_OPTIONS if name in options})
        bound = LeaseRowBackend()
        bound._conn = psycopg.connect(
            autocommit=True, **{k: v for k, v in conninfo.items() if v is not None}
        )
        try:
            yield bound
        finally:
            bound._conn.close()

    @staticmethod
    def _table() -> str:
        from connector.models import Lease

        return Lease._meta.db_table

    def try_claim(self, key: str, token: str, lease_seconds: float) -> bool:
        from psycopg import sql

        query = sql.SQL(
            "INSERT INTO {table} (key, holder, expires_at) "
            "VALUES (%s, %s, now() + make_interval(secs => %s)) "
            "ON CONFLICT (key) DO UPDATE SET holder = EXCLUDED.holder, "
            "expires_at = EXCLUDED.expires_at WHERE {table}.expires_at <= now() RETURNING id"
        ).format(table=sql.Identifier(self._table()))
        with self._lock:
            row = self._conn.execute(query, (key, token, float(lease_seconds))).fetchone()
        return row is not None

    def release(self, key: str, token: str) -> None:
        from psycopg import sql

        query = sql.SQL("DELETE FROM {table} WHERE key = %s AND holder = %s").format(
            table=sql.Identifier(self._table())
        )
        with self._lock:
            self._conn.execute(query, (key, token))

    def renew(self, key: str, token: str, lease_seconds: float) -> bool:
        from psycopg import sql

        query = sql.SQL(
            "UPDATE {table} SET expires_at = now() + make_interval(secs => %s) "
            "WHERE key = %s AND holder = %s RETURNING id"
        ).format(table=sql.Identifier(self._table()))
        with self._lock:
            return self._conn.execute(query, (float(lease_seconds), key, token)).fetchone() is not None


class LocalBackend:
    """One process only (SQLite): a lock-guarded table of held slots with expiry."""

    _held: dict[str, tuple[str, float]] = {}
    _lock = threading.Lock()

    def session(self) -> AbstractContextManager[LocalBackend]:
        return nullcontext(self)

    def try_claim(self, key: str, token: str, lease_seconds: float) -> bool:
        now = time.monotonic()
        with self._lock:
            current = self._held.get(key)
            if current is not None and current[1] > now:
                return False
            self._held[key] = (token, now + lease_seconds)
            return True

    def release(self, key: str, token: str) -> None:
        with self._lock:
            if self._held.get(key, ("", 0.0))[0] == token:
                del self._held[key]

    def renew(self, key: str, token: str, lease_seconds: float) -> bool:
        with self._lock:
            if self._held.get(key, ("", 0.0))[0] != token:
                return False
            self._held[key] = (token, time.monotonic() + lease_seconds)
            return True


def default_backend() -> str:
    """'redis' with REDIS_URL, 'postgres' on PostgreSQL, else 'local'."""
    from django.conf import settings
    from django.db import connection

    if getattr(settings, "REDIS_URL", ""):
        return "redis"
    if connection.vendor == "postgresql":
        return "postgres"
    return "local"


def _make_backend(name: str) -> _Backend:
    if name == "redis":
        from django.conf import settings

        return RedisBackend(settings.REDIS_URL)
    if name == "postgres":
        return LeaseRowBackend()
    if name == "local":
        return LocalBackend()
    raise ValueError(f"unknown write-slot backend {name!r}")


class WriteSlots:
    """`limit` write slots for one company, shared by every worker using the same backend."""

    def __init__(
        self,
        company_code: str,
        limit: int,
        lease_seconds: float = 120,
        *,
        backend: str | None = None,
        poll_seconds: float = 0.02,
    ) -> None:
        if limit < 1:
            raise ValueError("a write limit is at least 1")
        self.company_code = company_code
        self.limit = limit
        self.lease_seconds = lease_seconds
        self.backend_name = backend or default_backend()
        self.backend = _make_backend(self.backend_name)
        self.poll_seconds = poll_seconds

    @classmethod
    def for_company(cls, company: Company, ping: PingInfo | None = None) -> WriteSlots:
        """The company's slots: effective limit, and a lease outliving the longest request."""
        lease = 120.0
        sage = getattr(company, "sage", None)
        if sage is not None:
            # Renewal holds a slot while its post is open; this only bounds a dead worker's hold.
            lease = max(lease, float(sage.connect_timeout) + float(sage.read_timeout) + 30.0)
        return cls(company.code, effective_limit(company, ping), lease_seconds=lease)

    def try_acquire(self) -> tuple[str, str] | None:
        """Claim a free slot now: (key, token), or None when all are held (never released here:
        for tools and tests that stand for a worker that dies holding it)."""
        with self.backend.session() as backend:
            return self._claim(backend)

    def _claim(self, backend: _Backend) -> tuple[str, str] | None:
        token = uuid.uuid4().hex
        # A random first slot spreads workers instead of all fighting for slot 0.
        start = random.randrange(self.limit)
        for step in range(self.limit):
            key = slot_key(self.company_code, (start + step) % self.limit)
            if backend.try_claim(key, token, self.lease_seconds):
                return key, token
        return None

    @contextmanager
    def acquire(self, timeout: float) -> Iterator[str]:
        """Hold one slot for the block; TOO_MANY_WRITES (transient) if none frees in `timeout`."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self.backend.session() as backend:
            claim = self._claim(backend)
            while claim is None:
                if time.monotonic() >= deadline:
                    raise SageTransientError(
                        "TOO_MANY_WRITES",
                        f"All {self.limit} write slot(s) for company {self.company_code} stayed "
                        f"busy for {timeout:.1f} s (the connector's own limit).",
                    )
                time.sleep(self.poll_seconds * (0.5 + random.random()))
                claim = self._claim(backend)
            key, token = claim
            done = threading.Event()
            renewer = threading.Thread(
                target=self._keep, args=(backend, key, token, done), name=f"slot-{key}", daemon=True
            )
            renewer.start()
            try:
                yield key
            finally:
                done.set()
                renewer.join(timeout=max(5.0, self.lease_seconds))
                try:
                    backend.release(key, token)
                except Exception:
                    # The write's answer matters more than the slot: its lease frees it soon.
                    logger.warning("Could not release write slot %s; it frees when its lease expires.", key)

    def _keep(self, backend: _Backend, key: str, token: str, done: threading.Event) -> None:
        """Renew the slot's lease every third of its length until the post is over."""
        every = max(0.05, self.lease_seconds / 3)
        while not done.wait(every):
            try:
                held = backend.renew(key, token, self.lease_seconds)
            except Exception:
                logger.warning("Could not renew write slot %s; trying again.", key, exc_info=True)
                continue
            if not held:
                logger.warning("Write slot %s was lost while its post was open.", key)
                return
