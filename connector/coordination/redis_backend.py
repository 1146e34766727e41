"""The Redis backend: leases as keys with a TTL, pacing as sorted sets; Redis TIME is the clock.

Every check-and-change is one command or one Lua script, so it is atomic across all workers.
Lease expiry is Redis's own (SET NX PX); pacing scripts read `TIME` inside the script. A test
may pass a clock instead (then its figures are exact); production never does.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from connector.coordination.base import Held, Rule

PREFIX = "ml-connector:"

# Every script starts from `now`: ARGV[1] when a test clock gave it, else Redis TIME.
_NOW = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[1])
end
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""
# KEYS: finished (zset: member -> when answered), in flight (zset: 'token|start' -> deadline),
# blocked-until. ARGV: now-or-'', token, hold, then limit/window pairs.
_PACE = _NOW + """
local token = ARGV[2]
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
if wait > 0 then return {tostring(wait), ''} end
local member = token .. '|' .. string.format('%.6f', now)
redis.call('ZADD', KEYS[2], now + hold, member)
local ttl = math.ceil((horizon + hold) * 1000) + 1000
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return {'0', member}
"""
_PACED = _NOW + """
if redis.call('ZREM', KEYS[2], ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[1], now, ARGV[2])
end
return 1
"""
_BLOCK = _NOW + """
local until_ = now + tonumber(ARGV[2])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > current then
  redis.call('SET', KEYS[1], string.format('%.6f', until_), 'PX', math.ceil(tonumber(ARGV[2]) * 1000) + 1000)
end
return 1
"""

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def redis_client(url: str) -> Any:
    """The one Redis client per URL in this process (a connection pool, shared by threads)."""
    import redis

    with _clients_lock:
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(url)
        return _clients[url]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisBackend:
    """Shared by every host using the same Redis."""

    name = "redis"

    def __init__(
        self, client: Any, *, clock: Callable[[], float] | None = None, prefix: str = PREFIX
    ) -> None:
        self.redis = client
        self._clock = clock
        self._prefix = prefix
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._pace = client.register_script(_PACE)
        self._paced = client.register_script(_PACED)
        self._block = client.register_script(_BLOCK)

    @classmethod
    def from_url(
        cls, url: str, *, clock: Callable[[], float] | None = None, prefix: str = PREFIX
    ) -> RedisBackend:
        return cls(redis_client(url), clock=clock, prefix=prefix)

    def _now_arg(self) -> str:
        return "" if self._clock is None else repr(float(self._clock()))

    def now(self) -> float:
        if self._clock is not None:
            return self._clock()
        seconds, micros = self.redis.time()
        return float(seconds) + float(micros) / 1_000_000

    def claim(self, key: str, *, holder: str, seconds: float) -> bool:
        ms = max(1, int(seconds * 1000))
        return bool(self.redis.set(self._prefix + key, holder, nx=True, px=ms))

    def renew(self, key: str, *, holder: str, seconds: float) -> bool:
        ms = max(1, int(seconds * 1000))
        return bool(self._renew(keys=[self._prefix + key], args=[holder, ms]))

    def release(self, key: str, *, holder: str) -> None:
        self._release(keys=[self._prefix + key], args=[holder])

    def held(self, prefix: str) -> list[Held]:
        # Glob characters in the prefix match themselves; pacing keys are never leases.
        pattern = "".join("\\" + c if c in "*?[]\\" else c for c in self._prefix + prefix) + "*"
        pacing = self._prefix + "pace:"
        names = sorted(
            name
            for name in self.redis.scan_iter(match=pattern, count=1000, _type="STRING")
            if not _text(name).startswith(pacing)
        )
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.get(name)
            pipe.pttl(name)
        answers = pipe.execute()
        leases = []
        for name, holder, ttl in zip(names, answers[0::2], answers[1::2], strict=True):
            if holder is not None and ttl is not None and int(ttl) > 0:  # -2: gone since the scan
                leases.append(Held(_text(name)[len(self._prefix) :], _text(holder), int(ttl) / 1000))
        return leases

    def _pace_keys(self, key: str) -> list[str]:
        base = f"{self._prefix}pace:{key}"
        return [base, base + ":flying", base + ":blocked"]

    def pace(self, key: str, rules: Sequence[Rule], hold: float) -> tuple[float, str]:
        args: list[str] = [self._now_arg(), uuid.uuid4().hex, repr(float(hold))]
        for limit, window in rules:
            args += [str(int(limit)), repr(float(window))]
        wait, member = self._pace(keys=self._pace_keys(key), args=args)
        wait_s = float(wait.decode() if isinstance(wait, bytes) else wait)
        token = member.decode() if isinstance(member, bytes) else str(member)
        return (wait_s, "") if wait_s > 0 else (0.0, token)

    def paced(self, key: str, token: str) -> None:
        self._paced(keys=self._pace_keys(key)[:2], args=[self._now_arg(), token])

    def block(self, key: str, seconds: float) -> None:
        self._block(keys=[self._pace_keys(key)[2]], args=[self._now_arg(), repr(max(0.0, float(seconds)))])


__all__ = ["PREFIX", "RedisBackend", "redis_client"]
