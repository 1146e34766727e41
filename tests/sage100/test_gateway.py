"""Both transports against the simulator: reads, posts, replays, lookups and every error code."""

from __future__ import annotations

from datetime import date

import pytest

from connector.sage100.errors import (
    SageCompanyError,
    SageOutcomeUnknown,
    SageReportError,
    SageTransientError,
)
from connector.sage100.gateway import SageGateway, check_url, open_gateway
from simulators.sage100 import SageSimulator
from simulators.sage100.demo import DEMO_READONLY_PASSWORD, DEMO_READONLY_USERNAME
from tests.sage100.conftest import make_entry, make_settings, set_faults, stats


def test_account_structure(gateway: SageGateway) -> None:
    structure = gateway.account_structure()
    assert structure.mask == "####-##-###"
    assert structure.derived_mask == "####-##-###"
    assert structure.separator == "-"
    assert [s.name for s in structure.segments] == ["Main", "Department", "Location"]


def test_accounts_all_statuses_and_filtered(gateway: SageGateway) -> None:
    accounts = list(gateway.accounts())
    # The agent pages 7 at a time in the demo: 21 accounts means several pages.
    assert len(accounts) == 21
    assert {a.account for a in accounts} >= {"2100-00-000", "6100-02-000", "6900-00-000"}
    inactive = list(gateway.accounts("I"))
    assert [a.account for a in inactive] == ["6900-00-000"]
    assert inactive[0].status == "I"


def test_periods(gateway: SageGateway) -> None:
    periods = gateway.periods(2026)
    assert len(periods) == 12
    assert periods[0].start == date(2026, 1, 1) and periods[0].status == "closed"
    assert periods[10].end == date(2026, 11, 30) and periods[10].status == "open"
    assert gateway.periods(2031) == []


def test_post_then_replay_then_lookup(gateway: SageGateway, sim: SageSimulator) -> None:
    entry = make_entry()
    first = gateway.post_entry(entry, idempotency_key="key-1")
    assert first.replayed is False and first.entry_no == "000001"
    again = gateway.post_entry(entry, idempotency_key="key-1")
    assert again.replayed is True and again.entry_no == first.entry_no
    found = gateway.lookup(idempotency_key="key-1")
    assert found is not None and found.entry_no == first.entry_no
    assert gateway.lookup(reference=entry.reference).entry_no == first.entry_no  # type: ignore[union-attr]
    assert gateway.lookup(idempotency_key="never-used") is None
    assert stats(sim)["entries"]["ABC"] == 1


def test_agent_lookup_returns_lines(sim: SageSimulator) -> None:
    gateway = open_gateway(make_settings(sim, "agent"))
    gateway.post_entry(make_entry(), idempotency_key="key-lines")
    found = gateway.lookup(idempotency_key="key-lines")
    assert found is not None
    assert [(line.account, line.debit_cents, line.credit_cents) for line in found.lines] == [
        ("6100-01-000", 12540, 0),
        ("2100-00-000", 0, 12540),
    ]
    assert found.source_journal == "GJ" and found.idempotency_key == "key-lines"


def test_same_key_other_body_is_idempotency_mismatch(gateway: SageGateway) -> None:
    gateway.post_entry(make_entry(cents=100), idempotency_key="key-2")
    with pytest.raises(SageReportError) as info:
        gateway.post_entry(make_entry(cents=200), idempotency_key="key-2")
    assert info.value.code == "IDEMPOTENCY_MISMATCH"


def test_replay_across_transports(sim: SageSimulator) -> None:
    entry = make_entry()
    agent = open_gateway(make_settings(sim, "agent"))
    soap = open_gateway(make_settings(sim, "soap"))
    first = agent.post_entry(entry, idempotency_key="shared")
    second = soap.post_entry(entry, idempotency_key="shared")
    assert second.replayed and second.entry_no == first.entry_no


@pytest.mark.parametrize(
    ("entry", "code"),
    [
        (make_entry(account="6999-00-000"), "INVALID_ACCOUNT"),
        (make_entry(account="6900-00-000"), "ACCOUNT_INACTIVE"),
        (make_entry(posting_date=date(2026, 3, 5)), "PERIOD_CLOSED"),
        (make_entry(posting_date=date(2035, 3, 5)), "PERIOD_CLOSED"),
        (make_entry(reference="R" * 31), "VALIDATION"),
        (make_entry(comment="c" * 2049), "VALIDATION"),
    ],
)
def test_report_errors(gateway: SageGateway, entry: object, code: str) -> None:
    with pytest.raises(SageReportError) as info:
        gateway.post_entry(entry, idempotency_key=f"key-{code}")  # type: ignore[arg-type]
    assert info.value.code == code
    assert info.value.kind == "report"


def test_unbalanced(gateway: SageGateway) -> None:
    from connector.sage100.types import JournalEntryPayload, JournalLinePayload

    entry = JournalEntryPayload(
        "GJ",
        date(2026, 11, 20),
        "EXP UNBAL",
        "",
        (JournalLinePayload("6100-01-000", 500, 0), JournalLinePayload("2100-00-000", 0, 400)),
    )
    with pytest.raises(SageReportError) as info:
        gateway.post_entry(entry, idempotency_key="key-unbal")
    assert info.value.code == "UNBALANCED"


def test_key_is_free_again_after_a_refused_body(gateway: SageGateway) -> None:
    with pytest.raises(SageReportError):
        gateway.post_entry(make_entry(account="6999-00-000"), idempotency_key="key-fix")
    assert gateway.post_entry(make_entry(), idempotency_key="key-fix").replayed is False


def test_bad_password_is_company_error_naming_the_user(sim: SageSimulator, transport: str) -> None:
    gateway = open_gateway(make_settings(sim, transport, password="wrong-password-1"))
    with pytest.raises(SageCompanyError) as info:
        gateway.account_structure()
    assert info.value.code == "AUTH_SAGE"
    assert "username or password for user 'connector'" in str(info.value)
    assert "wrong-password-1" not in str(info.value)


def test_bad_agent_key(sim: SageSimulator) -> None:
    gateway = open_gateway(make_settings(sim, "agent", agent_api_key="not-the-key"))
    with pytest.raises(SageCompanyError) as info:
        gateway.ping()
    assert info.value.code == "AUTH_AGENT"


def test_unknown_company(sim: SageSimulator, transport: str) -> None:
    gateway = open_gateway(make_settings(sim, transport, company_code="QQQ"))
    with pytest.raises(SageCompanyError) as info:
        gateway.account_structure()
    assert info.value.code == "COMPANY_NOT_FOUND"


def test_read_only_user_reads_but_cannot_post(sim: SageSimulator, transport: str) -> None:
    gateway = open_gateway(
        make_settings(sim, transport, username=DEMO_READONLY_USERNAME, password=DEMO_READONLY_PASSWORD)
    )
    assert gateway.account_structure().mask == "####-##-###"
    with pytest.raises(SageCompanyError) as info:
        gateway.post_entry(make_entry(), idempotency_key="key-ro")
    assert info.value.code == "NO_ACCESS"


def test_wrong_path_is_config_not_company_not_found(sim: SageSimulator, transport: str) -> None:
    url = sim.base_url + ("/agent" if transport == "agent" else "/ebusinesswebservices/other.svc")
    gateway = open_gateway(make_settings(sim, transport, base_url=url))
    with pytest.raises(SageCompanyError) as info:
        gateway.account_structure()
    assert info.value.code == "CONFIG"


@pytest.mark.parametrize(
    "url",
    ["http://sage.example.com:8443", "ftp://127.0.0.1/x", "http://10.0.0.5/ebusinesswebservices/x.svc"],
)
def test_plain_http_refused_for_other_hosts(url: str) -> None:
    with pytest.raises(SageCompanyError) as info:
        check_url(url, company_code="ABC")
    assert info.value.code == "CONFIG"


@pytest.mark.parametrize(
    "url", ["https://sage.example.com:8443", "http://127.0.0.2:9", "http://[::1]:9", "http://localhost:9"]
)
def test_https_or_loopback_accepted(url: str) -> None:
    check_url(url, company_code="ABC")


def test_record_locked_is_transient_with_retry_after(gateway: SageGateway, sim: SageSimulator) -> None:
    set_faults(sim, {"faults": [{"fault": "record_locked", "retryAfter": 3}]})
    with pytest.raises(SageTransientError) as info:
        gateway.post_entry(make_entry(), idempotency_key="key-lock")
    assert info.value.code == "RECORD_LOCKED"
    assert info.value.retry_after == 3.0
    assert stats(sim)["entries"]["ABC"] == 0


def test_too_many_writes(gateway: SageGateway, sim: SageSimulator) -> None:
    set_faults(sim, {"maxConcurrentWrites": {"ABC": 0}})
    with pytest.raises(SageTransientError) as info:
        gateway.post_entry(make_entry(), idempotency_key="key-busy")
    assert info.value.code == "TOO_MANY_WRITES"
    assert info.value.retry_after == 1.0


@pytest.mark.parametrize("html", [False, True])
def test_unavailable(gateway: SageGateway, sim: SageSimulator, html: bool) -> None:
    set_faults(sim, {"faults": [{"fault": "unavailable", "ops": "all", "html": html}]})
    with pytest.raises(SageTransientError) as info:
        gateway.account_structure()
    assert info.value.code == "SAGE_UNAVAILABLE"


@pytest.mark.parametrize("html", [False, True])
def test_timeout_on_post_is_unknown_outcome(gateway: SageGateway, sim: SageSimulator, html: bool) -> None:
    set_faults(sim, {"faults": [{"fault": "timeout_after", "html": html}]})
    with pytest.raises(SageOutcomeUnknown) as info:
        gateway.post_entry(make_entry(), idempotency_key="key-504")
    assert info.value.kind == "unknown_outcome"
    assert stats(sim)["entries"]["ABC"] == 1


def test_timeout_on_read_is_transient(gateway: SageGateway, sim: SageSimulator) -> None:
    set_faults(sim, {"faults": [{"fault": "timeout_before", "ops": "read"}]})
    with pytest.raises(SageTransientError):
        gateway.periods(2026)


def test_dropped_connection_after_commit_is_unknown(gateway: SageGateway, sim: SageSimulator) -> None:
    set_faults(sim, {"faults": [{"fault": "drop_after"}]})
    with pytest.raises(SageOutcomeUnknown):
        gateway.post_entry(make_entry(), idempotency_key="key-drop")
    assert stats(sim)["entries"]["ABC"] == 1


def test_client_timeout_on_post_is_unknown(sim: SageSimulator, transport: str) -> None:
    gateway = open_gateway(make_settings(sim, transport, read_timeout=0.3))
    set_faults(sim, {"faults": [{"fault": "slow", "latency": 0.8}]})
    with pytest.raises(SageOutcomeUnknown):
        gateway.post_entry(make_entry(), idempotency_key="key-slow")


def test_unreachable_is_transient(transport: str, sim: SageSimulator) -> None:
    port = sim.port
    sim.stop()
    gateway = open_gateway(
        make_settings(sim, transport, base_url=f"http://127.0.0.1:{port}/ebusinesswebservices/masservice.svc")
    )
    with pytest.raises(SageTransientError) as info:
        gateway.post_entry(make_entry(), idempotency_key="key-down")
    assert info.value.code == "SAGE_UNAVAILABLE"
    sim.server = type(sim.server)(("127.0.0.1", 0), sim.book)  # the fixture stops a fresh one
    sim.start()


def test_invalid_idempotency_key_refused_locally(gateway: SageGateway) -> None:
    with pytest.raises(SageReportError):
        gateway.post_entry(make_entry(), idempotency_key="has space")


@pytest.mark.parametrize("cents", [1, 10, 100, 10000, 123456789012])
def test_amounts_go_out_with_two_places(gateway: SageGateway, sim: SageSimulator, cents: int) -> None:
    gateway.post_entry(make_entry(cents=cents), idempotency_key=f"amount-{cents}")
    stored = sim.book.entries("ABC")[0]["lines"][0]["debit"]
    assert stored == f"{cents // 100}.{cents % 100:02d}"


def test_soap_transport_never_loads_from_the_network(sim: SageSimulator) -> None:
    import zeep.exceptions

    from connector.sage100.soap import SoapGateway

    gateway = open_gateway(make_settings(sim, "soap"))
    assert isinstance(gateway, SoapGateway)
    transport = gateway._client.transport
    with pytest.raises(zeep.exceptions.TransportError):
        transport.load(sim.base_url + "/other.wsdl")
    assert stats(sim)["counts"].get("soap", 0) == 0
