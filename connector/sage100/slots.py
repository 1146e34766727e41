"""Cluster-wide write slots: at most `limit` posts in flight per company, across every worker.

Each slot is a lease in the coordination layer (`connector.coordination`: Redis with REDIS_URL,
else the database, on the store's clock). A slot is held for as long as its post is open,
however long: a renewer thread extends the lease every third of `lease_seconds` until the block
ends. A worker that dies stops renewing, so its slot frees when the lease expires.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from connector.coordination import Backend, backend_named, get_backend
from connector.sage100.errors import SageTransientError

if TYPE_CHECKING:
    from connector.models import Company
    from connector.sage100.types import PingInfo

logger = logging.getLogger(__name__)


def effective_limit(company: Company, ping: PingInfo | None) -> int:
    """min(company.max_concurrent_writes, what the agent's ping advertises)."""
    limit = max(1, int(company.max_concurrent_writes))
    advertised = ping.max_concurrent_writes if ping is not None else None
    if advertised is not None and advertised >= 1:
        return min(limit, advertised)
    return limit


def slot_key(company_code: str, index: int) -> str:
    """The lease name of one write slot."""
    return f"write:{company_code}:{index}"


def default_backend() -> str:
    """The name of the backend the one rule picks (connector.coordination.get_backend)."""
    return get_backend().name


class WriteSlots:
    """`limit` write slots for one company, shared by every worker using the same backend."""

    def __init__(
        self,
        company_code: str,
        limit: int,
        lease_seconds: float = 120,
        *,
        backend: str | Backend | None = None,
        poll_seconds: float = 0.02,
    ) -> None:
        if limit < 1:
            raise ValueError("a write limit is at least 1")
        self.company_code = company_code
        self.limit = limit
        self.lease_seconds = lease_seconds
        if backend is None:
            backend = get_backend()
        elif isinstance(backend, str):
            backend = backend_named(backend)
        self.backend: Backend = backend
        self.backend_name = backend.name
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
        """Claim a free slot now: (key, holder), or None when all are held (never released here:
        for tools and tests that stand for a worker that dies holding it)."""
        holder = uuid.uuid4().hex
        # A random first slot spreads workers instead of all fighting for slot 0.
        start = random.randrange(self.limit)
        for step in range(self.limit):
            key = slot_key(self.company_code, (start + step) % self.limit)
            if self.backend.claim(key, holder=holder, seconds=self.lease_seconds):
                return key, holder
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
                    f"All {self.limit} write slot(s) for company {self.company_code} stayed "
                    f"busy for {timeout:.1f} s (the connector's own limit).",
                )
            time.sleep(self.poll_seconds * (0.5 + random.random()))
            claim = self.try_acquire()
        key, holder = claim
        done = threading.Event()
        renewer = threading.Thread(
            target=self._keep, args=(key, holder, done), name=f"slot-{key}", daemon=True
        )
        renewer.start()
        try:
            yield key
        finally:
            done.set()
            renewer.join(timeout=max(5.0, self.lease_seconds))
            try:
                self.backend.release(key, holder=holder)
            except Exception:
                # The write's answer matters more than the slot: its lease frees it soon.
                logger.warning("Could not release write slot %s; it frees when its lease expires.", key)

    def _keep(self, key: str, holder: str, done: threading.Event) -> None:
        """Renew the slot's lease every third of its length until the post is over."""
        every = max(0.05, self.lease_seconds / 3)
        while not done.wait(every):
            try:
                held = self.backend.renew(key, holder=holder, seconds=self.lease_seconds)
            except Exception:
                logger.warning("Could not renew write slot %s; trying again.", key, exc_info=True)
                continue
            if not held:
                logger.warning("Write slot %s was lost while its post was open.", key)
                return
