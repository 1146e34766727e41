"""The shared rate limiter: exact figures with an injected clock, and several OS processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from hypothesis import given
from hypothesis import settings as settings_h
from hypothesis import strategies as st

from connector.expensify.pacing import (
    EXPENSIFY_RULES,
    DatabaseBackend,
    MemoryBackend,
    RateLimiter,
    RedisBackend,
    ThrottleBackend,
    shared_limiter,
    wait_needed,
)
from connector.models import ThrottleEvent
from simulators.expensify import ExpensifySimulator
from tests.expensify.conftest import PARTNER_ID, SECRET, sim_control

REPO = Path(__file__).resolve().parents[2]


class FakeClock:
    """Time that only moves when the limiter sleeps."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def max_in_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max((sum(1 for u in ordered if t <= u < t + window) for t in ordered), default=0)


def test_sixth_request_waits_for_the_first_to_leave_ten_seconds():
    times = [0.0, 1.0, 2.0, 3.0, 4.0]
    assert wait_needed(times, 4.0, EXPENSIFY_RULES) == pytest.approx(6.0)
    assert wait_needed(times, 10.0, EXPENSIFY_RULES) == 0.0


def test_twenty_first_request_waits_for_the_sixty_second_window():
    times = [i * 2.5 for i in range(20)]  # never 5 in 10 s, but 20 in 47.5 s
    assert wait_needed(times, 47.5, EXPENSIFY_RULES) == pytest.approx(12.5)


def test_blocked_until_is_honoured():
    assert wait_needed([], 100.0, EXPENSIFY_RULES, blocked_until=130.0) == pytest.approx(30.0)


def test_requests_in_flight_count_as_now():
    assert wait_needed([], 50.0, EXPENSIFY_RULES, in_flight=5) == pytest.approx(10.0)
    assert wait_needed([0.0, 1.0], 50.0, EXPENSIFY_RULES, in_flight=2) == 0.0


def in_flight_semantics(make: Callable[[FakeClock], ThrottleBackend], key: str) -> None:
    """Five requests sent at t=0 and still unanswered at t=20 keep the window full."""
    rules = EXPENSIFY_RULES
    clock = FakeClock(T0)
    backend = make(clock)
    tokens = [backend.pace(key, rules, 180.0)[1] for _ in range(5)]
    assert all(tokens)
    clock.now = T0 + 20.0
    wait, token = backend.pace(key, rules, 180.0)
    assert wait == pytest.approx(10.0) and token == ""
    clock.now = T0 + 21.0
    for token in tokens:
        backend.paced(key, token)  # answered at t=21: counted there
    clock.now = T0 + 25.0
    wait, _ = backend.pace(key, rules, 180.0)
    assert wait == pytest.approx(6.0)
    # A worker that died mid-request: its entry stops counting as "now" after `hold`.
    other = key + "-dead"
    clock.now = T0
    for _ in range(5):
        backend.pace(other, rules, 30.0)
    clock.now = T0 + 29.0
    assert backend.pace(other, rules, 30.0)[0] > 0
    clock.now = T0 + 31.0
    assert backend.pace(other, rules, 30.0)[0] == 0.0


T0 = 1_800_000_000.0


def test_in_flight_requests_in_memory():
    in_flight_semantics(lambda clock: MemoryBackend(clock=clock), "k")


@pytest.mark.django_db
def test_in_flight_requests_in_the_database():
    in_flight_semantics(lambda clock: DatabaseBackend(clock=clock), "k")


@pytest.mark.skipif(not settings.REDIS_URL, reason="REDIS_URL is not set")
def test_in_flight_requests_in_redis():
    in_flight_semantics(
        lambda clock: RedisBackend.from_url(settings.REDIS_URL, clock=clock), f"k-{uuid.uuid4().hex}"
    )


def run_limiter(
    make: Callable[[FakeClock], ThrottleBackend], count: int, key: str
) -> tuple[list[float], FakeClock]:
    clock = FakeClock()
    limiter = RateLimiter(key, backend=make(clock), rules=EXPENSIFY_RULES, margin=0.0, sleep=clock.sleep)
    sent = []
    for _ in range(count):
        with limiter.slot():
            sent.append(clock.now)
    return sent, clock


def assert_real_limits(sent: list[float]) -> None:
    assert max_in_window(sent, 10.0) <= 5
    assert max_in_window(sent, 60.0) <= 20


def test_memory_limiter_keeps_the_real_expensify_figures():
    sent, _ = run_limiter(lambda clock: MemoryBackend(clock=clock), 45, "k")
    assert_real_limits(sent)
    # 45 requests need two full minutes of windows, and not much more.
    assert 120.0 <= sent[-1] - sent[0] <= 130.0


def test_acquire_returns_the_seconds_waited_and_penalize_pushes_the_next_slot():
    clock = FakeClock()
    limiter = RateLimiter("k", backend=MemoryBackend(clock=clock), margin=0.0, sleep=clock.sleep)
    with limiter.slot() as waited:
        assert waited == 0.0
    limiter.penalize(30.0)
    with limiter.slot() as waited:
        assert 30.0 <= waited <= 31.0


@pytest.mark.django_db
def test_database_limiter_keeps_the_real_expensify_figures():
    sent, _ = run_limiter(lambda clock: DatabaseBackend(clock=clock), 25, "db-key")
    assert_real_limits(sent)
    # Old rows are pruned as the windows move on; nothing stays in flight.
    assert ThrottleEvent.objects.filter(key="db-key").count() <= 21
    assert not ThrottleEvent.objects.filter(key="db-key#flying").exists()


@pytest.mark.django_db
def test_database_limiter_penalty():
    clock = FakeClock()
    limiter = RateLimiter("db-pen", backend=DatabaseBackend(clock=clock), margin=0.0, sleep=clock.sleep)
    limiter.penalize(12.0)
    with limiter.slot() as waited:
        assert waited >= 12.0


needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="REDIS_URL is not set")


@needs_redis
def test_redis_limiter_keeps_the_real_expensify_figures():
    sent, _ = run_limiter(
        lambda clock: RedisBackend.from_url(settings.REDIS_URL, clock=clock), 25, f"test-{uuid.uuid4().hex}"
    )
    assert_real_limits(sent)


@needs_redis
def test_redis_limiter_penalty():
    clock = FakeClock()
    limiter = RateLimiter(f"pen-{uuid.uuid4().hex}",
                          backend=RedisBackend.from_url(settings.REDIS_URL, clock=clock),
                          margin=0.0, sleep=clock.sleep)
    limiter.penalize(7.0)
    with limiter.slot() as waited:
        assert waited >= 7.0


@pytest.mark.django_db
def test_shared_limiter_picks_the_backend_from_settings(settings, monkeypatch):
    settings.REDIS_URL = ""
    # A database other processes can open (the in-memory test SQLite cannot): the database.
    monkeypatch.setattr("connector.coordination.database_is_private", lambda: False)
    assert isinstance(shared_limiter("p").backend, DatabaseBackend)
    settings.REDIS_URL = "redis://127.0.0.1:6379/3"
    assert isinstance(shared_limiter("p").backend, RedisBackend)


def test_shared_limiter_rules_can_be_scaled_by_settings(settings):
    settings.REDIS_URL = ""
    assert shared_limiter("p").rules == ((5, 10.5), (20, 60.5))
    settings.EXPENSIFY_RATE_RULES = [(5, 1.0)]
    settings.EXPENSIFY_RATE_MARGIN = 0.0
    limiter = shared_limiter("p")
    assert limiter.rules == ((5, 1.0),) and limiter.key == "expensify:p"


# --- several OS processes against the simulator, on scaled windows ---------------------------

SCALED = [(5, 0.5), (20, 3.0)]


def run_workers(kind: str, env: dict[str, str], processes: int = 3, each: int = 8) -> None:
    with ExpensifySimulator(credentials={PARTNER_ID: SECRET}, rates=SCALED) as simulator:
        key = f"expensify:{PARTNER_ID}:{uuid.uuid4().hex}"
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.expensify.pacing_worker", simulator.base_url, kind,
                 key, str(each), json.dumps(SCALED)],
                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for _ in range(processes)
        ]
        outcomes = [w.communicate(timeout=60) for w in workers]
        log = sim_control(simulator, "/_sim/requests")["requests"]
    start = min(r["at"] for r in log)
    timeline = [(round(r["at"] - start, 4), r.get("status")) for r in sorted(log, key=lambda r: r["at"])]
    assert not [r for r in log if r.get("status") == 429], " ".join(f"{t}:{s}" for t, s in timeline)
    for worker, (_, err) in zip(workers, outcomes, strict=True):
        assert worker.returncode == 0, err[-2000:]
    assert len(log) == processes * each
    times = [r["at"] for r in log]
    for limit, window in SCALED:
        assert max_in_window(times, window) <= limit


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env["DJANGO_SETTINGS_MODULE"] = "connector.settings_test"
    env.update(extra)
    return env


@pytest.mark.slow
@needs_redis
def test_processes_sharing_the_redis_limiter_never_exceed_the_limits():
    run_workers("redis", child_env(REDIS_URL=settings.REDIS_URL))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_processes_sharing_the_database_limiter_never_exceed_the_limits():
    if connection.vendor == "sqlite":
        pytest.skip("the test database is SQLite in memory, which other processes cannot open; "
                    "run with DATABASE_URL=postgres://... to test the database limiter across processes")
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    url = f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    run_workers("db", child_env(DATABASE_URL=url, REDIS_URL=""))


@pytest.mark.slow
def test_processes_sharing_the_database_limiter_on_a_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'throttle.sqlite3'}"
    env = child_env(DATABASE_URL=url, REDIS_URL="")
    subprocess.run([sys.executable, "manage.py", "migrate", "connector", "--noinput"],
                   cwd=REPO, env=env, check=True, capture_output=True, timeout=60)
    run_workers("db", env)


def test_sqlite_database_is_locked_is_retried_briefly(monkeypatch):
    from django.db import OperationalError

    monkeypatch.setattr("connector.coordination.database.time.sleep", lambda s: None)
    attempts = []

    def step() -> float:
        attempts.append(1)
        if len(attempts) < 3:
            raise OperationalError("database is locked")
        return 0.0

    assert DatabaseBackend()._retry_locked(step) == 0.0
    assert len(attempts) == 3


def test_other_database_errors_are_not_retried():
    from django.db import OperationalError

    def step() -> float:
        raise OperationalError("no such table: connector_throttleevent")

    with pytest.raises(OperationalError):
        DatabaseBackend()._retry_locked(step)


@settings_h(max_examples=80, deadline=None)
@given(gaps=st.lists(st.floats(min_value=0, max_value=15, allow_nan=False), min_size=1, max_size=60))
def test_any_arrival_pattern_stays_within_the_real_figures(gaps):
    clock = FakeClock()
    limiter = RateLimiter("k", backend=MemoryBackend(clock=clock), margin=0.0, sleep=clock.sleep)
    sent = []
    for gap in gaps:
        clock.now += gap  # the caller's own pause between requests
        with limiter.slot():
            sent.append(clock.now)
    assert_real_limits(sent)
