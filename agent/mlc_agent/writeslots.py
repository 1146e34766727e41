"""The agent's own write limit: at most `max_concurrent_writes` posts per company at once."""

from __future__ import annotations

import threading
from collections.abc import Callable

from mlc_agent.config import CompanyConfig
from mlc_agent.errors import AgentError


class WriteSlots:
    """At most `max_concurrent_writes` posts per company; a slot is freed once the answer is written."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        # Posts that arrived while the company was at its limit (refused with 429), and the
        # highest number of posts at once counting those (what the connector tried).
        self.refused = 0
        self.tried_peak: dict[str, int] = {}

    def in_use(self) -> dict[str, int]:
        """Writes open now, per company."""
        with self._lock:
            return dict(self._used)

    def clear_counts(self) -> None:
        """Forget the peaks and refusals (test mode)."""
        with self._lock:
            self.peak, self.tried_peak, self.refused = {}, {}, 0

    def take(self, company: CompanyConfig) -> Callable[[], None]:
        """A release function, or TOO_MANY_WRITES."""
        with self._lock:
            used = self._used.get(company.code, 0)
            self.tried_peak[company.code] = max(self.tried_peak.get(company.code, 0), used + 1)
            if used >= company.max_concurrent_writes:
                self.refused += 1
                raise AgentError(
                    "TOO_MANY_WRITES",
                    f"Company {company.code} allows {company.max_concurrent_writes} concurrent write(s).",
                    retry_after=1,
                )
            self._used[company.code] = used + 1
            self.peak[company.code] = max(self.peak.get(company.code, 0), used + 1)
        done = threading.Event()

        def release() -> None:
            if done.is_set():
                return
            done.set()
            with self._lock:
                self._used[company.code] -= 1

        return release
