"""Cluster-wide write slots: at most `limit` posts in flight per company, across every worker.

Backends, chosen from Django settings: Redis lease keys when REDIS_URL is set, Lease rows on
PostgreSQL otherwise, an in-process semaphore on SQLite (one machine, the embedded default).
A worker that dies frees its slot when the lease expires, so `lease_seconds` must be longer
than the longest request (connect + read timeout).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from connector.sage100.errors import SageTransientError

if TYPE_CHECKING:
    from connector.models import Company
    from connector.sage100.types import PingInfo

REDIS_PREFIX = "ml-connector:"
# Lua compare-and-delete: release the slot only if this worker still holds it.
RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
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
    def try_claim(self, key: str, token: str, lease_seconds: float) -> bool: ...

    def release(self, key: str, token: str) -> None: ...


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

    def try_claim(self, key: str, token: str, lease_seconds: float) -> bool:
        return bool(
            self.redis.set(REDIS_PREFIX + key, token, nx=True, px=max(1, int(lease_seconds * 1000)))
        )

    def release(self, key: str, token: str) -> None:
        self._release(keys=[REDIS_PREFIX + key], args=[token])


class LeaseRowBackend:
    """connector.models.Lease rows: insert, or take over an expired row with a conditional UPDATE.

    Call outside any transaction: a claim must be visible to other workers at once.
    """

    def try_claim(self, key: str, token: str, lease_seconds: float) -> bool:
        from django.db import IntegrityError, transaction
        from django.utils import timezone

        from connector.models import Lease

        now = timezone.now()
        expires = now + timedelta(seconds=lease_seconds)
        taken = Lease.objects.filter(key=key, expires_at__lte=now).update(
            holder=token, expires_at=expires
        )
        if taken:
            return True
        try:
            with transaction.atomic():
                Lease.objects.create(key=key, holder=token, expires_at=expires)
        except IntegrityError:
            return False
        return True

    def release(self, key: str, token: str) -> None:
        from connector.models import Lease

        Lease.objects.filter(key=key, holder=token).delete()


class LocalBackend:
    """One process only (SQLite): a lock-guarded table of held slots with expiry."""

    _held: dict[str, tuple[str, float]] = {}
    _lock = threading.Lock()

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
            # A slot must not expire while its request may still be in flight.
            lease = max(lease, float(sage.connect_timeout) + float(sage.read_timeout) + 30.0)
        return cls(company.code, effective_limit(company, ping), lease_seconds=lease)

    def try_acquire(self) -> tuple[str, str] | None:
        """Claim a free slot now: (key, token), or None when all are held."""
        token = uuid.uuid4().hex
        # A random first slot spreads workers instead of all fighting for slot 0.
        start = random.randrange(self.limit)
        for step in range(self.limit):
            key = slot_key(self.company_code, (start + step) % self.limit)
            if self.backend.try_claim(key, token, self.lease_seconds):
                return key, token
        return None

    @contextmanager
    def acquire(self, timeout: float) -> Iterator[str]:
        """Hold one slot for the block; TOO_MANY_WRITES (transient) if none frees in `timeout`."""
        deadline = time.monotonic() + max(0.0, timeout)
        claim = self.try_acquire()
        while claim is None:
            if time.monotonic() >= deadline:
                raise SageTransientError(
                    "TOO_MANY_WRITES",
                    f"All {self.limit} write slot(s) for company {self.company_code} stayed busy "
                    f"for {timeout:.1f} s (the connector's own limit).",
                )
            time.sleep(self.poll_seconds * (0.5 + random.random()))
            claim = self.try_acquire()
        key, token = claim
        try:
            yield key
        finally:
            self.backend.release(key, token)
