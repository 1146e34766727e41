"""The in-process backend: for tests, and for a database only this process can open.

Dicts under one lock, on an injectable clock (tests move time by hand).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence

from connector.coordination.base import Held, Rule, horizon, wait_needed


class MemoryBackend:
    """Leases and pacing for one process only."""

    name = "memory"

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._leases: dict[str, tuple[str, float]] = {}
        self._times: dict[str, list[float]] = {}
        self._flying: dict[str, dict[str, float]] = {}  # token -> start
        self._blocked: dict[str, float] = {}

    def now(self) -> float:
        return self._clock()

    def claim(self, key: str, *, holder: str, seconds: float) -> bool:
        with self._lock:
            now = self._clock()
            current = self._leases.get(key)
            if current is not None and current[1] > now:
                return False
            self._leases[key] = (holder, now + seconds)
            return True

    def renew(self, key: str, *, holder: str, seconds: float) -> bool:
        with self._lock:
            current = self._leases.get(key)
            if current is None or current[0] != holder:
                return False
            self._leases[key] = (holder, self._clock() + seconds)
            return True

    def release(self, key: str, *, holder: str) -> None:
        with self._lock:
            current = self._leases.get(key)
            if current is not None and current[0] == holder:
                del self._leases[key]

    def held(self, prefix: str) -> list[Held]:
        with self._lock:
            now = self._clock()
            return [
                Held(key, holder, until - now)
                for key, (holder, until) in sorted(self._leases.items())
                if key.startswith(prefix) and until > now
            ]

    def pace(self, key: str, rules: Sequence[Rule], hold: float) -> tuple[float, str]:
        with self._lock:
            now = self._clock()
            flying = self._flying.setdefault(key, {})
            times = self._times.setdefault(key, [])
            for token, start in list(flying.items()):
                if start + hold <= now:  # its worker died: count it where it began
                    times.append(flying.pop(token))
            times[:] = [t for t in times if t > now - horizon(rules)]
            wait = wait_needed(times, now, rules, self._blocked.get(key, 0.0), len(flying))
            if wait > 0:
                return wait, ""
            token = uuid.uuid4().hex
            flying[token] = now
            return 0.0, token

    def paced(self, key: str, token: str) -> None:
        with self._lock:
            if self._flying.get(key, {}).pop(token, None) is not None:
                self._times.setdefault(key, []).append(self._clock())

    def block(self, key: str, seconds: float) -> None:
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            self._blocked[key] = max(self._blocked.get(key, 0.0), until)


__all__ = ["MemoryBackend"]
