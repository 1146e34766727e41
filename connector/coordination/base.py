"""The coordination interface: named leases and paced requests, shared by every worker, on one clock.

Like django-q2's Broker: one small interface, one module per backend (Redis, database, and an
in-process one for tests), chosen in one place (`connector.coordination.get_backend`). Every
time a backend compares or stores is read from the store itself (Redis TIME, the database's
NOW()), never from the app server's clock, so hosts whose clocks differ still agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

Rule = tuple[int, float]  # (at most N requests, per window of W seconds)


@dataclass(frozen=True)
class Held:
    """A lease not yet expired by the store's clock: its key, holder and seconds left."""

    key: str
    holder: str
    seconds_left: float


class Backend(Protocol):
    """What leases, write slots and the Expensify rate limiter need from a shared store."""

    name: str

    def now(self) -> float:
        """Seconds since the epoch on the store's clock."""
        ...

    # -- leases: one holder per key until it releases or `seconds` pass without renewal --------

    def claim(self, key: str, *, holder: str, seconds: float) -> bool:
        """Take `key` if it is free or its lease expired; True when `holder` now has it."""
        ...

    def renew(self, key: str, *, holder: str, seconds: float) -> bool:
        """Extend the lease to `seconds` from now; False when `holder` no longer has it."""
        ...

    def release(self, key: str, *, holder: str) -> None:
        """Give `key` up, if `holder` still has it."""
        ...

    def held(self, prefix: str) -> list[Held]:
        """The leases whose key starts with `prefix` and that have not expired, by key."""
        ...

    # -- pacing: at most N requests per W seconds for a key, across every worker ---------------

    def pace(self, key: str, rules: Sequence[Rule], hold: float) -> tuple[float, str]:
        """Start a request now and return (0, token) if it fits every rule, else (wait, '').

        A started request counts as happening now until `paced()` (or for `hold` seconds, then
        at its start: its worker died).
        """
        ...

    def paced(self, key: str, token: str) -> None:
        """The request `token` was answered: from now on it counts at this moment."""
        ...

    def block(self, key: str, seconds: float) -> None:
        """No request for `key` starts within the next `seconds` (a 429 with Retry-After)."""
        ...


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


def horizon(rules: Sequence[Rule]) -> float:
    """The longest window: older requests no longer matter."""
    return max((float(w) for _, w in rules), default=0.0)


__all__ = ["Backend", "Held", "Rule", "horizon", "wait_needed"]
