"""Fuzzed answers: the Expensify and Sage parsers raise only their module's typed error, with a message.

Existing checks not repeated: tests/expensify/test_parsing.py (any text survives any chunking,
broken documents), tests/sage100/test_answers.py (hand-picked malformed answers).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.expensify import ExpensifyProtocolError, ExpensifyReport, RejectedReport
from connector.expensify.parsing import parse_export, parse_export_text, policy_from_json, report_from_json
from connector.expensify.types import PolicyData
from connector.sage100 import parsing as p
from connector.sage100.errors import SageError
from connector.sage100.gateway import SageSettings, open_gateway
from tests.sage100.conftest import make_entry

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_NETWORK = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=25,
)
REPORT_KEYS = [
    "reportID",
    "reportName",
    "status",
    "accountEmail",
    "policyID",
    "currency",
    "total",
    "created",
    "submitted",
    "approved",
    "transactionList",
]
EXPENSE_KEYS = [
    "transactionID",
    "merchant",
    "modifiedMerchant",
    "category",
    "tag",
    "currency",
    "amount",
    "modifiedAmount",
    "convertedAmount",
    "created",
    "modifiedCreated",
    "reimbursable",
    "comment",
]
expenses = st.dictionaries(st.sampled_from(EXPENSE_KEYS), json_values, max_size=len(EXPENSE_KEYS))
reports = st.dictionaries(
    st.sampled_from(REPORT_KEYS), json_values | st.lists(expenses, max_size=3), max_size=len(REPORT_KEYS)
)


def typed_or_nothing(call: Callable[[], Any], error: type[Exception]) -> Any:
    """`call()`'s value, or None when it raised `error` with a readable message; anything else fails."""
    try:
        return call()
    except error as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        return None


# -- Expensify -----------------------------------------------------------------------------------


@FUZZ
@given(st.text(max_size=300))
def test_export_parser_on_any_text(text: str) -> None:
    typed_or_nothing(lambda: list(parse_export_text(text)), ExpensifyProtocolError)


@FUZZ
@given(st.binary(max_size=300))
def test_export_parser_on_any_bytes(data: bytes) -> None:
    typed_or_nothing(lambda: list(parse_export(io.BytesIO(data))), ExpensifyProtocolError)


@FUZZ
@given(st.lists(reports | json_values, max_size=4), json_values)
def test_export_parser_on_json_shaped_documents(items: list[Any], extra: Any) -> None:
    document = json.dumps({"extra": extra, "reports": items})
    parsed = typed_or_nothing(lambda: list(parse_export_text(document)), ExpensifyProtocolError)
    for item in parsed or []:
        assert isinstance(item, (ExpensifyReport, RejectedReport))
        if isinstance(item, RejectedReport):
            assert str(item.reason).strip()


@FUZZ
@given(reports | json_values)
def test_one_report_is_a_report_a_rejection_or_a_protocol_error(raw: Any) -> None:
    result = typed_or_nothing(lambda: report_from_json(raw), ExpensifyProtocolError)
    assert result is None or isinstance(result, (ExpensifyReport, RejectedReport))


@FUZZ
@given(
    json_values | st.dictionaries(st.sampled_from(["categories", "tags", "employees", "name"]), json_values)
)
def test_policy_data_on_any_json(raw: Any) -> None:
    result = typed_or_nothing(lambda: policy_from_json("POL1", raw), ExpensifyProtocolError)
    assert result is None or isinstance(result, PolicyData)


# -- Sage: the strict readers ---------------------------------------------------------------------


@FUZZ
@given(json_values, st.text(max_size=10))
def test_sage_readers_raise_only_malformed(value: Any, name: str) -> None:
    holder = {name: value}
    for reader in (p.text, p.whole, p.flag):
        typed_or_nothing(lambda reader=reader: reader(holder, name), p.Malformed)  # type: ignore[misc]
        typed_or_nothing(lambda reader=reader: reader(value, name), p.Malformed)  # type: ignore[misc]
    typed_or_nothing(lambda: p.day(value, name), p.Malformed)
    typed_or_nothing(lambda: p.cents(value, name), p.Malformed)


@FUZZ
@given(st.none() | st.text(max_size=40))
def test_retry_after_never_raises(value: str | None) -> None:
    result = p.retry_after(value)
    assert result is None or result >= 0


# -- Sage: whole answers through both transports -----------------------------------------------------

SETTINGS = SageSettings(
    transport="agent",
    base_url="http://127.0.0.1:9",
    agent_api_key="fuzz-agent-key",
    username="connector",
    password="fuzz-password",
    company_code="ABC",
    connect_timeout=1.0,
    read_timeout=1.0,
)
OPERATIONS: dict[str, Callable[[Any], Any]] = {
    "ping": lambda g: g.ping(),
    "structure": lambda g: g.account_structure(),
    "accounts": lambda g: list(g.accounts()),
    "periods": lambda g: g.periods(2026),
    "post": lambda g: g.post_entry(make_entry(), idempotency_key="k-fuzz"),
    "lookup": lambda g: g.lookup(idempotency_key="k-fuzz"),
}


def answering(status: int, body: bytes, content_type: str) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        # A stream, not content=: like a real answer it is read, closed and timed by the client.
        return httpx.Response(status, stream=httpx.ByteStream(body), headers={"Content-Type": content_type})

    return httpx.Client(transport=httpx.MockTransport(handler), base_url=SETTINGS.base_url)


agent_bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(
        st.sampled_from(
            ["error", "segments", "accounts", "periods", "entryNo", "batchNo", "nextCursor", "found"]
        ),
        json_values,
    ).map(lambda v: json.dumps(v).encode()),
    json_values.map(lambda v: json.dumps({"error": {"code": v, "message": v}}).encode()),
)


@FUZZ_NETWORK
@given(
    st.sampled_from(sorted(OPERATIONS)),
    st.sampled_from([200, 201, 400, 401, 404, 409, 429, 500, 503]),
    agent_bodies,
)
def test_agent_answers_raise_only_sage_errors(operation: str, status: int, body: bytes) -> None:
    gateway: Any = open_gateway(SETTINGS)
    gateway._http = answering(status, body, "application/json")
    try:
        typed_or_nothing(lambda: OPERATIONS[operation](gateway), SageError)
    finally:
        gateway.close()


NS = "urn:ml-connector:sage100:gl:v1"
SOAP_RESPONSES = {
    "structure": "GetGLAccountStructureResponse",
    "accounts": "GetGLAccountsResponse",
    "periods": "GetGLPeriodsResponse",
    "post": "CreateGLJournalEntryResponse",
    "lookup": "FindGLJournalEntryResponse",
}
xml_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
xml_names = st.sampled_from(
    [
        *("Mask", "Separator", "Segments", "Segment", "Accounts", "Account", "Periods", "Period"),
        *("JournalEntryResult", "Replayed", "EntryNo", "Code", "Message", "MASFault", "x"),
    ]
)
xml_children = st.recursive(
    st.tuples(xml_names, xml_text).map(lambda t: f"<{t[0]}>{_escape(t[1])}</{t[0]}>"),
    lambda inner: st.tuples(xml_names, st.lists(inner, max_size=3)).map(
        lambda t: f"<{t[0]}>{''.join(t[1])}</{t[0]}>"
    ),
    max_leaves=8,
)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def envelope(operation: str, inner: str) -> bytes:
    response = SOAP_RESPONSES.get(operation, "PingResponse")
    return (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        f'<{response} xmlns="{NS}">{inner}</{response}></s:Body></s:Envelope>'
    ).encode()


FAULT = (
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
    "<faultcode>s:Server</faultcode><faultstring>{text}</faultstring>{detail}"
    "</s:Fault></s:Body></s:Envelope>"
)


soap_bodies = st.one_of(
    st.binary(max_size=200).map(lambda b: ("raw", b)),
    st.lists(xml_children, max_size=3).map(lambda parts: ("envelope", "".join(parts))),
    st.tuples(xml_text, st.lists(xml_children, max_size=2)).map(lambda t: ("fault", t)),
)


@FUZZ_NETWORK
@given(st.sampled_from(sorted(SOAP_RESPONSES)), st.sampled_from([200, 500]), soap_bodies)
def test_soap_answers_raise_only_sage_errors(operation: str, status: int, body: tuple[str, Any]) -> None:
    kind, content = body
    if kind == "envelope":
        raw = envelope(operation, content)
    elif kind == "fault":
        text, detail = content
        inner = f'<detail><MASFault xmlns="{NS}">{"".join(detail)}</MASFault></detail>' if detail else ""
        raw = FAULT.format(text=_escape(text), detail=inner).encode()
    else:
        raw = content
    gateway: Any = open_gateway(
        SageSettings(
            **{**SETTINGS.__dict__, "transport": "soap", "base_url": "http://127.0.0.1:9/MasService.svc"}
        )
    )
    gateway._transport.client = answering(status, raw, "text/xml; charset=utf-8")
    try:
        typed_or_nothing(lambda: OPERATIONS[operation](gateway), SageError)
    finally:
        gateway.close()
