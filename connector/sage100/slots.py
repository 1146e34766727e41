"""Cluster-wide write slots: at most `limit` posts in flight per company, across every worker.

Each slot is a lease in the coordination layer (`connector.coordination`: Redis with REDIS_URL,
else the database, on the store's clock). A slot is held for as long as its post is open,
however long: a renewer thread extends the lease every third of `lease_seconds` until the block
ends. A worker that dies stops renewing, so its slot frees when the lease expires.

Inside `kept()` (a run's posting phase) a thread that got a slot keeps it for its next post
instead of releasing and claiming again (two lease statements per post); it lets go when a post
fails (so a back-off never sits on a slot), when the renewer finds the lease lost or has not
confirmed it for half a lease (it may have expired), and at the end of the block. Kept or not,
a slot is held by one thread, so no more than `limit` posts are ever in flight. Keeping makes no
one wait: a company's posts all come from its runs (replays and due retries are runs too), one at
a time under the run lease, with as many posting threads as slots.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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
        self._local = threading.local()  # the slot this thread keeps, inside kept()
        self._keeping = False
        self._kept: list[_Slot] = []
        self._kept_lock = threading.Lock()

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
    def kept(self) -> Iterator[None]:
        """Within the block, each thread keeps the slot it got across its posts (see above)."""
        with self._kept_lock:
            self._keeping = True
        try:
            yield
        finally:
            with self._kept_lock:
                self._keeping = False
                idle, self._kept = self._kept, []
            for slot in idle:
                self._let_go(slot)

    @contextmanager
    def acquire(self, timeout: float) -> Iterator[str]:
        """Hold one slot for the block; TOO_MANY_WRITES (transient) if none frees in `timeout`."""
        slot = self._take_kept()
        if slot is None:
            slot = self._claim(timeout)
        try:
            yield slot.key
        except BaseException:
            self._let_go(slot)
            raise
        with self._kept_lock:
            keep = self._keeping and not slot.lost.is_set()
            if keep:
                self._kept.append(slot)
                self._local.slot = slot
        if not keep:
            self._let_go(slot)

    def _take_kept(self) -> _Slot | None:
        """This thread's kept slot, now in use (kept() lets go only of idle ones), if still good."""
        slot: _Slot | None = getattr(self._local, "slot", None)
        self._local.slot = None
        if slot is None:
            return None
        with self._kept_lock:
            idle = slot in self._kept
            if idle:
                self._kept.remove(slot)
        if not idle:
            return None  # let go already (kept() ended)
        if slot.lost.is_set() or time.monotonic() - slot.confirmed >= self.lease_seconds / 2:
            # Lost, or not confirmed for half a lease (the store did not answer the renewer):
            # it may have expired and gone to another worker. Claim afresh, as without kept().
            self._let_go(slot)
            return None
        return slot

    def _claim(self, timeout: float) -> _Slot:
        deadline = time.monotonic() + max(0.0, timeout)
        asked = time.monotonic()
        claim = self.try_acquire()
        while claim is None:
            if time.monotonic() >= deadline:
                raise SageTransientError(
                    "TOO_MANY_WRITES",
                    f"All {self.limit} write slot(s) for company {self.company_code} stayed "
                    f"busy for {timeout:.1f} s (the connector's own limit).",
                )
            time.sleep(self.poll_seconds * (0.5 + random.random()))
            asked = time.monotonic()
            claim = self.try_acquire()
        key, holder = claim
        slot = _Slot(key, holder, confirmed=asked)
        slot.renewer = threading.Thread(target=self._keep, args=(slot,), name=f"slot-{key}", daemon=True)
        slot.renewer.start()
        return slot

    def _let_go(self, slot: _Slot) -> None:
        slot.done.set()
        if slot.renewer is not None:
            slot.renewer.join(timeout=max(5.0, self.lease_seconds))
        try:
            self.backend.release(slot.key, holder=slot.holder)
        except Exception:
            # The write's answer matters more than the slot: its lease frees it soon.
            logger.warning("Could not release write slot %s; it frees when its lease expires.", slot.key)

    def _keep(self, slot: _Slot) -> None:
        """Renew the slot's lease every third of its length until it is let go."""
        every = max(0.05, self.lease_seconds / 3)
        while not slot.done.wait(every):
            asked = time.monotonic()
            try:
                held = self.backend.renew(slot.key, holder=slot.holder, seconds=self.lease_seconds)
            except Exception:
                logger.warning("Could not renew write slot %s; trying again.", slot.key, exc_info=True)
                continue
            if not held:
                logger.warning("Write slot %s was lost while it was held.", slot.key)
                slot.lost.set()
                return
            slot.confirmed = asked  # ours until at least asked + lease_seconds


@dataclass(eq=False)
class _Slot:
    """One claimed slot: its lease, and the thread that renews it until it is let go."""

    key: str
    holder: str
    confirmed: float  # monotonic time the last successful claim or renewal was asked
    done: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)
    renewer: threading.Thread | None = None
