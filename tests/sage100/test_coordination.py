"""The coordination layer: leases expire and are taken over on the store's clock, never the app's.

time-machine moves the app server's clock (Python's time and datetime) far forward or back; the
database (its NOW()) and Redis (TIME) keep theirs, so a held lease stays held and an expired one
can be taken over whatever the app thinks the time is. Across OS processes too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.db import connection

from connector.coordination import Backend, backend_named, get_backend
from connector.coordination.database import DatabaseBackend

REPO = Path(__file__).resolve().parents[2]
needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="REDIS_URL is not set")


def stores() -> list[str]:
    return ["database", *(["redis"] if settings.REDIS_URL else [])]


def make(name: str) -> Backend:
    return DatabaseBackend(own_connection=True) if name == "database" else backend_named(name)


@pytest.mark.parametrize("name", stores())
@pytest.mark.parametrize("skew", [dt.timedelta(days=3), -dt.timedelta(days=3)])
def test_a_held_lease_ignores_the_app_clock(name: str, skew: dt.timedelta, transactional_db: None) -> None:
    backend = make(name)
    key = f"t:{uuid.uuid4().hex}"
    assert backend.claim(key, holder="first", seconds=30)
    # Three days later (or earlier) by the app's clock: the store says 30 s have not passed.
    with time_machine.travel(dt.datetime.now(dt.UTC) + skew, tick=True):
        assert not backend.claim(key, holder="second", seconds=30)
        assert backend.renew(key, holder="first", seconds=0.3)
    time.sleep(0.5)
    # Now expired by the store's clock, though the app's clock is set back three days.
    with time_machine.travel(dt.datetime.now(dt.UTC) - dt.timedelta(days=3), tick=True):
        assert backend.claim(key, holder="second", seconds=30)
        assert not backend.renew(key, holder="first", seconds=30)
        backend.release(key, holder="first")  # not its holder any more: nothing happens
        assert not backend.claim(key, holder="third", seconds=30)
    backend.release(key, holder="second")
    assert backend.claim(key, holder="third", seconds=30)
    backend.release(key, holder="third")


@pytest.mark.parametrize("name", stores())
def test_the_clock_is_the_stores(name: str, transactional_db: None) -> None:
    backend = make(name)
    with time_machine.travel(dt.datetime(2001, 1, 1, tzinfo=dt.UTC)):
        assert abs(backend.now() - time.time()) > 86400 * 365  # time.time() is travelling
        store_now = backend.now()
    assert abs(store_now - time.time()) < 5


@pytest.mark.parametrize("name", [*stores(), "memory"])
@pytest.mark.parametrize("skew", [dt.timedelta(hours=6), -dt.timedelta(hours=6)])
def test_held_lists_live_leases_by_prefix_on_the_stores_clock(
    name: str, skew: dt.timedelta, transactional_db: None
) -> None:
    backend = make(name)
    tag = uuid.uuid4().hex[:8]
    assert backend.claim(f"t{tag}:run:A", holder="a", seconds=60)
    assert backend.claim(f"t{tag}:run:B", holder="b", seconds=0.2)
    assert backend.claim(f"t{tag}:write:A:0", holder="c", seconds=60)
    assert backend.claim(f"t{tag}[*]:x", holder="glob", seconds=60)  # no pattern in a prefix:
    assert backend.claim(f"t{tag}*:y", holder="star", seconds=60)  # '[*]' unescaped matches '*'
    time.sleep(0.4)  # run:B has expired by the store's clock
    travel = time_machine.travel(dt.datetime.now(dt.UTC) + skew, tick=True)
    with travel if name != "memory" else contextlib.nullcontext():  # memory's clock is the app's
        held = backend.held(f"t{tag}:run:")
    assert [(h.key, h.holder) for h in held] == [(f"t{tag}:run:A", "a")]
    assert 50 < held[0].seconds_left <= 60
    assert [h.key for h in backend.held(f"t{tag}[*]")] == [f"t{tag}[*]:x"]
    for key, holder in [
        (f"t{tag}:run:A", "a"), (f"t{tag}:write:A:0", "c"), (f"t{tag}[*]:x", "glob"), (f"t{tag}*:y", "star")
    ]:
        backend.release(key, holder=holder)
    assert backend.held(f"t{tag}") == []


def test_run_leases_follow_the_one_rule(db: None) -> None:
    from sync import leases

    holder = leases.new_holder()
    assert leases.acquire(leases.run_key("T1C"), holder=holder, seconds=60)
    (held,) = get_backend().held("run:")
    assert (held.key, held.holder) == ("run:T1C", holder)
    assert [h.key for h in leases.running()] == ["run:T1C"]
    assert not leases.acquire("run:T1C", holder="other", seconds=60)
    assert leases.renew("run:T1C", holder=holder, seconds=60)
    leases.release("run:T1C", holder=holder)
    assert leases.running() == []
    assert leases.acquire("run:T1C", holder="other", seconds=60)
    leases.release("run:T1C", holder="other")


def test_the_one_rule() -> None:
    shared = "database" if connection.vendor == "postgresql" else "memory"
    expected = "redis" if settings.REDIS_URL else shared
    assert get_backend().name == expected


def child(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )


def child_env() -> dict[str, str]:
    import os

    env = dict(os.environ, PYTHONPATH=str(REPO), DJANGO_SETTINGS_MODULE="connector.settings_test")
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    env["DATABASE_URL"] = f"postgres://{user}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    return env


CLAIM = """
import django, sys, datetime as dt, time_machine
django.setup()
from connector.coordination import backend_named
from connector.coordination.database import DatabaseBackend
name, key, holder, seconds, skew = sys.argv[1:] if len(sys.argv) > 1 else ({args})
backend = DatabaseBackend(own_connection=True) if name == "database" else backend_named(name)
with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(hours=float(skew))):
    print("took" if backend.claim(key, holder=holder, seconds=float(seconds)) else "held")
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", ["database", "redis"])
def test_takeover_across_processes_with_skewed_clocks(name: str, transactional_db: None) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the test database is SQLite in memory, which other processes cannot open")
    if name == "redis" and not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    key = f"t:{uuid.uuid4().hex}"
    env = child_env()

    def claim(holder: str, seconds: float, skew_hours: float) -> str:
        args = repr((name, key, holder, str(seconds), str(skew_hours)))
        done = child(CLAIM.replace("{args}", args), env)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    started = time.monotonic()
    assert claim("worker-a", 8, skew_hours=+5) == "took"  # a host five hours ahead
    assert claim("worker-b", 8, skew_hours=-5) == "held"  # a host five hours behind: still held
    assert time.monotonic() - started < 8, "the children started too slowly for this test"
    time.sleep(max(0.0, 8.5 - (time.monotonic() - started)))
    assert claim("worker-b", 30, skew_hours=+5) == "took"  # expired by the store's clock
    assert claim("worker-a", 30, skew_hours=-5) == "held"
    make(name).release(key, holder="worker-b")


@needs_redis
def test_installations_sharing_one_redis_never_see_each_others_leases() -> None:
    """Two prefixes (two installations, or two xdist workers of this suite) on one Redis."""
    from connector.coordination.redis_backend import RedisBackend

    key = f"run:{uuid.uuid4().hex[:8]}"
    first = RedisBackend.from_url(settings.REDIS_URL, prefix="install-a:")
    second = RedisBackend.from_url(settings.REDIS_URL, prefix="install-b:")
    try:
        assert first.claim(key, holder="a", seconds=30)
        assert second.claim(key, holder="b", seconds=30), "a lease of another prefix blocked this one"
        assert [h.holder for h in first.held(key)] == ["a"]
    finally:
        first.release(key, holder="a")
        second.release(key, holder="b")
    from django.test import override_settings

    with override_settings(COORDINATION_PREFIX="install-c:"):
        assert get_backend()._prefix == "install-c:"  # type: ignore[attr-defined]
