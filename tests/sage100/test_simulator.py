"""The simulator holds clients to the contract: order of checks, schema, idempotency, SOAP rules."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from simulators.sage100 import SageSimulator
from simulators.sage100.demo import DEMO_AGENT_API_KEY, DEMO_PASSWORD, DEMO_USERNAME
from tests.sage100.conftest import make_entry, set_faults, stats

AUTH = {"Authorization": f"Bearer {DEMO_AGENT_API_KEY}"}
LOGON = {"logon": {"username": DEMO_USERNAME, "password": DEMO_PASSWORD}, "companyCode": "ABC"}


def agent(sim: SageSimulator, path: str, body: Any, **headers: str) -> httpx.Response:
    return httpx.post(sim.base_url + path, json=body, headers={**AUTH, **headers})


def test_api_key_is_checked_before_the_schema(sim: SageSimulator) -> None:
    answer = httpx.post(sim.base_url + "/v1/ping", content=b"not json")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "AUTH_AGENT"


def test_schema_is_checked_before_logon(sim: SageSimulator) -> None:
    body = {"logon": {"username": "x", "password": "y"}, "companyCode": "abc"}
    answer = agent(sim, "/v1/ping", body)
    assert (answer.status_code, answer.json()["error"]["code"]) == (422, "VALIDATION")


def test_amounts_must_be_strings(sim: SageSimulator) -> None:
    entry = make_entry().to_json()
    entry["lines"][0]["debit"] = 125.40
    answer = agent(sim, "/v1/gl/journal-entries", {**LOGON, "entry": entry}, **{"Idempotency-Key": "k"})
    assert answer.json()["error"]["code"] == "VALIDATION"


def test_post_needs_an_idempotency_key(sim: SageSimulator) -> None:
    answer = agent(sim, "/v1/gl/journal-entries", {**LOGON, "entry": make_entry().to_json()})
    assert answer.json()["error"]["code"] == "VALIDATION"


def test_one_non_zero_side_per_line(sim: SageSimulator) -> None:
    entry = make_entry().to_json()
    entry["lines"][0]["credit"] = "1.00"
    answer = agent(sim, "/v1/gl/journal-entries", {**LOGON, "entry": entry}, **{"Idempotency-Key": "k"})
    assert answer.json()["error"]["code"] == "VALIDATION"


def test_two_concurrent_posts_with_one_key_give_one_entry(sim: SageSimulator) -> None:
    set_faults(sim, {"writeLatency": 0.2})
    body = {**LOGON, "entry": make_entry().to_json()}
    answers: list[httpx.Response] = []

    def post() -> None:
        answers.append(agent(sim, "/v1/gl/journal-entries", body, **{"Idempotency-Key": "same"}))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.status_code for a in answers) == [200, 201]
    assert stats(sim)["entries"]["ABC"] == 1


def test_accounts_pages_hold_fewer_than_the_limit(sim: SageSimulator) -> None:
    answer = agent(sim, "/v1/gl/accounts", {**LOGON, "cursor": None, "limit": 1000}).json()
    assert len(answer["accounts"]) == 7 and answer["nextCursor"]


def soap(sim: SageSimulator, body: str, action: str) -> httpx.Response:
    return httpx.post(
        sim.soap_url,
        content=body.encode(),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": action},
    )


ENVELOPE = (
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
    '<GetGLAccountStructure xmlns="urn:ml-connector:sage100:gl:v1">'
    f"<logon><Username>{DEMO_USERNAME}</Username><Password>{DEMO_PASSWORD}</Password></logon>"
    "<companyCode>ABC</companyCode></GetGLAccountStructure></s:Body></s:Envelope>"
)


def test_soap_request_ok_and_soapaction_checked(sim: SageSimulator) -> None:
    ok = soap(sim, ENVELOPE, '"urn:ml-connector:sage100:gl:v1/GetGLAccountStructure"')
    assert ok.status_code == 200 and b"<Mask>####-##-###</Mask>" in ok.content
    wrong = soap(sim, ENVELOPE, '"urn:ml-connector:sage100:gl:v1/GetGLAccounts"')
    assert wrong.status_code == 500 and b"<Code>VALIDATION</Code>" in wrong.content


@pytest.mark.parametrize(
    "body",
    [
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "y">]>' + ENVELOPE,
        ENVELOPE.replace("<companyCode>ABC</companyCode>", "")
        .replace("<logon>", "<companyCode>ABC</companyCode><logon>"),
        ENVELOPE.replace('xmlns="urn:ml-connector:sage100:gl:v1"', ""),
    ],
)
def test_soap_refuses_dtd_wrong_order_and_namespace(sim: SageSimulator, body: str) -> None:
    answer = soap(sim, body, '"urn:ml-connector:sage100:gl:v1/GetGLAccountStructure"')
    assert answer.status_code == 500
    assert b"<faultcode>s:Client</faultcode>" in answer.content
    assert b"<Code>VALIDATION</Code>" in answer.content


def test_controls_reset(sim: SageSimulator) -> None:
    set_faults(sim, {"faults": [{"fault": "unavailable", "times": None, "ops": "all"}]})
    httpx.post(sim.base_url + "/_sim/reset").raise_for_status()
    assert agent(sim, "/v1/ping", LOGON).status_code == 200


def test_runs_as_a_subprocess() -> None:
    import subprocess
    import sys

    from connector.sage100.gateway import SageSettings, open_gateway

    process = subprocess.Popen(
        [sys.executable, "-m", "simulators.sage100", "--port", "0", "--demo"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        base_url = line.split(" on ", 1)[1].split(" ", 1)[0]
        settings = SageSettings(
            "agent", base_url, DEMO_AGENT_API_KEY, DEMO_USERNAME, DEMO_PASSWORD, "ABC", 2, 5
        )
        assert open_gateway(settings).ping().max_concurrent_writes == 2
    finally:
        process.terminate()
        process.wait(10)
