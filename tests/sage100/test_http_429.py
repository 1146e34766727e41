"""HTTP 429 without Sage's own word, on both transports, with and without Retry-After.

A proxy or an overloaded host in front of the agent or the SOAP service answers 429 with a plain
page: the one HTTP layer (connector/sage100/http.py) classifies it the same way on both: a read
is retried after Retry-After, a post learns nothing (settled by lookup under the same key).
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connector.sage100.errors import SageOutcomeUnknown, SageTransientError
from connector.sage100.gateway import SageSettings, open_gateway
from tests.sage100.conftest import make_entry


class Busy(BaseHTTPRequestHandler):
    retry_after: str | None = None

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<html><body>Too Many Requests</body></html>"
        self.send_response(429)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        if self.retry_after is not None:
            self.send_header("Retry-After", self.retry_after)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def busy() -> Iterator[type[Busy]]:
    handler = type("BusyHandler", (Busy,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.port = server.server_address[1]  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler
    server.shutdown()
    server.server_close()


def busy_settings(handler: type[Busy], transport: str) -> SageSettings:
    port = handler.port  # type: ignore[attr-defined]
    path = "" if transport == "agent" else "/ebusinesswebservices/masservice.svc"
    return SageSettings(
        transport=transport,
        base_url=f"http://127.0.0.1:{port}{path}",
        agent_api_key="agent-key-429",
        username="connector",
        password="sage-password-429",
        company_code="ABC",
        connect_timeout=2.0,
        read_timeout=5.0,
    )


@pytest.mark.parametrize("transport", ["agent", "soap"])
@pytest.mark.parametrize(("header", "expected"), [("7", 7.0), (None, None)])
def test_a_read_meeting_429_is_retried_after_retry_after(
    busy: type[Busy], transport: str, header: str | None, expected: float | None
) -> None:
    busy.retry_after = header
    with open_gateway(busy_settings(busy, transport)) as gateway:  # type: ignore[attr-defined]
        with pytest.raises(SageTransientError) as caught:
            gateway.account_structure()
    assert caught.value.code == "TOO_MANY_WRITES"
    assert caught.value.retry_after == expected


@pytest.mark.parametrize("transport", ["agent", "soap"])
def test_an_http_date_retry_after_counts_from_now(busy: type[Busy], transport: str) -> None:
    busy.retry_after = email.utils.formatdate(time.time() + 30, usegmt=True)
    with open_gateway(busy_settings(busy, transport)) as gateway:  # type: ignore[attr-defined]
        with pytest.raises(SageTransientError) as caught:
            gateway.periods(2026)
    assert caught.value.retry_after is not None and 25 <= caught.value.retry_after <= 30


@pytest.mark.parametrize("transport", ["agent", "soap"])
@pytest.mark.parametrize("header", ["3", None])
def test_a_post_meeting_429_without_sages_word_is_settled_not_guessed(
    busy: type[Busy], transport: str, header: str | None
) -> None:
    busy.retry_after = header
    with open_gateway(busy_settings(busy, transport)) as gateway:  # type: ignore[attr-defined]
        with pytest.raises(SageOutcomeUnknown):
            gateway.post_entry(make_entry(), idempotency_key="mlc:ABC:R429:abc")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("7", 7.0), (" 12 ", 12.0), ("0.5", 0.5), ("٣", None), ("¹", None), ("-1", None), ("1e3", None),
     ("nan", None), ("", None), (None, None), ("soon", None)],
)
def test_one_retry_after_parser_for_both_systems(value: str | None, seconds: float | None) -> None:
    from connector.httpcommon import parse_retry_after

    assert parse_retry_after(value) == seconds


def test_retry_after_as_an_http_date() -> None:
    from connector.httpcommon import parse_retry_after

    now = 1_800_000_000.0
    assert parse_retry_after(email.utils.formatdate(now + 90, usegmt=True), clock=lambda: now) == 90.0
    assert parse_retry_after(email.utils.formatdate(now - 90, usegmt=True), clock=lambda: now) == 0.0
