"""What the engine needs of Expensify during a run: the seam `Connections.expensify` opens.

`connector.expensify.ExpensifyClient` is the real one; `contact.WatchedExpensify` wraps one to
note each call's outcome; tests and benchmarks pass their own. Sage's seam is
`connector.sage100.gateway.SageGateway` itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Protocol

from connector.expensify.types import ExpensifyReport, RejectedReport


class ExpensifySession(Protocol):
    """One run's client: export reports, mark them exported, count calls, close."""

    @property
    def calls(self) -> int: ...

    def export_reports(
        self,
        *,
        label: str,
        policy_ids: Sequence[str],
        report_states: Sequence[str],
        approved_since: dt.date | None = None,
        report_ids: Sequence[str] = (),
    ) -> Iterator[ExpensifyReport | RejectedReport]: ...

    def mark_exported(self, report_ids: Sequence[str], *, label: str) -> set[str]: ...

    def close(self) -> None: ...
