"""What an answer proves (contract "Unknown outcomes", item 9): on both transports, real HTTP."""

from __future__ import annotations

import pytest

from connector.sage100.errors import (
    SageCompanyError,
    SageOutcomeUnknown,
    SageReportError,
    SageTransientError,
)
from connector.sage100.gateway import SageGateway, open_gateway
from simulators.sage100 import SageSimulator
from tests.sage100.conftest import make_entry, make_settings, set_faults, stats

PROXY_ANSWERS = [
    (502, "html"),
    (503, "html"),
    (504, "html"),
    (502, "empty"),
    (503, "text"),
    (500, "html"),
    (429, "html"),
    (401, "html"),
    (200, "html"),
    (201, "empty"),
    (200, "cut"),
    (502, "json"),  # an envelope, but with a code the contract does not list
]


@pytest.mark.parametrize(("status", "body"), PROXY_ANSWERS)
def test_post_committed_then_a_proxy_answer_is_unknown(
    gateway: SageGateway, sim: SageSimulator, status: int, body: str
) -> None:
    set_faults(sim, {"faults": [{"fault": "answer_after", "status": status, "body": body}]})
    with pytest.raises(SageOutcomeUnknown):
        gateway.post_entry(make_entry(), idempotency_key="k-proxy")
    # The fault fired: the entry was written although the answer said otherwise.
    assert stats(sim)["entries"]["ABC"] == 1


@pytest.mark.parametrize(("status", "body"), [(502, "html"), (503, "empty"), (429, "html"), (500, "text")])
def test_post_answered_by_a_proxy_before_sage_is_still_unknown(
    gateway: SageGateway, sim: SageSimulator, status: int, body: str
) -> None:
    # Nothing was written here, but the answer cannot prove it.
    set_faults(sim, {"faults": [{"fault": "answer", "status": status, "body": body}]})
    with pytest.raises(SageOutcomeUnknown):
        gateway.post_entry(make_entry(), idempotency_key="k-before")
    assert stats(sim)["entries"]["ABC"] == 0


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (429, "TOO_MANY_WRITES"),
        (502, "SAGE_UNAVAILABLE"),
        (503, "SAGE_UNAVAILABLE"),
        (504, "SAGE_UNAVAILABLE"),
    ],
)
def test_read_answered_by_a_proxy_is_transient(
    gateway: SageGateway, sim: SageSimulator, status: int, code: str
) -> None:
    set_faults(sim, {"faults": [{"fault": "answer", "ops": "read", "status": status}]})
    with pytest.raises(SageTransientError) as info:
        gateway.periods(2026)
    assert info.value.code == code
    assert sim.book.faults[0].times == 0


def test_429_without_envelope_is_the_same_on_both_transports(sim: SageSimulator) -> None:
    kinds = []
    for transport in ("agent", "soap"):
        gateway = open_gateway(make_settings(sim, transport))
        set_faults(sim, {"faults": [{"fault": "answer", "ops": "all", "status": 429, "times": 2}]})
        with pytest.raises(SageTransientError) as read:
            gateway.account_structure()
        with pytest.raises(SageOutcomeUnknown):
            gateway.post_entry(make_entry(), idempotency_key=f"k-429-{transport}")
        kinds.append(read.value.code)
    assert kinds == ["TOO_MANY_WRITES", "TOO_MANY_WRITES"]


def test_coded_refusals_still_prove_nothing_was_written(gateway: SageGateway, sim: SageSimulator) -> None:
    set_faults(sim, {"faults": [{"fault": "unavailable"}]})
    with pytest.raises(SageTransientError):
        gateway.post_entry(make_entry(), idempotency_key="k-coded")
    with pytest.raises(SageReportError):
        gateway.post_entry(make_entry(account="6999-00-000"), idempotency_key="k-coded")


@pytest.mark.parametrize("status", [404, 405, 413])
@pytest.mark.parametrize("body", ["html", "json", "empty"])
def test_wrong_path_answers_are_the_companys_config_error(
    gateway: SageGateway, sim: SageSimulator, status: int, body: str
) -> None:
    set_faults(
        sim, {"faults": [{"fault": "answer", "ops": "all", "status": status, "body": body, "times": None}]}
    )
    calls = [
        gateway.ping,
        gateway.account_structure,
        lambda: gateway.lookup(idempotency_key="k"),
        lambda: gateway.search(reference="EXP A"),
        lambda: gateway.post_entry(make_entry(), idempotency_key="k-404"),
    ]
    for call in calls:
        with pytest.raises(SageCompanyError) as info:
            call()
        assert info.value.code == "CONFIG"
        assert "wrong for company ABC" in str(info.value)


def test_agent_ping_on_a_wrong_path_says_so(sim: SageSimulator) -> None:
    gateway = open_gateway(make_settings(sim, "agent", base_url=sim.base_url + "/agent/v2"))
    with pytest.raises(SageCompanyError) as info:
        gateway.ping()
    assert info.value.code == "CONFIG"
    assert "URL looks wrong for company ABC" in str(info.value)
    assert "unavailable" not in str(info.value).lower()


def test_soap_wrong_svc_path_says_so(sim: SageSimulator) -> None:
    gateway = open_gateway(make_settings(sim, "soap", base_url=sim.base_url + "/ebusinesswebservices/x.svc"))
    for call in (gateway.ping, lambda: gateway.post_entry(make_entry(), idempotency_key="k-svc")):
        with pytest.raises(SageCompanyError) as info:
            call()
        assert info.value.code == "CONFIG" and "wrong for company ABC" in str(info.value)
