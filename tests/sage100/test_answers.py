"""Hostile and malformed answers: refused with a clear error, never a crash."""

from __future__ import annotations

import httpx
import pytest
import respx
import zeep.exceptions

from connector.sage100.errors import (
    SageCompanyError,
    SageOutcomeUnknown,
    SageReportError,
    SageTransientError,
)
from connector.sage100.gateway import SageGateway, SageSettings, open_gateway
from connector.sage100.soap import SoapGateway
from simulators.sage100 import SageSimulator
from tests.sage100.conftest import make_entry, make_settings, set_faults

BASE = "http://127.0.0.1:9"


def test_soap_answer_with_a_dtd_is_refused(sim: SageSimulator) -> None:
    gateway = open_gateway(make_settings(sim, "soap"))
    set_faults(sim, {"faults": [{"fault": "dtd", "ops": "read"}]})
    with pytest.raises(SageCompanyError) as info:
        gateway.account_structure()
    assert "DTD" in str(info.value)


def test_soap_post_answer_with_a_dtd_is_an_unknown_outcome(sim: SageSimulator) -> None:
    gateway = open_gateway(make_settings(sim, "soap"))
    set_faults(sim, {"faults": [{"fault": "dtd"}]})
    with pytest.raises(SageOutcomeUnknown):
        gateway.post_entry(make_entry(), idempotency_key="k-dtd")


@pytest.mark.parametrize(
    ("faultstring", "kind"),
    [
        ("An exception occurred. Batch 00042 is in use by another user.", SageTransientError),
        ("An exception occurred. Record locked.", SageTransientError),
        ("The operation timed out", SageOutcomeUnknown),
        ("Service not available", SageTransientError),
        ("Too many users", SageTransientError),
        ("Invalid logon", SageCompanyError),
        ("No Access to module G/L", SageCompanyError),
        ("An exception occurred. CI_NoKey", SageReportError),
    ],
)
def test_soap_fault_without_code_is_classified_by_text(
    sim: SageSimulator, faultstring: str, kind: type
) -> None:
    gateway = open_gateway(make_settings(sim, "soap"))
    assert isinstance(gateway, SoapGateway)
    error = gateway._from_fault(zeep.exceptions.Fault(faultstring, code="s:Server"), is_post=True)
    assert isinstance(error, kind)


def agent_gateway() -> SageGateway:
    return open_gateway(SageSettings("agent", BASE, "key-abcd", "u", "pass-abcd", "ABC", 1, 1))


@respx.mock
def test_agent_malformed_read_is_a_config_error() -> None:
    respx.post(f"{BASE}/v1/gl/account-structure").mock(
        return_value=httpx.Response(200, json={"mask": "####", "segments": "nope"})
    )
    with pytest.raises(SageCompanyError) as info:
        agent_gateway().account_structure()
    assert info.value.code == "CONFIG" and "segments" in str(info.value)


@respx.mock
def test_agent_malformed_post_answer_is_an_unknown_outcome() -> None:
    respx.post(f"{BASE}/v1/gl/journal-entries").mock(return_value=httpx.Response(201, text="<html>"))
    with pytest.raises(SageOutcomeUnknown):
        agent_gateway().post_entry(make_entry(), idempotency_key="k")


@respx.mock
def test_agent_classifies_by_code_not_status() -> None:
    respx.post(f"{BASE}/v1/gl/journal-entries").mock(
        return_value=httpx.Response(
            500, json={"error": {"code": "RECORD_LOCKED", "message": "locked"}}, headers={"Retry-After": "4"}
        )
    )
    with pytest.raises(SageTransientError) as info:
        agent_gateway().post_entry(make_entry(), idempotency_key="k")
    assert info.value.code == "RECORD_LOCKED" and info.value.retry_after == 4.0


@respx.mock
def test_agent_413_without_code_is_config() -> None:
    respx.post(f"{BASE}/v1/gl/journal-entries").mock(return_value=httpx.Response(413, text="too big"))
    with pytest.raises(SageCompanyError) as info:
        agent_gateway().post_entry(make_entry(), idempotency_key="k")
    assert info.value.code == "CONFIG"


@respx.mock
def test_agent_looping_cursor_is_refused() -> None:
    respx.post(f"{BASE}/v1/gl/accounts").mock(
        return_value=httpx.Response(200, json={"accounts": [], "nextCursor": "again"})
    )
    with pytest.raises(SageCompanyError):
        list(agent_gateway().accounts())


def test_soap_request_that_cannot_be_built_is_a_report_error(sim: SageSimulator) -> None:
    from connector.sage100.types import JournalEntryPayload

    gateway = open_gateway(make_settings(sim, "soap"))
    entry = make_entry()
    broken = JournalEntryPayload(entry.source_journal, "not a date", entry.reference, "", entry.lines)  # type: ignore[arg-type]
    with pytest.raises(SageReportError):
        gateway.post_entry(broken, idempotency_key="k-broken")
