"""The posting phase of a run: the run's thread does every database read and write, in order,
while `limit` threads make only the Sage calls.

The next report is prepared (built, stored and claimed) and, for a fresh key, searched for by
reference in one more thread, while others are in Sage, so the bookkeeping and that read overlap
Sage's latency and SQLite (one writer at a time) gets the same concurrency as
PostgreSQL. At most AHEAD reports wait claimed for a free thread: a stop (credentials, access)
leaves at most that many claimed, unsent reports, and they go back as they were.

Posts Sage took are recorded a few at a time in one transaction (at most FLUSH_REPORTS, none
waiting longer than FLUSH_SECONDS); any other answer is recorded at once, after them, so a stop
is seen before the next send. A crash before such a record leaves those reports claimed with their
entries open: once the claims expire, the next run settles each by lookup under its key.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from sync import selectors
from sync.models import ExpenseReport
from sync.services.posting import Poster
from sync.services.sends import Answer, Send

FLUSH_REPORTS = 50
FLUSH_SECONDS = 1.0
AHEAD = 2  # reports claimed ahead of a free thread, so two answers at once both find one


@dataclass
class Pipeline:
    poster: Poster
    limit: int
    on_done: Callable[[], None]  # one report done: progress, lease renewal
    tick: Callable[[], None]  # renew the run lease while waiting on Sage
    wait_seconds: float = 30.0
    in_sage: dict[Future[Answer], Send] = field(default_factory=dict)
    ready: deque[Send] = field(default_factory=deque)  # claimed, waiting for a free thread
    error: Exception | None = None
    # Posts Sage took, recorded together: at most FLUSH_REPORTS of them or FLUSH_SECONDS old.
    pending: list[tuple[Send, Answer]] = field(default_factory=list)
    pending_since: float = 0.0

    def run(self, reports: Iterable[ExpenseReport]) -> None:
        """Post every report; re-raise the first error (a stop, a database failure) at the end."""
        queue = selectors.with_expenses(reports)  # one read of expenses per few reports
        prefix = f"post-{self.poster.company.code}"
        try:
            with (
                self.poster.slots.kept(),  # a thread keeps its write slot from post to post
                ThreadPoolExecutor(max_workers=self.limit, thread_name_prefix=prefix) as pool,
                ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{prefix}-search") as searches,
            ):
                while True:
                    self._fill(pool, queue, searches)
                    if not self.in_sage:
                        break
                    self._collect()
            self._flush()
            while self.ready:
                self.poster.release_unsent(self.ready.popleft())
        finally:
            self._flush()  # whatever happened, what Sage took is recorded
            self.poster.close()
        if self.error is not None:
            raise self.error

    def _fill(
        self, pool: ThreadPoolExecutor, queue: Iterator[ExpenseReport], searches: ThreadPoolExecutor
    ) -> None:
        """Prepare reports and hand them to free threads until none is free or none is left.

        A fresh key's search by reference (a read) starts as soon as its report is claimed, so it
        runs while earlier posts are in Sage rather than ahead of its own post."""
        while self.error is None:
            while self.ready and len(self.in_sage) < self.limit:
                send = self.ready.popleft()
                self.in_sage[pool.submit(self.poster.transmit, send)] = send
            if len(self.ready) >= AHEAD:
                return
            report = next(queue, None)
            if report is None:
                return
            try:
                outcome = self.poster.prepare(report)
            except Exception as exc:  # the database failed
                self.error = exc
                return
            if isinstance(outcome, Send):
                if not outcome.settling:
                    outcome.searched = searches.submit(self.poster.search_first, outcome)
                self.ready.append(outcome)
            else:
                self.on_done()

    def _collect(self) -> None:
        """Record every answer that came back (even after the company stopped: it was sent).

        A post Sage took waits to be recorded with the next few (one transaction for them all);
        any other answer is recorded at once, after those, before anything else is sent."""
        timeout = self.wait_seconds
        if self.pending:
            timeout = max(0.0, min(timeout, self.pending_since + FLUSH_SECONDS - time.monotonic()))
        finished, _ = wait(self.in_sage, timeout=timeout, return_when=FIRST_COMPLETED)
        self.tick()  # a slow answer must not cost the run its lease
        for future in finished:
            send = self.in_sage.pop(future)
            try:
                answer = future.result()
                if self.poster.deferrable(send, answer):
                    if not self.pending:
                        self.pending_since = time.monotonic()
                    self.pending.append((send, answer))
                else:
                    self._flush()
                    self.poster.finish(send, answer)
            except Exception as exc:
                self.error = self.error or exc
            self.on_done()
        if len(self.pending) >= FLUSH_REPORTS or (
            self.pending and time.monotonic() - self.pending_since >= FLUSH_SECONDS
        ):
            self._flush()

    def _flush(self) -> None:
        items, self.pending = self.pending, []
        if not items:
            return
        try:
            if len(items) == 1:
                self.poster.finish(*items[0])
            else:
                self.poster.finish_many(items)
        except Exception as exc:
            self.error = self.error or exc
