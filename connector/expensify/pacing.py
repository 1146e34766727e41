"""A rate limiter shared by every worker that uses one Expensify partner user ID.

Expensify allows 5 requests per 10 s and 20 per 60 s per partner user (sliding windows) and
answers 429 above that. Every process on every host that holds the same credentials must draw
from one budget, so the record of requests lives in the coordination layer
(`connector.coordination`: Redis when REDIS_URL is set, else the database), on its clock.

Expensify counts a request when it arrives, which we cannot see: it lies somewhere between our
acquire() and the end of the answer. So a request counts as happening *now* for as long as it is
in flight, and release() records it at the moment its answer was read (never earlier than its
arrival). A worker that dies mid-request leaves an in-flight entry that expires after `hold`
seconds and then counts at its start.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from connector.coordination import Backend, MemoryBackend, Rule, get_backend, wait_needed

if TYPE_CHECKING:
    from connector.coordination.database import DatabaseBackend
    from connector.coordination.redis_backend import RedisBackend

logger = logging.getLogger(__name__)

EXPENSIFY_RULES: tuple[Rule, ...] = ((5, 10.0), (20, 60.0))
DEFAULT_HOLD = 180.0  # longest a request may stay "in flight" before it counts at its start
# The coordination interface is what the limiter needs of a store.
ThrottleBackend = Backend


class RateLimiter:
    """Paces requests for one key (a partner user ID) across every process sharing `backend`.

    Use `with limiter.slot():` around one request, or acquire() then release(). `margin`
    widens each window a little for clock differences between us and Expensify.
    """

    def __init__(
        self,
        key: str,
        *,
        backend: Backend,
        rules: Sequence[Rule] = EXPENSIFY_RULES,
        margin: float = 0.5,
        hold: float = DEFAULT_HOLD,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.key = key
        self.backend = backend
        self.rules: tuple[Rule, ...] = tuple((int(n), float(w) + margin) for n, w in rules)
        self.hold = hold
        self.sleep = sleep
        self._local = threading.local()

    def _tokens(self) -> list[str]:
        tokens: list[str] | None = getattr(self._local, "tokens", None)
        if tokens is None:
            tokens = self._local.tokens = []
        return tokens

    def acquire(self) -> float:
        """Block until a request may be sent and mark it in flight; return the seconds waited."""
        waited = 0.0
        while True:
            wait, token = self.backend.pace(self.key, self.rules, self.hold)
            if wait <= 0:
                self._tokens().append(token)
                if waited:
                    logger.debug("Expensify pacing: waited %.2f s for a request slot", waited)
                return waited
            # A little jitter keeps processes that woke together from colliding again.
            wait += random.uniform(0, 0.02 * wait)
            self.sleep(wait)
            waited += wait

    def release(self) -> None:
        """The request acquired last (in this thread) has been answered: count it as of now."""
        tokens = self._tokens()
        if tokens:
            self.backend.paced(self.key, tokens.pop())

    @contextmanager
    def slot(self) -> Iterator[float]:
        """acquire() ... release() around one request; yields the seconds waited."""
        waited = self.acquire()
        try:
            yield waited
        finally:
            self.release()

    def penalize(self, seconds: float) -> None:
        """Push the next slot for this key `seconds` into the future (Retry-After)."""
        self.backend.block(self.key, max(0.0, seconds))


def shared_limiter(partner_user_id: str, **kwargs: Any) -> RateLimiter:
    """The limiter all workers using `partner_user_id` share (connector.coordination.get_backend).

    Optional settings EXPENSIFY_RATE_RULES ([(5, 10.0), (20, 60.0)]) and EXPENSIFY_RATE_MARGIN
    (0.5 s) let tests and simulators scale the windows; production leaves them unset.
    """
    from django.conf import settings

    kwargs.setdefault("rules", getattr(settings, "EXPENSIFY_RATE_RULES", EXPENSIFY_RULES))
    kwargs.setdefault("margin", getattr(settings, "EXPENSIFY_RATE_MARGIN", 0.5))
    return RateLimiter(f"expensify:{partner_user_id}", backend=get_backend(), **kwargs)


def __getattr__(name: str) -> Any:
    # The store backends load models or redis: imported when first asked for.
    if name == "DatabaseBackend":
        from connector.coordination.database import DatabaseBackend

        return DatabaseBackend
    if name == "RedisBackend":
        from connector.coordination.redis_backend import RedisBackend

        return RedisBackend
    raise AttributeError(name)


__all__ = [
    "DEFAULT_HOLD",
    "EXPENSIFY_RULES",
    "DatabaseBackend",
    "MemoryBackend",
    "RateLimiter",
    "RedisBackend",
    "Rule",
    "ThrottleBackend",
    "shared_limiter",
    "wait_needed",
]
