"""post_with_retries on both transports: backoff, give-up, and settling unknown outcomes."""

from __future__ import annotations

import threading

import pytest

from connector.sage100.errors import (
    SageCompanyError,
    SageOutcomeUnknown,
    SageTransientError,
)
from connector.sage100.gateway import SageGateway, open_gateway
from connector.sage100.retry import RetryPolicy, post_with_retries
from connector.sage100.slots import WriteSlots
from simulators.sage100 import SageSimulator
from tests.sage100.conftest import fast_policy, make_entry, make_settings, set_faults, stats


@pytest.fixture
def slots() -> WriteSlots:
    return WriteSlots("ABC", 2, lease_seconds=30, backend="memory")


def test_record_locked_then_posted(gateway: SageGateway, sim: SageSimulator, slots: WriteSlots) -> None:
    set_faults(sim, {"faults": [{"fault": "record_locked", "times": 2}]})
    outcome = post_with_retries(
        gateway, make_entry(), idempotency_key="k-lock", policy=fast_policy(), slots=slots
    )
    assert outcome.attempts == 3
    assert outcome.retries_by_code == {"RECORD_LOCKED": 2}
    assert outcome.settled_by_lookup is False
    assert stats(sim)["entries"]["ABC"] == 1


def test_gives_up_with_the_last_transient_error(
    gateway: SageGateway, sim: SageSimulator, slots: WriteSlots
) -> None:
    set_faults(sim, {"faults": [{"fault": "unavailable", "times": None}]})
    with pytest.raises(SageTransientError) as info:
        post_with_retries(
            gateway, make_entry(), idempotency_key="k-down", policy=fast_policy(max_attempts=4), slots=slots
        )
    assert info.value.code == "SAGE_UNAVAILABLE"
    assert stats(sim)["entries"]["ABC"] == 0


def test_retry_after_is_a_minimum_wait(gateway: SageGateway, sim: SageSimulator, slots: WriteSlots) -> None:
    set_faults(sim, {"faults": [{"fault": "record_locked", "times": 2, "retryAfter": 2}]})
    waits: list[float] = []
    policy = fast_policy(sleep=waits.append)
    post_with_retries(gateway, make_entry(), idempotency_key="k-ra", policy=policy, slots=slots)
    assert len(waits) == 2
    assert all(w >= 2.0 for w in waits)


def test_backoff_is_bounded_and_jittered() -> None:
    waits: list[float] = []
    policy = RetryPolicy(max_attempts=8, max_seconds=60, base_delay=0.5, max_delay=4.0, sleep=waits.append)
    calls = 0

    def flaky() -> None:
        nonlocal calls
        calls += 1
        raise SageTransientError("RECORD_LOCKED", "locked")

    with pytest.raises(SageTransientError):
        policy.retrying()(flaky)
    assert calls == 8
    assert len(waits) == 7
    assert all(0 <= w <= 4.0 for w in waits)
    assert len(set(waits)) > 1


def test_company_error_is_not_retried(sim: SageSimulator, transport: str, slots: WriteSlots) -> None:
    gateway = open_gateway(make_settings(sim, transport, password="wrong-pass"))
    with pytest.raises(SageCompanyError):
        post_with_retries(gateway, make_entry(), idempotency_key="k-auth", policy=fast_policy(), slots=slots)


@pytest.mark.parametrize("fault", ["timeout_after", "drop_after"])
def test_unknown_outcome_after_commit_is_settled_by_lookup(
    gateway: SageGateway, sim: SageSimulator, slots: WriteSlots, fault: str
) -> None:
    set_faults(sim, {"faults": [{"fault": fault}]})
    entry = make_entry(reference="EXP SETTLE")
    outcome = post_with_retries(gateway, entry, idempotency_key="k-504", policy=fast_policy(), slots=slots)
    assert outcome.settled_by_lookup is True
    assert outcome.attempts == 1
    assert outcome.result.entry_no == "000001"
    assert stats(sim)["referenceCounts"]["ABC"] == {"EXP SETTLE": 1}


def test_unknown_outcome_before_commit_reposts_with_the_same_key(
    gateway: SageGateway, sim: SageSimulator, slots: WriteSlots
) -> None:
    set_faults(sim, {"faults": [{"fault": "timeout_before"}]})
    outcome = post_with_retries(
        gateway, make_entry(), idempotency_key="k-tb", policy=fast_policy(), slots=slots
    )
    assert outcome.settled_by_lookup is False
    assert outcome.attempts == 2
    assert outcome.retries_by_code == {"SAGE_TIMEOUT": 1}
    assert stats(sim)["entries"]["ABC"] == 1


def test_late_commit_after_client_timeout_gives_one_entry(sim: SageSimulator, transport: str) -> None:
    # The first request is still on its way when the lookup says "not found": the re-post with
    # the same key must not create a second entry.
    gateway = open_gateway(make_settings(sim, transport, read_timeout=0.3))
    set_faults(sim, {"faults": [{"fault": "slow", "latency": 0.6}]})
    outcome = post_with_retries(
        gateway,
        make_entry(reference="EXP LATE"),
        idempotency_key="k-late",
        policy=fast_policy(),
        slots=WriteSlots("ABC", 2, backend="memory"),
    )
    threading.Event().wait(0.5)  # let the slow first request finish on the simulator
    assert outcome.result.entry_no == "000001"
    assert stats(sim)["referenceCounts"]["ABC"] == {"EXP LATE": 1}


def test_never_settled_gives_up_as_unknown(
    gateway: SageGateway, sim: SageSimulator, slots: WriteSlots
) -> None:
    set_faults(
        sim,
        {"faults": [{"fault": "timeout_before"}, {"fault": "record_locked", "times": None}]},
    )
    with pytest.raises(SageOutcomeUnknown):
        post_with_retries(
            gateway, make_entry(), idempotency_key="k-never", policy=fast_policy(max_attempts=3), slots=slots
        )


def test_lock_storm_every_entry_posted_once(
    gateway: SageGateway, sim: SageSimulator, slots: WriteSlots
) -> None:
    set_faults(sim, {"lockStorm": {"fraction": 0.4, "seed": 11}})
    retries = 0
    for i in range(12):
        outcome = post_with_retries(
            gateway,
            make_entry(reference=f"EXP STORM {i}"),
            idempotency_key=f"k-storm-{i}",
            policy=fast_policy(max_attempts=12),
            slots=slots,
        )
        assert set(outcome.retries_by_code) <= {"RECORD_LOCKED"}
        retries += outcome.retries_by_code.get("RECORD_LOCKED", 0)
    counts = stats(sim)
    assert counts["entries"]["ABC"] == 12
    assert set(counts["referenceCounts"]["ABC"].values()) == {1}
    assert retries == counts["counts"]["locked"] > 0
