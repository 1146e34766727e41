"""The session pool: one SY_Session per (Sage user, company), owned by one thread.

COM objects live in the apartment of the thread that created them, so each (user, company) has
a worker thread that opens, uses and drops its session; HTTP threads hand it jobs and wait a
bounded time. A session is recycled after `max_age` seconds and after an error that leaves it
unusable. The password of each call is checked against an in-memory keyed digest of the one
the session logged on with (never stored on disk); another password opens a fresh session.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from mlc_agent.boi import Provider
from mlc_agent.errors import AgentError
from mlc_agent.sage import BoiSession

log = logging.getLogger("mlc_agent.pool")
T = TypeVar("T")
Job = tuple[Callable[["Worker"], Any], str, "Future[Any]", contextvars.Context]
# Keyed digest of passwords held in memory only, so a memory dump shows no password.
_PEPPER = os.urandom(32)


def _digest(password: str) -> bytes:
    return hmac.new(_PEPPER, password.encode(), hashlib.sha256).digest()


class Worker:
    """The thread that owns one (user, company) session."""

    def __init__(self, pool: SessionPool, user: str, company: str) -> None:
        self.pool = pool
        self.user = user
        self.company = company
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self._session: BoiSession | None = None
        self._digest = b""
        self._password = ""
        self.thread = threading.Thread(target=self._run, name=f"boi-{company}-{user}", daemon=True)
        self.thread.start()

    # -- on the worker thread ----------------------------------------------------------------
    def _run(self) -> None:
        self.pool.provider.thread_init()
        try:
            while True:
                try:
                    item = self.jobs.get(timeout=self.pool.idle_seconds)
                except queue.Empty:
                    if self.pool.retire(self):
                        break
                    continue
                if item is None:
                    break
                job, password, future, context = item
                if not future.set_running_or_notify_cancel():
                    continue
                self._password = password
                with self.pool.lock:
                    self.pool.busy += 1
                try:
                    # The caller's context (e.g. a test-mode fault armed for its request).
                    future.set_result(context.run(job, self))
                except AgentError as exc:
                    future.set_exception(exc)
                except self.pool.provider.fatal_errors as exc:
                    log.warning(
                        "BOI session %s/%s died (%s); it will be reopened",
                        self.company,
                        self.user,
                        type(exc).__name__,
                    )
                    self.drop()
                    future.set_exception(
                        AgentError("SAGE_UNAVAILABLE", "The Sage 100 session failed; retry.")
                    )
                except Exception:
                    log.exception("unexpected error in BOI job for company %s", self.company)
                    self.drop()
                    future.set_exception(
                        AgentError("SAGE_UNAVAILABLE", "The agent failed to talk to Sage 100.")
                    )
                finally:
                    self._password = ""
                    with self.pool.lock:
                        self.pool.busy -= 1
        finally:
            self.drop()
            self.pool.provider.thread_done()

    def session(self) -> BoiSession:
        """The logged-on session for this call's password (opened, renewed or recycled as needed)."""
        pool = self.pool
        if self._session is not None and time.monotonic() - self._session.created > pool.max_age:
            log.info("recycling the BOI session of %s/%s (age)", self.company, self.user)
            self.drop()
        given = _digest(self._password)
        if self._session is not None and hmac.compare_digest(given, self._digest):
            try:
                # Also proves the session is alive: one that died idle is reopened at once,
                # before this job has done anything with it.
                self._session.refresh_date()
                return self._session
            except pool.provider.fatal_errors as exc:
                log.warning(
                    "BOI session %s/%s was dead (%s); reopening it",
                    self.company,
                    self.user,
                    type(exc).__name__,
                )
                self.drop()
        fresh = BoiSession(pool.provider, pool.home, self.user, self._password, self.company)
        with pool.lock:
            pool.opened += 1
        self.drop()
        self._session, self._digest = fresh, given
        return fresh

    def drop(self) -> None:
        """Forget the session (after a fatal error, on age, or at exit)."""
        if self._session is not None:
            self._session.close()
        self._session, self._digest = None, b""

    def is_fatal(self, exc: BaseException) -> bool:
        """True when `exc` means the COM session is gone."""
        return isinstance(exc, self.pool.provider.fatal_errors)


class SessionPool:
    """Workers by (user, company); `run` hands a job to the right one and waits a bounded time."""

    def __init__(
        self, provider: Provider, *, home: str, max_age: float, timeout: float, idle_seconds: float = 300.0
    ) -> None:
        self.provider = provider
        self.home = home
        self.max_age = max_age
        self.timeout = timeout
        self.idle_seconds = idle_seconds
        self.lock = threading.Lock()
        self.workers: dict[tuple[str, str], Worker] = {}
        self.opened = 0
        self.busy = 0  # jobs running now (including those of abandoned workers)

    def run(
        self,
        user: str,
        password: str,
        company: str,
        job: Callable[[Worker], T],
        *,
        timeout: float | None = None,
    ) -> T:
        """Run `job(worker)` on the (user, company) thread; SAGE_TIMEOUT when BOI does not answer."""
        future: Future[Any] = Future()
        with self.lock:
            worker = self.workers.get((user, company))
            if worker is None:
                worker = self.workers[(user, company)] = Worker(self, user, company)
            worker.jobs.put((job, password, future, contextvars.copy_context()))
        try:
            return future.result(timeout=self.timeout if timeout is None else timeout)  # type: ignore[no-any-return]
        except FutureTimeout:
            if future.cancel():
                # Never started: it was queued behind a slow call; nothing was done.
                raise AgentError(
                    "SAGE_TIMEOUT", "Sage 100 is busy and did not take the call in time."
                ) from None
            self.abandon(worker)
            raise AgentError("SAGE_TIMEOUT", "Sage 100 (BOI) did not answer in time.") from None

    def abandon(self, worker: Worker) -> None:
        """A hung worker: new calls get a new session; it ends after its call returns."""
        with self.lock:
            if self.workers.get((worker.user, worker.company)) is worker:
                del self.workers[(worker.user, worker.company)]
        worker.jobs.put(None)

    def retire(self, worker: Worker) -> bool:
        """An idle worker leaves the pool, unless a job arrived meanwhile."""
        with self.lock:
            if not worker.jobs.empty():
                return False
            if self.workers.get((worker.user, worker.company)) is worker:
                del self.workers[(worker.user, worker.company)]
            return True

    def close(self) -> None:
        """Stop every worker (their sessions are dropped on their own threads)."""
        with self.lock:
            workers = list(self.workers.values())
            self.workers.clear()
        for worker in workers:
            worker.jobs.put(None)
