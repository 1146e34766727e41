"""Write slots: the limit holds across threads and OS processes; a dead worker's slot expires."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection

from connector.sage100.errors import SageTransientError
from connector.sage100.gateway import open_gateway
from connector.sage100.retry import post_with_retries
from connector.sage100.slots import WriteSlots, default_backend, effective_limit, slot_key
from connector.sage100.types import PingInfo
from simulators.sage100 import SageSimulator
from tests.sage100 import workers
from tests.sage100.conftest import fast_policy, make_entry, make_settings, set_faults, stats

LIMIT = 2


def available_backends() -> list[str]:
    names = []
    if os.environ.get("REDIS_URL"):
        names.append("redis")
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        names.append("database")
    return names


def child_env() -> dict[str, str]:
    """The parent's settings, with DATABASE_URL naming the test database pytest-django made."""
    env = {"DJANGO_SETTINGS_MODULE": "connector.settings_test"}
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        user = db.get("USER") or "postgres"
        auth = f"{user}:{db['PASSWORD']}" if db.get("PASSWORD") else user
        env["DATABASE_URL"] = f"postgres://{auth}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    if getattr(django_settings, "REDIS_URL", ""):
        env["REDIS_URL"] = django_settings.REDIS_URL
    else:
        env["REDIS_URL"] = ""
    return env


@pytest.fixture
def clean_slots() -> Iterator[None]:
    def clean() -> None:
        if getattr(django_settings, "REDIS_URL", ""):
            import redis

            client = redis.Redis.from_url(django_settings.REDIS_URL)
            for key in client.scan_iter("ml-connector:write:T9*"):
                client.delete(key)

    clean()
    yield
    clean()


def test_default_backend_follows_the_settings() -> None:
    expected = (
        "redis"
        if getattr(django_settings, "REDIS_URL", "")
        else ("database" if connection.vendor == "postgresql" else "memory")
    )
    assert default_backend() == expected


def test_effective_limit(company: Any) -> None:
    company.max_concurrent_writes = 3
    assert effective_limit(company, None) == 3
    assert effective_limit(company, PingInfo("1", "s", 2)) == 2
    assert effective_limit(company, PingInfo("1", "s", None)) == 3
    assert effective_limit(company, PingInfo("1", "s", 8)) == 3


def test_acquire_times_out_with_too_many_writes() -> None:
    slots = WriteSlots("ZZ1", 1, backend="memory")
    with slots.acquire(timeout=1):
        with pytest.raises(SageTransientError) as info:
            with slots.acquire(timeout=0.05):
                pass
    assert info.value.code == "TOO_MANY_WRITES"
    with slots.acquire(timeout=0.05):
        pass


def post_from_threads(sim: SageSimulator, slots: WriteSlots, threads: int, posts: int, tag: str) -> None:
    """`threads` threads, each posting `posts` entries through `slots`; fails on any error."""
    errors: list[BaseException] = []

    def work(n: int) -> None:
        gateway = open_gateway(make_settings(sim, "agent"))
        try:
            for i in range(posts):
                post_with_retries(
                    gateway,
                    make_entry(reference=f"EXP {tag}{n} {i}"),
                    idempotency_key=f"{tag}{n}-{i}",
                    policy=fast_policy(),
                    slots=slots,
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            gateway.close()

    started = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in started:
        t.start()
    for t in started:
        t.join()
    assert errors == []


def test_threads_never_exceed_the_limit(sim: SageSimulator) -> None:
    # The simulator allows 10 at once: only the connector's own slots keep it at 2.
    set_faults(sim, {"writeLatency": 0.03, "maxConcurrentWrites": {"ABC": 10}})
    slots = WriteSlots("ABC", LIMIT, backend="memory", poll_seconds=0.005)
    post_from_threads(sim, slots, threads=6, posts=4, tag="T")
    result = stats(sim)
    assert result["entries"]["ABC"] == 24
    assert result["maxInFlight"]["ABC"] == LIMIT
    assert result["overLimit"] == 0


def test_processes_on_sqlite_are_not_covered() -> None:
    if available_backends():
        pytest.skip("a shared backend is configured: the multi-process tests below run instead")
    pytest.skip(
        "SQLite in-memory has no cross-process backend (REDIS_URL unset, not PostgreSQL): the "
        "write limit is per process here; run with DATABASE_URL=postgres... and/or REDIS_URL"
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["redis", "database"])
def test_processes_never_exceed_the_limit(
    backend: str, sim: SageSimulator, transactional_db: None, clean_slots: None
) -> None:
    if backend not in available_backends():
        pytest.skip(f"{backend} is not configured for this run")
    set_faults(sim, {"writeLatency": 0.03, "maxConcurrentWrites": {"ABC": 10}})
    ctx = multiprocessing.get_context("spawn")
    manager = ctx.Manager()
    start = manager.Event()
    processes, per_process = 5, 6
    with ctx.Pool(processes) as pool:
        pending = [
            pool.apply_async(
                workers.post_many,
                (child_env(), sim.base_url, backend, LIMIT, per_process, n, start, "T9P"),
            )
            for n in range(processes)
        ]
        time.sleep(1.5)  # let every child import Django before they start together
        start.set()
        results = [p.get(timeout=60) for p in pending]
    manager.shutdown()
    assert len(results) == processes
    result = stats(sim)
    print(f"{backend}: max in flight {result['maxInFlight']['ABC']} with limit {LIMIT}")
    assert result["entries"]["ABC"] == processes * per_process
    assert result["maxInFlight"]["ABC"] <= LIMIT
    assert result["overLimit"] == 0


@pytest.mark.parametrize("backend", ["redis", "database"])
def test_dead_workers_slot_expires(backend: str, transactional_db: None, clean_slots: None) -> None:
    if backend not in available_backends():
        pytest.skip(f"{backend} is not configured for this run")
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=workers.hold_slot_and_die, args=(child_env(), backend, 1.0, "T9D"))
    child.start()
    child.join(30)
    assert child.exitcode == 3
    slots = WriteSlots("T9D", 1, lease_seconds=5, backend=backend)
    with pytest.raises(SageTransientError):
        with slots.acquire(timeout=0.05):
            pass
    started = time.monotonic()
    with slots.acquire(timeout=5):
        waited = time.monotonic() - started
    assert waited < 2.5


def test_local_slot_expires_when_never_released() -> None:
    slots = WriteSlots("ZZ2", 1, lease_seconds=0.2, backend="memory")
    assert slots.try_acquire() is not None  # never released, like a crashed thread
    with pytest.raises(SageTransientError):
        with slots.acquire(timeout=0.02):
            pass
    with slots.acquire(timeout=1):
        pass


def test_release_frees_only_its_own_slot() -> None:
    slots = WriteSlots("ZZ3", 1, lease_seconds=0.1, backend="memory")
    claim = slots.try_acquire()  # a worker that stopped renewing: its lease runs out
    assert claim is not None
    time.sleep(0.15)
    other = slots.try_acquire()
    assert other is not None
    # The first worker's late release must not free the other worker's slot.
    slots.backend.release(claim[0], holder=claim[1])
    assert slots.try_acquire() is None


def test_for_company_uses_the_effective_limit_and_a_long_enough_lease(company: Any) -> None:
    from tests.factories import SageConnectionFactory

    company.max_concurrent_writes = 4
    SageConnectionFactory(company=company, connect_timeout=10, read_timeout=200)
    company.refresh_from_db()
    company.max_concurrent_writes = 4
    slots = WriteSlots.for_company(company, PingInfo("1", "s", 3))
    assert (slots.company_code, slots.limit) == ("ABC", 3)
    assert slots.lease_seconds == 240.0


def test_postgres_claims_are_visible_inside_a_transaction(db: None) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL lease rows need PostgreSQL")
    # The `db` fixture holds a transaction open: the claim must still be seen by others.
    slots = WriteSlots("T9V", 1, lease_seconds=5, backend="database")
    seen: list[Any] = []
    with slots.acquire(timeout=1):
        other = threading.Thread(target=lambda: seen.append(slots.try_acquire()))
        other.start()
        other.join()
    assert seen == [None]
    assert slots.try_acquire() is not None


class CountingBackend:
    """The memory backend, counting slots won and releases (the statements kept slots save)."""

    def __init__(self) -> None:
        from connector.coordination.memory import MemoryBackend

        self.inner = MemoryBackend()
        self.name = "memory"
        self.claims = 0
        self.releases = 0

    def claim(self, key: str, *, holder: str, seconds: float) -> bool:
        won = self.inner.claim(key, holder=holder, seconds=seconds)
        self.claims += won
        return won

    def renew(self, key: str, *, holder: str, seconds: float) -> bool:
        return self.inner.renew(key, holder=holder, seconds=seconds)

    def release(self, key: str, *, holder: str) -> None:
        self.releases += 1
        self.inner.release(key, holder=holder)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_kept_slot_serves_a_threads_next_posts_and_frees_at_the_end() -> None:
    backend = CountingBackend()
    slots = WriteSlots("ZZ4", 1, backend=backend)  # type: ignore[arg-type]
    other = WriteSlots("ZZ4", 1, backend=backend)  # type: ignore[arg-type]  # another worker
    with slots.kept():
        for _ in range(5):
            with slots.acquire(timeout=1):
                pass
        assert (backend.claims, backend.releases) == (1, 0)
        # Kept between posts, it still counts against the limit for every other worker.
        with pytest.raises(SageTransientError):
            with other.acquire(timeout=0.05):
                pass
    assert backend.releases == 1
    with other.acquire(timeout=0.05):
        pass
    # Outside kept(), a thread's old slot is never used again: each post claims and releases.
    claims = backend.claims
    with slots.acquire(timeout=1):
        pass
    assert backend.claims == claims + 1


def test_a_failed_post_lets_its_kept_slot_go() -> None:
    backend = CountingBackend()
    slots = WriteSlots("ZZ5", 1, backend=backend)  # type: ignore[arg-type]
    other = WriteSlots("ZZ5", 1, backend=backend)  # type: ignore[arg-type]
    with slots.kept():
        with slots.acquire(timeout=1):
            pass
        with pytest.raises(SageTransientError, match="locked"):
            with slots.acquire(timeout=1):
                raise SageTransientError("RECORD_LOCKED", "locked")
        assert backend.releases == 1  # a back-off never sits on a slot
        with other.acquire(timeout=0.05):
            pass


def test_a_kept_slot_whose_lease_was_lost_is_claimed_again() -> None:
    backend = CountingBackend()
    slots = WriteSlots("ZZ6", 1, lease_seconds=0.3, backend=backend)  # type: ignore[arg-type]
    key = slot_key("ZZ6", 0)
    with slots.kept():
        with slots.acquire(timeout=1):
            pass
        # The store forgets the lease (a flushed Redis) and another worker takes the slot: the
        # renewer finds it lost, and the thread's next post claims afresh instead of reusing it.
        backend.inner.release(key, holder=backend.inner.held("write:ZZ6")[0].holder)
        assert backend.inner.claim(key, holder="someone else", seconds=30)
        time.sleep(0.25)  # past the renewer's next turn (every lease / 3)
        with pytest.raises(SageTransientError, match="busy"):
            with slots.acquire(timeout=0.05):
                pass
        assert backend.inner.held("write:ZZ6")[0].holder == "someone else"


def test_a_kept_slot_the_store_stopped_confirming_is_not_reused() -> None:
    backend = CountingBackend()
    slots = WriteSlots("ZZ7", 1, lease_seconds=0.3, backend=backend)  # type: ignore[arg-type]
    key = slot_key("ZZ7", 0)

    def unreachable(*args: Any, **kwargs: Any) -> bool:
        raise ConnectionError("store down")

    with slots.kept():
        with slots.acquire(timeout=1):
            pass
        backend.renew = unreachable  # type: ignore[method-assign]
        time.sleep(0.35)  # the lease ran out unrenewed; another worker may hold the slot now
        assert backend.inner.claim(key, holder="someone else", seconds=30)
        with pytest.raises(SageTransientError, match="busy"):
            with slots.acquire(timeout=0.05):
                pass


def test_kept_slots_across_threads_never_exceed_the_limit(sim: SageSimulator) -> None:
    set_faults(sim, {"writeLatency": 0.02, "maxConcurrentWrites": {"ABC": 10}})
    backend = CountingBackend()
    slots = WriteSlots("ABC", LIMIT, backend=backend, poll_seconds=0.005)  # type: ignore[arg-type]
    with slots.kept():  # as a run's pipeline: as many posting threads as slots
        post_from_threads(sim, slots, threads=LIMIT, posts=5, tag="K")
    result = stats(sim)
    assert result["entries"]["ABC"] == 5 * LIMIT
    assert result["maxInFlight"]["ABC"] == LIMIT
    assert result["overLimit"] == 0
    assert backend.claims == LIMIT  # one claim per thread, not one per post
    assert backend.releases == LIMIT
    assert backend.inner.held("write:ABC") == []
