"""Settling unknown outcomes in post_with_retries: same key, same body, until a definite answer."""

from __future__ import annotations

import pytest

from connector.sage100.errors import SageOutcomeUnknown, SageReportError
from connector.sage100.gateway import SageGateway
from connector.sage100.retry import post_with_retries
from connector.sage100.slots import WriteSlots
from simulators.sage100 import SageSimulator
from tests.sage100.conftest import fast_policy, make_entry, set_faults, stats


@pytest.fixture
def slots() -> WriteSlots:
    return WriteSlots("ABC", 2, lease_seconds=30, backend="memory")


def test_a_clean_post_was_never_unsettled(gateway: SageGateway, slots: WriteSlots) -> None:
    outcome = post_with_retries(
        gateway, make_entry(), idempotency_key="k-clean", policy=fast_policy(), slots=slots
    )
    assert outcome.was_unsettled is False and outcome.attempts == 1


def test_proxy_502_after_commit_is_settled_under_the_same_key(
    gateway: SageGateway, sim: SageSimulator, slots: WriteSlots
) -> None:
    set_faults(sim, {"faults": [{"fault": "answer_after", "status": 502}]})
    outcome = post_with_retries(
        gateway, make_entry(reference="EXP P502"), idempotency_key="k-502", policy=fast_policy(), slots=slots
    )
    assert outcome.was_unsettled is True
    assert outcome.result.entry_no == "000001"
    assert stats(sim)["referenceCounts"]["ABC"] == {"EXP P502": 1}


def test_an_unreadable_lookup_settles_nothing_and_the_same_key_does(
    gateway: SageGateway, sim: SageSimulator, slots: WriteSlots
) -> None:
    set_faults(
        sim,
        {
            "faults": [
                {"fault": "answer_after", "status": 502},
                {"fault": "answer", "ops": "read", "status": 200, "body": "html"},
            ]
        },
    )
    outcome = post_with_retries(
        gateway, make_entry(reference="EXP LK"), idempotency_key="k-lk", policy=fast_policy(), slots=slots
    )
    assert sim.book.faults[1].times == 0  # the lookup did get the unreadable answer
    assert outcome.settled_by_lookup is False
    assert outcome.result.replayed is True and outcome.attempts == 2
    assert outcome.was_unsettled is True
    assert stats(sim)["referenceCounts"]["ABC"] == {"EXP LK": 1}


def test_unreadable_lookups_and_reposts_give_up_as_unknown(
    gateway: SageGateway, sim: SageSimulator, slots: WriteSlots
) -> None:
    set_faults(
        sim,
        {
            "faults": [
                {"fault": "answer_after", "status": 502},
                {"fault": "answer", "ops": "all", "status": 200, "body": "html", "times": None},
            ]
        },
    )
    with pytest.raises(SageOutcomeUnknown):
        post_with_retries(
            gateway, make_entry(), idempotency_key="k-never", policy=fast_policy(max_attempts=3), slots=slots
        )
    assert stats(sim)["counts"]["post"] == 1  # later posts never got past the "proxy"
    assert stats(sim)["entries"]["ABC"] == 1


def test_a_coded_refusal_of_the_same_key_is_definite(
    gateway: SageGateway, sim: SageSimulator, slots: WriteSlots
) -> None:
    set_faults(sim, {"faults": [{"fault": "timeout_before"}]})

    def close_november(_seconds: float) -> None:
        for period in sim.book.companies["ABC"].periods[2026]:
            period["status"] = "closed"

    with pytest.raises(SageReportError) as info:
        post_with_retries(
            gateway,
            make_entry(),
            idempotency_key="k-closed",
            policy=fast_policy(sleep=close_november),
            slots=slots,
        )
    assert info.value.code == "PERIOD_CLOSED"
    assert stats(sim)["counts"]["post"] == 2


def test_a_company_error_while_unsettled_keeps_the_outcome_unknown(
    gateway: SageGateway, sim: SageSimulator, slots: WriteSlots
) -> None:
    set_faults(sim, {"faults": [{"fault": "timeout_after"}, {"fault": "auth", "ops": "all", "times": None}]})
    with pytest.raises(SageOutcomeUnknown) as info:
        post_with_retries(gateway, make_entry(), idempotency_key="k-auth", policy=fast_policy(), slots=slots)
    assert info.value.__cause__ is not None
    assert getattr(info.value.__cause__, "code", "") == "AUTH_SAGE"
    assert stats(sim)["entries"]["ABC"] == 1
