"""A rate limiter shared by every worker that uses one Expensify partner user ID.

Expensify allows 5 requests per 10 s and 20 per 60 s per partner user (sliding windows) and
answers 429 above that. Every process on every host that holds the same credentials must draw
from one budget, so the record of sent requests lives in Redis when REDIS_URL is set and in
the database (ThrottleEvent rows) otherwise. The check and the insert are one atomic step in
both backends. Times are wall-clock seconds (shared across processes), from an injectable clock.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

logger = logging.getLogger(__name__)

Rule = tuple[int, float]  # (at most N requests, per window of W seconds)
EXPENSIFY_RULES: tuple[Rule, ...] = ((5, 10.0), (20, 60.0))


def wait_needed(
    times: Sequence[float], now: float, rules: Sequence[Rule], blocked_until: float = 0.0
) -> float:
    """Seconds to wait before one more request fits every rule (0 = send now)."""
    wait = max(0.0, blocked_until - now)
    ordered = sorted(times)
    for limit, window in rules:
        recent = [t for t in ordered if t > now - window]
        if len(recent) >= limit:
            # The slot frees when the oldest request that keeps us at the limit leaves the window.
            wait = max(wait, recent[len(recent) - limit] + window - now)
    return wait


class ThrottleBackend(Protocol):
    def try_acquire(self, key: str, now: float, rules: Sequence[Rule]) -> float:
        """Record a request at `now` and return 0 if it fits, else the seconds to wait."""

    def block_until(self, key: str, until: float) -> None:
        """No request for `key` before `until` (a 429 with Retry-After)."""


class MemoryBackend:
    """For one process only (tests, scripts): a dict under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: dict[str, list[float]] = {}
        self._blocked: dict[str, float] = {}

    def try_acquire(self, key: str, now: float, rules: Sequence[Rule]) -> float:
        horizon = max((w for _, w in rules), default=0.0)
        with self._lock:
            times = [t for t in self._times.get(key, []) if t > now - horizon]
            wait = wait_needed(times, now, rules, self._blocked.get(key, 0.0))
            if wait <= 0:
                times.append(now)
            self._times[key] = times
            return wait

    def block_until(self, key: str, until: float) -> None:
        with self._lock:
            self._blocked[key] = max(self._blocked.get(key, 0.0), until)


_ACQUIRE_LUA = """
local now = tonumber(ARGV[1])
local wait = 0
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked > now then wait = blocked - now end
local horizon = 0
for i = 3, #ARGV, 2 do
  local window = tonumber(ARGV[i + 1])
  if window > horizon then horizon = window end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - horizon)
for i = 3, #ARGV, 2 do
  local limit = tonumber(ARGV[i])
  local window = tonumber(ARGV[i + 1])
  local recent = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - window), '+inf', 'WITHSCORES')
  local n = #recent / 2
  if n >= limit then
    local oldest = tonumber(recent[2 * (n - limit + 1)])
    local w = oldest + window - now
    if w > wait then wait = w end
  end
end
if wait <= 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[1], math.ceil(horizon * 1000) + 1000)
  return '0'
end
return tostring(wait)
"""

_BLOCK_LUA = """
local until_ = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
end
return 1
"""


class RedisBackend:
    """Shared by all hosts: a sorted set of send times per key, checked and added in one script."""

    def __init__(self, client: Any, *, prefix: str = "mlc:throttle:") -> None:
        self._redis = client
        self._prefix = prefix
        self._acquire = client.register_script(_ACQUIRE_LUA)
        self._block = client.register_script(_BLOCK_LUA)

    @classmethod
    def from_url(cls, url: str) -> RedisBackend:
        import redis

        return cls(redis.Redis.from_url(url))

    def try_acquire(self, key: str, now: float, rules: Sequence[Rule]) -> float:
        args: list[str] = [repr(now), uuid.uuid4().hex]
        for limit, window in rules:
            args += [str(limit), repr(float(window))]
        keys = [self._prefix + key, self._prefix + key + ":blocked"]
        answer = self._acquire(keys=keys, args=args)
        return float(answer.decode() if isinstance(answer, bytes) else answer)

    def block_until(self, key: str, until: float) -> None:
        ttl_ms = max(1000, int((until - time.time()) * 1000) + 1000)
        self._block(keys=[self._prefix + key + ":blocked"], args=[repr(until), str(ttl_ms)])


class DatabaseBackend:
    """Without Redis: ThrottleEvent rows, checked and inserted in one transaction.

    Call Expensify outside any transaction.atomic() block: inside one, the rows (and the
    PostgreSQL advisory lock) would stay invisible to other workers until the outer commit.

    PostgreSQL serializes the check with a transaction-level advisory lock on the key; SQLite
    serializes writers itself (settings use BEGIN IMMEDIATE) and may answer "database is
    locked" under contention, which is retried briefly.
    """

    LOCKED_RETRIES = 20

    def __init__(self, *, using: str = "default") -> None:
        self._using = using

    @staticmethod
    def _dt(seconds: float) -> datetime:
        return datetime.fromtimestamp(seconds, tz=UTC)

    def _lock(self, key: str) -> None:
        from django.db import connections

        connection = connections[self._using]
        if connection.vendor == "postgresql":
            lock_id = int.from_bytes(
                hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True
            )
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id])

    def _retry_locked(self, step: Callable[[], float]) -> float:
        from django.db import OperationalError

        for attempt in range(self.LOCKED_RETRIES):
            try:
                return step()
            except OperationalError as exc:
                if "locked" not in str(exc).lower() or attempt == self.LOCKED_RETRIES - 1:
                    raise
                time.sleep(0.01 * (attempt + 1) + random.random() * 0.01)
        raise AssertionError("unreachable")

    def try_acquire(self, key: str, now: float, rules: Sequence[Rule]) -> float:
        from django.db import transaction
        from django.db.models import Max

        from connector.models import ThrottleEvent

        horizon = max((w for _, w in rules), default=0.0)

        def step() -> float:
            with transaction.atomic(using=self._using):
                self._lock(key)
                events = ThrottleEvent.objects.using(self._using)
                events.filter(key=key, at__lte=self._dt(now - horizon)).delete()
                times = [at.timestamp() for at in events.filter(key=key).values_list("at", flat=True)]
                blocked = events.filter(key=key + ":blocked").aggregate(m=Max("at"))["m"]
                wait = wait_needed(times, now, rules, blocked.timestamp() if blocked else 0.0)
                if wait <= 0:
                    events.create(key=key, at=self._dt(now))
                return wait

        return self._retry_locked(step)

    def block_until(self, key: str, until: float) -> None:
        from django.db import transaction

        from connector.models import ThrottleEvent

        def step() -> float:
            with transaction.atomic(using=self._using):
                events = ThrottleEvent.objects.using(self._using)
                events.filter(key=key + ":blocked", at__lt=self._dt(time.time())).delete()
                events.create(key=key + ":blocked", at=self._dt(until))
            return 0.0

        self._retry_locked(step)


class RateLimiter:
    """Paces requests for one key (a partner user ID) across every process sharing `backend`.

    `margin` widens each window a little so that network jitter between our clock and the
    server's never lets six requests land inside Expensify's ten seconds.
    """

    def __init__(
        self,
        key: str,
        *,
        backend: ThrottleBackend,
        rules: Sequence[Rule] = EXPENSIFY_RULES,
        margin: float = 0.5,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.key = key
        self.backend = backend
        self.rules: tuple[Rule, ...] = tuple((int(n), float(w) + margin) for n, w in rules)
        self.clock = clock
        self.sleep = sleep

    def acquire(self) -> float:
        """Block until a request may be sent (and count it); return the seconds waited."""
        waited = 0.0
        while True:
            wait = self.backend.try_acquire(self.key, self.clock(), self.rules)
            if wait <= 0:
                if waited:
                    logger.debug("Expensify pacing: waited %.2f s for a request slot", waited)
                return waited
            # A little jitter keeps processes that woke together from colliding again.
            wait += random.uniform(0, 0.02 * wait)
            self.sleep(wait)
            waited += wait

    def penalize(self, seconds: float) -> None:
        """Push the next slot for this key `seconds` into the future (Retry-After)."""
        self.backend.block_until(self.key, self.clock() + max(0.0, seconds))


def shared_limiter(partner_user_id: str, **kwargs: Any) -> RateLimiter:
    """The limiter all workers using `partner_user_id` share: Redis if configured, else the DB.

    Optional settings EXPENSIFY_RATE_RULES ([(5, 10.0), (20, 60.0)]) and EXPENSIFY_RATE_MARGIN
    (0.5 s) let tests and simulators scale the windows; production leaves them unset.
    """
    from django.conf import settings

    url = getattr(settings, "REDIS_URL", "")
    backend: ThrottleBackend = RedisBackend.from_url(url) if url else DatabaseBackend()
    kwargs.setdefault("rules", getattr(settings, "EXPENSIFY_RATE_RULES", EXPENSIFY_RULES))
    kwargs.setdefault("margin", getattr(settings, "EXPENSIFY_RATE_MARGIN", 0.5))
    return RateLimiter(f"expensify:{partner_user_id}", backend=backend, **kwargs)


__all__ = [
    "EXPENSIFY_RULES",
    "DatabaseBackend",
    "MemoryBackend",
    "RateLimiter",
    "RedisBackend",
    "Rule",
    "shared_limiter",
    "wait_needed",
]
