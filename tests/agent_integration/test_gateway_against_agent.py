"""The connector's AgentGateway against the real agent: every call, replay, faults, errors."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest
from mlc_agent.testing import AgentProcess

from connector.sage100.errors import SageCompanyError, SageReportError, SageTransientError
from connector.sage100.gateway import SageGateway, SageSettings, open_gateway
from connector.sage100.types import JournalEntryPayload, JournalLinePayload
from simulators.sage100.demo import (
    DEMO_PASSWORD,
    DEMO_READONLY_PASSWORD,
    DEMO_READONLY_USERNAME,
    DEMO_USERNAME,
)


def settings(agent: AgentProcess, **changes: object) -> SageSettings:
    """The agent's settings with its certificate pinned, as the company page holds them."""
    base = SageSettings(
        transport="agent",
        base_url=agent.base_url,
        agent_api_key=agent.api_key,
        username=DEMO_USERNAME,
        password=DEMO_PASSWORD,
        company_code="ABC",
        connect_timeout=2.0,
        read_timeout=10.0,
        agent_certificate=agent.cert.read_text(),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def gateway(agent: AgentProcess) -> SageGateway:
    gw = open_gateway(settings(agent))
    yield gw  # type: ignore[misc]
    gw.close()


def make_entry(
    reference: str, cents: int = 12540, account: str = "6100-01-000", posting_date: date = date(2026, 11, 20)
) -> JournalEntryPayload:
    return JournalEntryPayload(
        source_journal="GJ",
        posting_date=posting_date,
        reference=reference,
        comment="Trip to Denver",
        lines=(
            JournalLinePayload(account, cents, 0, "Hotel"),
            JournalLinePayload("2100-00-000", 0, cents, ""),
        ),
    )


def test_reads(gateway: SageGateway) -> None:
    ping = gateway.ping()
    assert ping.max_concurrent_writes == 2 and ping.agent_version == "1.0.0"
    structure = gateway.account_structure()
    assert structure.mask == "####-##-###" == structure.derived_mask
    accounts = list(gateway.accounts())
    assert len(accounts) == 21
    assert [a.account for a in gateway.accounts("I")] == ["6900-00-000"]
    periods = gateway.periods(2026)
    assert len(periods) == 12 and periods[0].status == "closed" and periods[10].status == "open"
    assert gateway.periods(2031) == []


def test_post_replay_lookup_search(gateway: SageGateway, agent: AgentProcess) -> None:
    entry = make_entry("EXP INT-1")
    first = gateway.post_entry(entry, idempotency_key="int-key-1")
    assert first.replayed is False
    again = gateway.post_entry(entry, idempotency_key="int-key-1")
    assert again.replayed is True and again.entry_no == first.entry_no
    found = gateway.lookup(idempotency_key="int-key-1")
    assert found is not None and found.entry_no == first.entry_no and found.idempotency_key == "int-key-1"
    assert [(x.account, x.debit_cents, x.credit_cents) for x in found.lines] == [
        ("6100-01-000", 12540, 0),
        ("2100-00-000", 0, 12540),
    ]
    assert gateway.lookup(reference="EXP INT-1").entry_no == first.entry_no  # type: ignore[union-attr]
    assert gateway.lookup(idempotency_key="never") is None
    twice = gateway.post_entry(make_entry("EXP INT-1", cents=100), idempotency_key="int-key-2")
    hits = gateway.search(reference="EXP INT-1")
    assert [h.entry_no for h in hits] == [first.entry_no, twice.entry_no]
    ranged = gateway.search(
        reference_prefix="EXP INT-", posting_date_from=date(2026, 11, 1), posting_date_to=date(2026, 11, 30)
    )
    assert len(ranged) == 2
    assert len(agent.sage_entries("ABC")) >= 2


def test_report_errors(gateway: SageGateway) -> None:
    with pytest.raises(SageReportError) as info:
        gateway.post_entry(make_entry("EXP INT-BAD", account="6100-99-000"), idempotency_key="int-bad-1")
    assert info.value.code == "INVALID_ACCOUNT"
    with pytest.raises(SageReportError) as info:
        gateway.post_entry(
            make_entry("EXP INT-OLD", posting_date=date(2026, 2, 2)), idempotency_key="int-bad-2"
        )
    assert info.value.code == "PERIOD_CLOSED"
    gateway.post_entry(make_entry("EXP INT-M", cents=100), idempotency_key="int-bad-3")
    with pytest.raises(SageReportError) as info:
        gateway.post_entry(make_entry("EXP INT-M", cents=200), idempotency_key="int-bad-3")
    assert info.value.code == "IDEMPOTENCY_MISMATCH"


def test_company_errors(agent: AgentProcess) -> None:
    cases = [
        ({"agent_api_key": "wrong"}, "AUTH_AGENT"),
        ({"password": "wrong"}, "AUTH_SAGE"),
        ({"company_code": "ZZZ"}, "COMPANY_NOT_FOUND"),
    ]
    for change, expected in cases:
        with open_gateway(settings(agent, **change)) as gw:  # type: ignore[attr-defined]
            with pytest.raises(SageCompanyError) as info:
                gw.ping()
            assert info.value.code == expected
            assert "wrong" not in info.value.message
    with open_gateway(
        settings(agent, username=DEMO_READONLY_USERNAME, password=DEMO_READONLY_PASSWORD)
    ) as gw:  # type: ignore[attr-defined]
        gw.ping()
        with pytest.raises(SageCompanyError) as info:
            gw.post_entry(make_entry("EXP INT-RO"), idempotency_key="int-ro")
        assert info.value.code == "NO_ACCESS"


def test_lock_and_timeout_through_the_gateway(gateway: SageGateway, agent: AgentProcess) -> None:
    from connector.sage100.errors import SageOutcomeUnknown

    agent.faults({"fault": "record_locked"})
    with pytest.raises(SageTransientError) as info:
        gateway.post_entry(make_entry("EXP INT-LOCK"), idempotency_key="int-lock")
    assert info.value.code == "RECORD_LOCKED" and info.value.retry_after == 1
    agent.faults({"fault": "hang_after_commit", "seconds": 4})
    with pytest.raises(SageOutcomeUnknown):
        gateway.post_entry(make_entry("EXP INT-HANG"), idempotency_key="int-hang")
    agent.faults()
    from mlc_agent.testing import wait_for

    assert wait_for(lambda: agent.stats()["store"].get("pending", 0) == 0, timeout=10)
    settled = gateway.post_entry(make_entry("EXP INT-HANG"), idempotency_key="int-hang")
    assert settled.replayed is True
    assert [h.reference for h in gateway.search(reference="EXP INT-HANG")] == ["EXP INT-HANG"]


def test_https_is_verified(agent: AgentProcess, tmp_path: Path) -> None:
    """Unpinned, or pinned to another certificate, the connector refuses to talk to the agent."""
    from mlc_agent.security import make_self_signed

    make_self_signed(tmp_path / "other.crt", tmp_path / "other.key", ["127.0.0.1"])
    for pem in ("", (tmp_path / "other.crt").read_text()):
        with open_gateway(settings(agent, agent_certificate=pem)) as gw:  # type: ignore[attr-defined]
            with pytest.raises(SageTransientError):
                gw.ping()
    with open_gateway(settings(agent)) as gw:  # type: ignore[attr-defined]
        assert gw.ping().max_concurrent_writes == 2
