"""The posting phase of a run: the run's thread does every database read and write, in order,
while `limit` threads make only the Sage calls.

The next report is prepared (built, stored and claimed) while others are in Sage, so the
bookkeeping overlaps Sage's latency and SQLite (one writer at a time) gets the same concurrency as
PostgreSQL. No send starts before a thread is free: a stop (credentials, access) leaves at most one
claimed, unsent report, and it goes back as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from sync.models import ExpenseReport
from sync.services.posting import Poster
from sync.services.sends import Answer, Send


@dataclass
class Pipeline:
    poster: Poster
    limit: int
    on_done: Callable[[], None]  # one report done: progress, lease renewal
    tick: Callable[[], None]  # renew the run lease while waiting on Sage
    wait_seconds: float = 30.0
    in_sage: dict[Future[Answer], Send] = field(default_factory=dict)
    ready: Send | None = None  # claimed, waiting for a free thread
    error: Exception | None = None

    def run(self, reports: Iterable[ExpenseReport]) -> None:
        """Post every report; re-raise the first error (a stop, a database failure) at the end."""
        queue = iter(reports)
        prefix = f"post-{self.poster.company.code}"
        try:
            with ThreadPoolExecutor(max_workers=self.limit, thread_name_prefix=prefix) as pool:
                while True:
                    self._fill(pool, queue)
                    if not self.in_sage:
                        break
                    self._collect()
            if self.ready is not None:
                self.poster.release_unsent(self.ready)
        finally:
            self.poster.close()
        if self.error is not None:
            raise self.error

    def _fill(self, pool: ThreadPoolExecutor, queue: Iterator[ExpenseReport]) -> None:
        """Prepare reports and hand them to free threads until none is free or none is left."""
        while self.error is None:
            if self.ready is not None:
                if len(self.in_sage) >= self.limit:
                    return
                self.in_sage[pool.submit(self.poster.transmit, self.ready)] = self.ready
                self.ready = None
            report = next(queue, None)
            if report is None:
                return
            try:
                outcome = self.poster.prepare(report)
            except Exception as exc:  # the database failed
                self.error = exc
                return
            if isinstance(outcome, Send):
                self.ready = outcome
            else:
                self.on_done()

    def _collect(self) -> None:
        """Record every answer that came back (even after the company stopped: it was sent)."""
        finished, _ = wait(self.in_sage, timeout=self.wait_seconds, return_when=FIRST_COMPLETED)
        self.tick()  # a slow answer must not cost the run its lease
        for future in finished:
            try:
                self.poster.finish(self.in_sage.pop(future), future.result())
            except Exception as exc:
                self.error = self.error or exc
            self.on_done()
