"""Search and lookup with lines (contract 1.1) on both transports and both simulator front ends."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from connector.sage100.errors import SageCompanyError
from connector.sage100.gateway import SageGateway, open_gateway
from simulators.sage100 import SageSimulator
from simulators.sage100.demo import (
    DEMO_AGENT_API_KEY,
    DEMO_PASSWORD,
    DEMO_READONLY_PASSWORD,
    DEMO_READONLY_USERNAME,
    DEMO_USERNAME,
)
from tests.sage100.conftest import make_entry, make_settings, stats

NOV = (date(2026, 11, 1), date(2026, 11, 30))


def lines_of(entry: object) -> list[tuple[str, int, int, str]]:
    return [(ln.account, ln.debit_cents, ln.credit_cents, ln.comment) for ln in entry.lines]  # type: ignore[attr-defined]


def test_search_by_reference_returns_every_entry_by_entry_no(gateway: SageGateway) -> None:
    gateway.post_entry(make_entry("EXP TWICE", cents=100), idempotency_key="k-a")
    gateway.post_entry(make_entry("EXP OTHER", cents=150), idempotency_key="k-b")
    gateway.post_entry(make_entry("EXP TWICE", cents=200), idempotency_key="k-c")
    found = gateway.search(reference="EXP TWICE")
    assert [(e.entry_no, e.idempotency_key) for e in found] == [("000001", "k-a"), ("000003", "k-c")]
    assert lines_of(found[1]) == [("6100-01-000", 200, 0, "Hotel"), ("2100-00-000", 0, 200, "")]
    assert found[0].source_journal == "GJ" and found[0].comment == "Trip to Denver"
    assert gateway.search(reference="EXP NONE") == []


def test_search_by_prefix_and_dates_pages_through_everything(
    gateway: SageGateway, sim: SageSimulator
) -> None:
    # The demo agent pages 7 at a time: 16 matches take 3 pages over the agent.
    for i in range(16):
        gateway.post_entry(
            make_entry(f"EXP P{i:02d}", posting_date=date(2026, 11, 1 + i)), idempotency_key=f"p{i}"
        )
    gateway.post_entry(make_entry("MAN P99"), idempotency_key="other-prefix")
    gateway.post_entry(make_entry("EXP DEC", posting_date=date(2026, 12, 1)), idempotency_key="december")
    found = gateway.search(reference_prefix="EXP ", posting_date_from=NOV[0], posting_date_to=NOV[1])
    assert [e.reference for e in found] == [f"EXP P{i:02d}" for i in range(16)]
    assert [e.entry_no for e in found] == sorted(e.entry_no for e in found)
    assert all(len(e.lines) == 2 for e in found)
    inclusive = gateway.search(
        reference_prefix="EXP P", posting_date_from=date(2026, 11, 3), posting_date_to=date(2026, 11, 5)
    )
    assert [e.reference for e in inclusive] == ["EXP P02", "EXP P03", "EXP P04"]
    if stats(sim)["counts"].get("/v1/gl/journal-entries/search"):
        assert stats(sim)["counts"]["/v1/gl/journal-entries/search"] == 3 + 1


def test_lookup_by_reference_gives_the_newest(gateway: SageGateway) -> None:
    gateway.post_entry(make_entry("EXP SAME", cents=100), idempotency_key="old")
    gateway.post_entry(make_entry("EXP SAME", cents=300), idempotency_key="new")
    found = gateway.lookup(reference="EXP SAME")
    assert found is not None and found.idempotency_key == "new" and found.entry_no == "000002"


def test_lookup_carries_lines_journal_comment_and_key(gateway: SageGateway) -> None:
    gateway.post_entry(make_entry("EXP LINES"), idempotency_key="key-lines")
    for found in (gateway.lookup(idempotency_key="key-lines"), gateway.lookup(reference="EXP LINES")):
        assert found is not None
        assert lines_of(found) == [("6100-01-000", 12540, 0, "Hotel"), ("2100-00-000", 0, 12540, "")]
        assert (found.source_journal, found.comment, found.idempotency_key) == (
            "GJ",
            "Trip to Denver",
            "key-lines",
        )
        assert found.replayed is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"reference": "EXP A", "reference_prefix": "EXP "},
        {"reference_prefix": "EXP ", "posting_date_from": NOV[0]},
        {"reference_prefix": "EXP ", "posting_date_from": NOV[1], "posting_date_to": NOV[0]},
    ],
)
def test_search_takes_a_reference_or_a_prefix_with_dates(
    gateway: SageGateway, kwargs: dict[str, object]
) -> None:
    with pytest.raises(ValueError):
        gateway.search(**kwargs)  # type: ignore[arg-type]


def test_search_is_a_read_a_read_only_user_may_do(sim: SageSimulator, transport: str) -> None:
    open_gateway(make_settings(sim, transport)).post_entry(make_entry("EXP RO"), idempotency_key="ro")
    reader = open_gateway(
        make_settings(sim, transport, username=DEMO_READONLY_USERNAME, password=DEMO_READONLY_PASSWORD)
    )
    assert [e.reference for e in reader.search(reference="EXP RO")] == ["EXP RO"]


def test_search_wrong_password_is_a_company_error(sim: SageSimulator, transport: str) -> None:
    gateway = open_gateway(make_settings(sim, transport, password="not-it"))
    with pytest.raises(SageCompanyError) as info:
        gateway.search(reference="EXP X")
    assert info.value.code == "AUTH_SAGE"


def agent_search(
    sim: SageSimulator, body: dict[str, object], key: str = DEMO_AGENT_API_KEY
) -> httpx.Response:
    return httpx.post(
        sim.base_url + "/v1/gl/journal-entries/search", json=body, headers={"Authorization": f"Bearer {key}"}
    )


def test_agent_search_order_of_checks(sim: SageSimulator) -> None:
    good = {"logon": {"username": DEMO_USERNAME, "password": DEMO_PASSWORD}, "companyCode": "ABC"}
    bad_schema = dict(good, reference="EXP A", referencePrefix="EXP ")
    # API key before schema, schema before logon, logon before company.
    assert agent_search(sim, bad_schema, key="wrong").json()["error"]["code"] == "AUTH_AGENT"
    bad_logon = dict(bad_schema, logon={"username": DEMO_USERNAME, "password": "x"})
    assert agent_search(sim, bad_logon).json()["error"]["code"] == "VALIDATION"
    unknown = dict(good, companyCode="QQQ", reference="EXP A")
    assert agent_search(sim, dict(unknown, logon={"username": "x", "password": "y"})).json()["error"][
        "code"
    ] == ("AUTH_SAGE")
    assert agent_search(sim, unknown).json()["error"]["code"] == "COMPANY_NOT_FOUND"
    for broken in (
        dict(good, referencePrefix="EXP ", postingDateFrom="2026-11-01"),
        dict(good, referencePrefix="EXP ", postingDateFrom="2026-11-01", postingDateTo="Nov 30"),
        dict(good, reference="EXP A", limit=0),
        dict(good, reference=7),
    ):
        answer = agent_search(sim, broken)
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "VALIDATION"


def test_agent_search_honours_limit_with_a_cursor(sim: SageSimulator) -> None:
    gateway = open_gateway(make_settings(sim, "agent"))
    for i in range(3):
        gateway.post_entry(make_entry("EXP LIM"), idempotency_key=f"lim-{i}")
    sim.book.set_faults({})
    body = {
        "logon": {"username": DEMO_USERNAME, "password": DEMO_PASSWORD},
        "companyCode": "ABC",
        "reference": "EXP LIM",
        "cursor": None,
        "limit": 2,
    }
    first = agent_search(sim, body).json()
    assert [e["entryNo"] for e in first["entries"]] == ["000001", "000002"] and first["nextCursor"]
    second = agent_search(sim, dict(body, cursor=first["nextCursor"])).json()
    assert [e["entryNo"] for e in second["entries"]] == ["000003"] and second["nextCursor"] is None


def test_soap_find_and_search_answers_hold_the_lines(sim: SageSimulator) -> None:
    gateway = open_gateway(make_settings(sim, "agent"))
    gateway.post_entry(make_entry("EXP XML"), idempotency_key="xml")
    envelope = (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        '<FindGLJournalEntry xmlns="urn:ml-connector:sage100:gl:v1">'
        f"<logon><Username>{DEMO_USERNAME}</Username><Password>{DEMO_PASSWORD}</Password></logon>"
        "<companyCode>ABC</companyCode><idempotencyKey>xml</idempotencyKey>"
        "</FindGLJournalEntry></s:Body></s:Envelope>"
    )
    answer = httpx.post(
        sim.soap_url,
        content=envelope,
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": '"urn:ml-connector:sage100:gl:v1/FindGLJournalEntry"',
        },
    ).text
    order = ["<Replayed>", "<SourceJournal>", "<Comment>", "<IdempotencyKey>", "<Lines><Line><Account>"]
    positions = [answer.index(tag) for tag in order]
    assert positions == sorted(positions)
