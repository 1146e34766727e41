"""Slow and huge answers: write slots held while a post is open, answers capped (items 10, 12)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import override_settings

from connector.sage100.errors import SageCompanyError, SageOutcomeUnknown
from connector.sage100.gateway import (
    MAX_CONNECT_TIMEOUT_SECONDS,
    MAX_READ_TIMEOUT_SECONDS,
    SageGateway,
    open_gateway,
)
from connector.sage100.retry import post_with_retries
from connector.sage100.slots import WriteSlots
from simulators.sage100 import SageSimulator
from tests.sage100.conftest import fast_policy, make_entry, make_settings, set_faults, stats

LEASE_SECONDS = 3.0
TRICKLE_SECONDS = 8.0


def backends() -> list[str]:
    names = ["memory"]
    if os.environ.get("REDIS_URL"):
        names.append("redis")
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        names.append("database")
    return names


@pytest.fixture
def clean_redis_slots() -> Iterator[None]:
    def clean() -> None:
        if getattr(django_settings, "REDIS_URL", ""):
            import redis

            client = redis.Redis.from_url(django_settings.REDIS_URL)
            for key in client.scan_iter("ml-connector:write:T8*"):
                client.delete(key)

    clean()
    yield
    clean()


def test_simulator_counts_a_post_until_its_answer_is_written(sim: SageSimulator) -> None:
    gateway = open_gateway(make_settings(sim, "agent", read_timeout=10))
    set_faults(sim, {"faults": [{"fault": "trickle", "every": 0.2, "duration": 1.5}]})
    done = threading.Thread(target=lambda: gateway.post_entry(make_entry(), idempotency_key="k-trickle"))
    done.start()
    time.sleep(0.8)  # committed, the answer still on its way
    during = stats(sim)
    done.join(10)
    assert during["entries"]["ABC"] == 1
    assert during["inFlight"]["ABC"] == 1
    assert stats(sim)["inFlight"]["ABC"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("backend", backends())
def test_a_trickling_answer_outliving_the_lease_never_breaks_the_limit(
    backend: str, sim: SageSimulator, transport: str, transactional_db: None, clean_redis_slots: None
) -> None:
    # The simulator would take 10 at once: only the connector's slots keep it at 2.
    set_faults(
        sim,
        {
            "maxConcurrentWrites": {"ABC": 10},
            "faults": [{"fault": "trickle", "every": 0.5, "duration": TRICKLE_SECONDS, "times": 2}],
        },
    )
    slots = WriteSlots(
        f"T8{transport[0].upper()}", 2, lease_seconds=LEASE_SECONDS, backend=backend, poll_seconds=0.02
    )
    durations: list[float] = []
    errors: list[BaseException] = []

    def post(n: int) -> None:
        gateway = open_gateway(make_settings(sim, transport, read_timeout=20))
        started = time.monotonic()
        try:
            post_with_retries(
                gateway,
                make_entry(reference=f"EXP SLOW {n}"),
                idempotency_key=f"slow-{transport}-{n}",
                policy=fast_policy(max_attempts=3, max_seconds=25),
                slots=slots,
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            durations.append(time.monotonic() - started)
            gateway.close()

    first = [threading.Thread(target=post, args=(n,)) for n in range(2)]
    for t in first:
        t.start()
    time.sleep(LEASE_SECONDS + 1.0)  # both leases' first expiry has passed while their posts are open
    later = [threading.Thread(target=post, args=(n,)) for n in range(2, 4)]
    for t in later:
        t.start()
    for t in first + later:
        t.join(40)
    assert errors == []
    result = stats(sim)
    assert result["entries"]["ABC"] == 4
    # The trickle fault did fire: the slow posts stayed open over two lease lengths.
    assert sorted(durations)[-2] > 2 * LEASE_SECONDS
    assert result["maxInFlight"]["ABC"] == 2
    assert result["overLimit"] == 0


def test_a_trickle_past_the_calls_deadline_is_unknown_for_a_post(sim: SageSimulator, transport: str) -> None:
    gateway = open_gateway(make_settings(sim, transport, connect_timeout=0.5, read_timeout=1.0))
    set_faults(sim, {"faults": [{"fault": "trickle", "every": 0.3, "duration": 6}]})
    started = time.monotonic()
    with pytest.raises(SageOutcomeUnknown):
        gateway.post_entry(make_entry(), idempotency_key="k-deadline")
    # Each piece came within the read timeout: only the whole-call deadline stopped it.
    assert time.monotonic() - started < 4
    assert stats(sim)["entries"]["ABC"] == 1


@pytest.mark.parametrize("length", [True, False])
def test_a_huge_read_answer_stops_at_the_cap(sim: SageSimulator, transport: str, length: bool) -> None:
    size = 200 * 1024 * 1024
    gateway = open_gateway(make_settings(sim, transport, max_answer_bytes=1024 * 1024))
    set_faults(
        sim, {"faults": [{"fault": "huge", "ops": "read", "size": size, "length": length, "seconds": 20}]}
    )
    with pytest.raises(SageCompanyError) as info:
        gateway.account_structure()
    assert "SAGE_MAX_ANSWER_BYTES" in str(info.value)
    time.sleep(0.3)
    sent = stats(sim)["hugeSent"]
    assert len(sent) == 1 and sent[0] < size // 4  # the connector hung up early


def test_a_huge_answer_to_a_post_is_unknown(sim: SageSimulator, transport: str) -> None:
    gateway = open_gateway(make_settings(sim, transport, max_answer_bytes=256 * 1024))
    set_faults(sim, {"faults": [{"fault": "huge", "size": 50 * 1024 * 1024, "length": False, "seconds": 20}]})
    with pytest.raises(SageOutcomeUnknown) as info:
        gateway.post_entry(make_entry(), idempotency_key="k-huge")
    assert "SAGE_MAX_ANSWER_BYTES" in str(info.value)
    assert stats(sim)["entries"]["ABC"] == 1


def test_the_cap_comes_from_the_setting(sim: SageSimulator) -> None:
    set_faults(sim, {"faults": [{"fault": "huge", "ops": "read", "size": 3 * 1024 * 1024, "times": 2}]})
    with override_settings(SAGE_MAX_ANSWER_BYTES=2 * 1024 * 1024):
        gateway: SageGateway = open_gateway(make_settings(sim, "agent"))
        with pytest.raises(SageCompanyError) as info:
            gateway.ping()
    assert "2097152" in str(info.value)
    assert django_settings.SAGE_MAX_ANSWER_BYTES == 10 * 1024 * 1024


def test_timeouts_are_clamped(sim: SageSimulator) -> None:
    settings = make_settings(sim, "agent", read_timeout=100000, connect_timeout=5000)
    assert settings.read_timeout == MAX_READ_TIMEOUT_SECONDS
    assert settings.connect_timeout == MAX_CONNECT_TIMEOUT_SECONDS
    gateway = open_gateway(settings)
    assert gateway._http.timeout.read == MAX_READ_TIMEOUT_SECONDS  # type: ignore[attr-defined]


def test_postgres_renewal_keeps_a_lease_row(transactional_db: None) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("lease rows need PostgreSQL")
    slots = WriteSlots("T8R", 1, lease_seconds=1.0, backend="database")
    with slots.acquire(timeout=1):
        time.sleep(2.5)  # more than two lease lengths
        assert slots.try_acquire() is None
    assert slots.try_acquire() is not None
