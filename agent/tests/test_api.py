"""The HTTP API against the fake BOI over HTTPS: reads, lookup/search, every error code, order of checks."""

from __future__ import annotations

import httpx
import pytest
from mlc_agent.testing import AgentProcess

from tests.conftest import call, code, entry, post
from tests.fakedata import POSTER, VIEWER, VIEWER_PASSWORD


def test_ping_advertises_the_company_write_limit(client: httpx.Client) -> None:
    r = call(client, "/v1/ping")
    assert r.status_code == 200
    assert r.json()["maxConcurrentWrites"] == 2 and r.json()["sageVersion"].startswith("Sage 100")
    assert call(client, "/v1/ping", company="XYZ").json()["maxConcurrentWrites"] == 1


def test_account_structure(client: httpx.Client) -> None:
    assert call(client, "/v1/gl/account-structure").json() == {
        "mask": "####-##-###",
        "separator": "-",
        "segments": [
            {"name": "Main", "length": 4, "type": "numeric"},
            {"name": "Department", "length": 2, "type": "numeric"},
            {"name": "Location", "length": 3, "type": "numeric"},
        ],
    }
    assert call(client, "/v1/gl/account-structure", company="XYZ").json()["mask"] == "AAA-####"


def test_accounts_page_until_the_cursor_is_null(client: httpx.Client) -> None:
    seen, cursor, pages = [], None, 0
    while True:
        r = call(client, "/v1/gl/accounts", {"cursor": cursor, "limit": 4}).json()
        seen += r["accounts"]
        pages += 1
        cursor = r["nextCursor"]
        if cursor is None:
            break
    assert pages == 4 and len(seen) == 13 and len({a["account"] for a in seen}) == 13
    inactive = call(client, "/v1/gl/accounts", {"status": "I"}).json()["accounts"]
    assert [(a["account"], a["status"]) for a in inactive] == [("6900-00-000", "I")]
    assert seen[0] == {
        "account": "2100-00-000",
        "accountKey": "000000100",
        "description": "Employee reimbursements payable",
        "mainAccountCode": "2100",
        "status": "A",
    }


def test_periods(client: httpx.Client) -> None:
    periods = call(client, "/v1/gl/periods", {"fiscalYear": 2026}).json()["periods"]
    assert len(periods) == 12
    assert periods[5] == {"period": 6, "start": "2026-06-01", "end": "2026-06-30", "status": "closed"}
    assert periods[10]["status"] == "open"
    assert call(client, "/v1/gl/periods", {"fiscalYear": 2031}).json() == {"periods": []}


def test_post_lookup_and_search(client: httpx.Client) -> None:
    first = post(client, "api-k1", entry("EXP SEARCH-1", day="2026-11-03")).json()
    second = post(client, "api-k2", entry("EXP SEARCH-2", day="2026-11-20")).json()
    dup = post(client, "api-k3", entry("EXP SEARCH-1", cents=500, day="2026-12-01")).json()
    assert first["entryNo"] < second["entryNo"] < dup["entryNo"]
    found = call(client, "/v1/gl/journal-entries/lookup", {"idempotencyKey": "api-k1"}).json()
    assert found["found"] is True
    assert found["entry"]["comment"] == "Trip" and found["entry"]["idempotencyKey"] == "api-k1"
    assert found["entry"]["lines"][0] == {
        "account": "6100-01-000",
        "debit": "125.40",
        "credit": "0.00",
        "comment": "Hotel",
    }
    newest = call(client, "/v1/gl/journal-entries/lookup", {"reference": "EXP SEARCH-1"}).json()
    assert newest["entry"]["entryNo"] == dup["entryNo"]
    assert call(client, "/v1/gl/journal-entries/lookup", {"idempotencyKey": "nope"}).json() == {
        "found": False
    }
    exact = call(client, "/v1/gl/journal-entries/search", {"reference": "EXP SEARCH-1"}).json()
    assert [e["entryNo"] for e in exact["entries"]] == [first["entryNo"], dup["entryNo"]]
    ranged = call(
        client,
        "/v1/gl/journal-entries/search",
        {
            "referencePrefix": "EXP SEARCH-",
            "postingDateFrom": "2026-11-01",
            "postingDateTo": "2026-11-30",
            "limit": 1,
        },
    ).json()
    assert [e["reference"] for e in ranged["entries"]] == ["EXP SEARCH-1"] and ranged["nextCursor"]
    rest = call(
        client,
        "/v1/gl/journal-entries/search",
        {
            "referencePrefix": "EXP SEARCH-",
            "postingDateFrom": "2026-11-01",
            "postingDateTo": "2026-11-30",
            "cursor": ranged["nextCursor"],
        },
    ).json()
    assert [e["reference"] for e in rest["entries"]] == ["EXP SEARCH-2"] and rest["nextCursor"] is None


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (entry("EXP BAD-1", account="6100-99-000"), 422, "INVALID_ACCOUNT"),
        (entry("EXP BAD-2", account="6900-00-000"), 422, "ACCOUNT_INACTIVE"),
        (entry("EXP BAD-3", account="6950-00-000"), 422, "ACCOUNT_INACTIVE"),
        (entry("EXP BAD-4", day="2026-03-10"), 422, "PERIOD_CLOSED"),
        (entry("EXP BAD-5", day="2031-03-10"), 422, "PERIOD_CLOSED"),
        (entry("EXP BAD-6", cents=0), 422, "VALIDATION"),
        (dict(entry("EXP BAD-7"), reference="X" * 31), 422, "VALIDATION"),
        (dict(entry("EXP BAD-8"), comment="c" * 2049), 422, "VALIDATION"),
    ],
)
def test_entry_errors(client: httpx.Client, body: dict, status: int, expected: str) -> None:
    r = post(client, f"bad-{expected}-{body['reference'][-1]}", body)
    assert (r.status_code, code(r)) == (status, expected)
    assert r.json()["error"]["retryable"] is False


def test_unbalanced(client: httpx.Client) -> None:
    body = entry("EXP UNB")
    body["lines"][1]["credit"] = "125.39"
    r = post(client, "unb-1", body)
    assert (r.status_code, code(r)) == (422, "UNBALANCED")


def test_json_numbers_are_validation(client: httpx.Client) -> None:
    body = entry("EXP NUM")
    body["lines"][0]["debit"] = 125.40
    assert code(post(client, "num-1", body)) == "VALIDATION"


def test_auth_and_access(client: httpx.Client, agent: AgentProcess) -> None:
    with httpx.Client(base_url=agent.base_url, verify=client._transport._pool._ssl_context) as anon:  # type: ignore[attr-defined]
        r = call(anon, "/v1/ping")
        assert (r.status_code, code(r)) == (401, "AUTH_AGENT")
        r = call(anon, "/v1/ping", headers={"Authorization": "Bearer wrong"})
        assert (r.status_code, code(r)) == (401, "AUTH_AGENT")
        assert anon.get("/v1/health").status_code == 401
    assert client.get("/v1/health").json() == {"status": "ok"}
    r = call(client, "/v1/ping", password="wrong-password")
    assert (r.status_code, code(r)) == (401, "AUTH_SAGE")
    assert "wrong-password" not in r.text
    r = call(client, "/v1/ping", company="ZZZ")
    assert (r.status_code, code(r)) == (404, "COMPANY_NOT_FOUND")
    r = call(client, "/v1/ping", company="QQQ")  # in Sage, not configured here
    assert (r.status_code, code(r)) == (404, "COMPANY_NOT_FOUND")
    r = call(client, "/v1/ping", user=VIEWER, password=VIEWER_PASSWORD, company="XYZ")
    assert (r.status_code, code(r)) == (403, "NO_ACCESS")
    # Read rights: reads work, posts are NO_ACCESS.
    assert call(client, "/v1/gl/accounts", {}, user=VIEWER, password=VIEWER_PASSWORD).status_code == 200
    r = post(client, "viewer-1", entry("EXP VIEW"), user=VIEWER, password=VIEWER_PASSWORD)
    assert (r.status_code, code(r)) == (403, "NO_ACCESS")


def test_order_of_checks(client: httpx.Client, agent: AgentProcess) -> None:
    bad_everything = {"logon": {"username": POSTER, "password": "wrong"}, "companyCode": "abc"}
    with httpx.Client(base_url=agent.base_url, verify=client._transport._pool._ssl_context) as anon:  # type: ignore[attr-defined]
        assert code(anon.post("/v1/ping", content=b"not json")) == "AUTH_AGENT"
    assert code(client.post("/v1/ping", content=b"not json")) == "VALIDATION"
    assert code(client.post("/v1/ping", json=bad_everything)) == "VALIDATION"
    # Schema before logon: a post without Idempotency-Key by a wrong password is VALIDATION.
    r = call(client, "/v1/gl/journal-entries", {"entry": entry()}, password="wrong")
    assert code(r) == "VALIDATION"
    # Logon before company, company before rights.
    assert code(call(client, "/v1/ping", password="wrong", company="ZZZ")) == "AUTH_SAGE"
    assert (
        code(call(client, "/v1/ping", user=VIEWER, password=VIEWER_PASSWORD, company="ZZZ"))
        == "COMPANY_NOT_FOUND"
    )
    # Rights before idempotency and the entry's own faults.
    r = post(client, "order-1", entry("EXP O", account="6100-99-000"), user=VIEWER, password=VIEWER_PASSWORD)
    assert code(r) == "NO_ACCESS"
    # Idempotency before period: a committed key with a now-closed-period body is 409, not PERIOD_CLOSED.
    assert post(client, "order-2", entry("EXP O2")).status_code == 201
    assert code(post(client, "order-2", entry("EXP O2", day="2026-02-02"))) == "IDEMPOTENCY_MISMATCH"
    # Period before accounts before balance.
    body = entry("EXP O3", account="6100-99-000", day="2026-02-02")
    body["lines"][1]["credit"] = "1.00"
    assert code(post(client, "order-3", body)) == "PERIOD_CLOSED"
    body["postingDate"] = "2026-11-02"
    assert code(post(client, "order-3", body)) == "INVALID_ACCOUNT"
    body["lines"][0]["account"] = "6100-00-000"
    assert code(post(client, "order-3", body)) == "UNBALANCED"


def test_bad_requests(client: httpx.Client) -> None:
    assert code(call(client, "/v1/gl/accounts", {"limit": 0})) == "VALIDATION"
    assert code(call(client, "/v1/gl/accounts", {"limit": 1001})) == "VALIDATION"
    assert code(call(client, "/v1/gl/accounts", {"status": "X"})) == "VALIDATION"
    assert code(call(client, "/v1/gl/periods", {"fiscalYear": "2026"})) == "VALIDATION"
    assert code(call(client, "/v1/gl/journal-entries/lookup", {})) == "VALIDATION"
    assert (
        code(call(client, "/v1/gl/journal-entries/lookup", {"idempotencyKey": "a", "reference": "b"}))
        == "VALIDATION"
    )
    assert code(call(client, "/v1/gl/journal-entries/search", {"referencePrefix": "EXP "})) == "VALIDATION"
    r = post(client, "k" * 256, entry())
    assert code(r) == "VALIDATION"
    r = post(client, "bad key", entry())
    assert code(r) == "VALIDATION"


def test_unknown_paths_and_methods_have_no_envelope(client: httpx.Client) -> None:
    r = client.post("/v1/nothing", json={})
    assert r.status_code == 404 and "error" not in r.text
    r = client.get("/v1/ping")
    assert r.status_code == 405
    # The test controls exist only in test mode; this agent is in test mode, see test_cli for off.


def test_size_limit(client: httpx.Client) -> None:
    big = entry("EXP BIG", comment="x" * 2000)
    big["padding"] = "y" * 1_100_000
    r = post(client, "big-1", big)
    assert r.status_code == 413 and code(r) == "VALIDATION"
    assert post(client, "big-2", entry("EXP SMALL")).status_code == 201


def test_plain_http_is_refused(agent: AgentProcess) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.post(f"http://127.0.0.1:{agent.port}/v1/ping", json={}, timeout=5)
