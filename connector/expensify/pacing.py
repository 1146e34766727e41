"""A rate limiter shared by every worker that uses one Expensify partner user ID.

Expensify allows 5 requests per 10 s and 20 per 60 s per partner user (sliding windows) and
answers 429 above that. Every process on every host that holds the same credentials must draw
from one budget, so the record of requests lives in Redis when REDIS_URL is set and in the
database (ThrottleEvent rows) otherwise. The check and the insert are one atomic step in both.

Expensify counts a request when it arrives, which we cannot see: it lies somewhere between our
acquire() and the end of the answer. So a request counts as happening *now* for as long as it is
in flight, and release() records it at the moment its answer was read (never earlier than its
arrival). A worker that dies mid-request leaves an in-flight entry that expires after `hold`
seconds and then counts at its start. Times are wall-clock seconds from an injectable clock.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

logger = logging.getLogger(__name__)

Rule = tuple[int, float]  # (at most N requests, per window of W seconds)
EXPENSIFY_RULES: tuple[Rule, ...] = ((5, 10.0), (20, 60.0))
DEFAULT_HOLD = 180.0  # longest a request may stay "in flight" before it counts at its start


def wait_needed(
    times: Sequence[float],
    now: float,
    rules: Sequence[Rule],
    blocked_until: float = 0.0,
    in_flight: int = 0,
) -> float:
    """Seconds to wait before one more request fits every rule (0 = send now).

    `times` are finished requests; the `in_flight` ones count as happening at `now`.
    """
    wait = max(0.0, blocked_until - now)
    ordered = sorted([*times, *([now] * in_flight)])
    for limit, window in rules:
        recent = [t for t in ordered if t > now - window]
        if len(recent) >= limit:
            # The slot frees when the oldest request that keeps us at the limit leaves the window.
            wait = max(wait, recent[len(recent) - limit] + window - now)
    return wait


class ThrottleBackend(Protocol):
    def try_acquire(self, key: str, now: float, rules: Sequence[Rule], hold: float) -> tuple[float, str]:
        """Start an in-flight request and return (0, token) if it fits, else (wait, '')."""

    def release(self, key: str, token: str, at: float) -> None:
        """The request `token` finished at `at`: count it there from now on."""

    def block_until(self, key: str, until: float) -> None:
        """No request for `key` before `until` (a 429 with Retry-After)."""


class MemoryBackend:
    """For one process only (tests, scripts): dicts under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: dict[str, list[float]] = {}
        self._flying: dict[str, dict[str, float]] = {}  # token -> start
        self._blocked: dict[str, float] = {}

    def try_acquire(self, key: str, now: float, rules: Sequence[Rule], hold: float) -> tuple[float, str]:
        horizon = max((w for _, w in rules), default=0.0)
        with self._lock:
            flying = self._flying.setdefault(key, {})
            times = self._times.setdefault(key, [])
            for token, start in list(flying.items()):
                if start + hold <= now:  # its worker died: count it where it began
                    times.append(flying.pop(token))
            times[:] = [t for t in times if t > now - horizon]
            wait = wait_needed(times, now, rules, self._blocked.get(key, 0.0), len(flying))
            if wait > 0:
                return wait, ""
            token = uuid.uuid4().hex
            flying[token] = now
            return 0.0, token

    def release(self, key: str, token: str, at: float) -> None:
        with self._lock:
            if self._flying.get(key, {}).pop(token, None) is not None:
                self._times.setdefault(key, []).append(at)

    def block_until(self, key: str, until: float) -> None:
        with self._lock:
            self._blocked[key] = max(self._blocked.get(key, 0.0), until)


_ACQUIRE_LUA = """
-- KEYS: finished (zset time), in flight (zset member 'token|start' -> deadline), blocked-until
local now = tonumber(ARGV[1])
local member = ARGV[2]
local hold = tonumber(ARGV[3])
local horizon = 0
for i = 4, #ARGV, 2 do
  local window = tonumber(ARGV[i + 1])
  if window > horizon then horizon = window end
end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  local start = tonumber(string.match(m, '|(.+)$'))
  redis.call('ZREM', KEYS[2], m)
  redis.call('ZADD', KEYS[1], start, m)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - horizon)
local flying = redis.call('ZCARD', KEYS[2])
local wait = 0
local blocked = tonumber(redis.call('GET', KEYS[3]) or '0')
if blocked > now then wait = blocked - now end
for i = 4, #ARGV, 2 do
  local limit = tonumber(ARGV[i])
  local window = tonumber(ARGV[i + 1])
  local found = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - window), '+inf', 'WITHSCORES')
  local recent = {}
  for j = 2, #found, 2 do table.insert(recent, tonumber(found[j])) end
  for _ = 1, flying do table.insert(recent, now) end
  table.sort(recent)
  local n = #recent
  if n >= limit then
    local w = recent[n - limit + 1] + window - now
    if w > wait then wait = w end
  end
end
if wait > 0 then return tostring(wait) end
redis.call('ZADD', KEYS[2], now + hold, member)
local ttl = math.ceil((horizon + hold) * 1000) + 1000
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return '0'
"""

_RELEASE_LUA = """
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
  redis.call('ZADD', KEYS[1], tonumber(ARGV[2]), ARGV[1])
end
return 1
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
    """Shared by all hosts: sorted sets per key, checked and changed in one Lua script."""

    def __init__(self, client: Any, *, prefix: str = "mlc:throttle:") -> None:
        self._redis = client
        self._prefix = prefix
        self._acquire = client.register_script(_ACQUIRE_LUA)
        self._release = client.register_script(_RELEASE_LUA)
        self._block = client.register_script(_BLOCK_LUA)

    @classmethod
    def from_url(cls, url: str) -> RedisBackend:
        import redis

        return cls(redis.Redis.from_url(url))

    def _keys(self, key: str) -> list[str]:
        base = self._prefix + key
        return [base, base + ":flying", base + ":blocked"]

    def try_acquire(self, key: str, now: float, rules: Sequence[Rule], hold: float) -> tuple[float, str]:
        token = f"{uuid.uuid4().hex}|{now!r}"
        args: list[str] = [repr(now), token, repr(float(hold))]
        for limit, window in rules:
            args += [str(limit), repr(float(window))]
        answer = self._acquire(keys=self._keys(key), args=args)
        wait = float(answer.decode() if isinstance(answer, bytes) else answer)
        return (wait, "") if wait > 0 else (0.0, token)

    def release(self, key: str, token: str, at: float) -> None:
        self._release(keys=self._keys(key)[:2], args=[token, repr(at)])

    def block_until(self, key: str, until: float) -> None:
        ttl_ms = max(1000, int((until - time.time()) * 1000) + 1000)
        self._block(keys=[self._keys(key)[2]], args=[repr(until), str(ttl_ms)])


class DatabaseBackend:
    """Without Redis: ThrottleEvent rows, checked and inserted in one transaction.

    Rows under `key` are finished requests (at = when they finished); rows under `key#flying`
    are requests in flight (at = when they started; the row id is the token); `key#blocked`
    holds Retry-After deadlines. PostgreSQL serializes the check with a transaction-level
    advisory lock on the key; SQLite serializes writers itself (settings use BEGIN IMMEDIATE)
    and may answer "database is locked" under contention, which is retried briefly.

    Call Expensify outside any transaction.atomic() block: inside one, the rows (and the
    PostgreSQL advisory lock) would stay invisible to other workers until the outer commit.
    """

    LOCKED_RETRIES = 20

    def __init__(self, *, using: str = "default") -> None:
        self._using = using

    @staticmethod
    def _dt(seconds: float) -> datetime:
        return datetime.fromtimestamp(seconds, tz=UTC)

    @staticmethod
    def _key(key: str) -> str:
        # ThrottleEvent.key holds 200 characters: long partner IDs are hashed.
        return key if len(key) <= 150 else "h:" + hashlib.sha256(key.encode()).hexdigest()

    def _lock(self, key: str) -> None:
        from django.db import connections

        connection = connections[self._using]
        if connection.vendor == "postgresql":
            lock_id = int.from_bytes(
                hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True
            )
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id])

    def _retry_locked(self, step: Callable[[], Any]) -> Any:
        from django.db import OperationalError

        for attempt in range(self.LOCKED_RETRIES):
            try:
                return step()
            except OperationalError as exc:
                if "locked" not in str(exc).lower() or attempt == self.LOCKED_RETRIES - 1:
                    raise
                time.sleep(0.01 * (attempt + 1) + random.random() * 0.01)
        raise AssertionError("unreachable")

    def try_acquire(self, key: str, now: float, rules: Sequence[Rule], hold: float) -> tuple[float, str]:
        from django.db import transaction

        from connector.models import ThrottleEvent

        key = self._key(key)
        horizon = max((w for _, w in rules), default=0.0)

        def step() -> tuple[float, str]:
            with transaction.atomic(using=self._using):
                self._lock(key)
                events = ThrottleEvent.objects.using(self._using)
                # In flight past `hold`: its worker died; count it where it began.
                events.filter(key=key + "#flying", at__lte=self._dt(now - hold)).update(key=key)
                events.filter(key=key, at__lte=self._dt(now - horizon)).delete()
                # One statement, one snapshot: under READ COMMITTED a release() committing
                # between two queries would move a row out of both and lose a request.
                rows = events.filter(key__in=(key, key + "#flying", key + "#blocked"))
                times: list[float] = []
                flying = 0
                blocked = 0.0
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
                row = events.create(key=key + "#flying", at=self._dt(now))
                return 0.0, str(row.pk)

        result: tuple[float, str] = self._retry_locked(step)
        return result

    def release(self, key: str, token: str, at: float) -> None:
        from connector.models import ThrottleEvent

        key = self._key(key)
        self._retry_locked(
            lambda: (
                ThrottleEvent.objects.using(self._using)
                .filter(pk=int(token), key=key + "#flying")
                .update(key=key, at=self._dt(at))
            )
        )

    def block_until(self, key: str, until: float) -> None:
        from django.db import transaction

        from connector.models import ThrottleEvent

        key = self._key(key)

        def step() -> None:
            with transaction.atomic(using=self._using):
                events = ThrottleEvent.objects.using(self._using)
                events.filter(key=key + "#blocked", at__lt=self._dt(time.time())).delete()
                events.create(key=key + "#blocked", at=self._dt(until))

        self._retry_locked(step)


class RateLimiter:
    """Paces requests for one key (a partner user ID) across every process sharing `backend`.

    Use `with limiter.slot():` around one request, or acquire() then release(). `margin`
    widens each window a little for clock differences between us and Expensify.
    """

    def __init__(
        self,
        key: str,
        *,
        backend: ThrottleBackend,
        rules: Sequence[Rule] = EXPENSIFY_RULES,
        margin: float = 0.5,
        hold: float = DEFAULT_HOLD,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.key = key
        self.backend = backend
        self.rules: tuple[Rule, ...] = tuple((int(n), float(w) + margin) for n, w in rules)
        self.hold = hold
        self.clock = clock
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
            wait, token = self.backend.try_acquire(self.key, self.clock(), self.rules, self.hold)
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
            self.backend.release(self.key, tokens.pop(), self.clock())

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
    "DEFAULT_HOLD",
    "EXPENSIFY_RULES",
    "DatabaseBackend",
    "MemoryBackend",
    "RateLimiter",
    "RedisBackend",
    "Rule",
    "shared_limiter",
    "wait_needed",
]
