"""XML hardening (no DTD, no entity, nothing fetched) and the HTTPS rule for Sage and Expensify URLs.

Existing checks this file does not repeat: tests/sage100/test_answers.py (the simulator's `dtd`
fault, read and post), tests/sage100/test_gateway.py (check_url cases, the SOAP transport never
loads a remote WSDL).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from connector.expensify import ExpensifyAuthError, ExpensifyClient, ExpensifyError
from connector.expensify.parsing import parse_export_text
from connector.sage100.errors import SageCompanyError, SageError, SageOutcomeUnknown
from connector.sage100.gateway import SageSettings, open_gateway
from tests.security.conftest import EXPENSIFY_SECRET, SAGE_PASSWORD

ENVELOPE = (
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
    '<GetAccountStructureResponse xmlns="urn:ml-connector:sage100:gl:v1"/>'
    "</s:Body></s:Envelope>"
)


class Hostile:
    """A loopback HTTP server answering every POST with `body`; it records every request path."""

    def __init__(self) -> None:
        self.body = b""
        self.content_type = "text/xml; charset=utf-8"
        self.paths: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                owner.paths.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.send_response(200)
                self.send_header("Content-Type", owner.content_type)
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            do_POST = _answer
            do_GET = _answer

            def log_message(self, *args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    server = Hostile()
    yield server
    server.close()


def settings(url: str, transport: str = "soap") -> SageSettings:
    return SageSettings(
        transport=transport,
        base_url=url,
        agent_api_key="key-for-hostile-tests",
        username="connector",
        password=SAGE_PASSWORD,
        company_code="ABC",
        connect_timeout=2.0,
        read_timeout=3.0,
    )


def hostile_answers(base: str) -> dict[str, str]:
    """SOAP answers carrying a DTD or entities, in every disguise the byte check might miss."""
    xxe = f'<!DOCTYPE e [<!ENTITY x SYSTEM "{base}/evil.dtd">]>'
    laughs = (
        '<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    )
    external_dtd = f'<!DOCTYPE s:Envelope SYSTEM "{base}/evil.dtd">'
    padded = "<!--" + "x" * 6000 + "-->"  # past the transport's 4 KB byte check: zeep must refuse it
    return {
        "external entity": '<?xml version="1.0"?>' + xxe + ENVELOPE.replace("<s:Body>", "<s:Body>&x;"),
        "entity expansion": '<?xml version="1.0"?>' + laughs + ENVELOPE.replace("<s:Body>", "<s:Body>&c;"),
        "external DTD": '<?xml version="1.0"?>' + external_dtd + ENVELOPE,
        "DTD after 6 KB of comment": '<?xml version="1.0"?>' + padded + xxe + ENVELOPE,
        "lower-case doctype after padding": padded + xxe.replace("DOCTYPE", "doctype") + ENVELOPE,
    }


@pytest.mark.parametrize(
    "name",
    [
        "external entity",
        "entity expansion",
        "external DTD",
        "DTD after 6 KB of comment",
        "lower-case doctype after padding",
    ],
)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_soap_answer_with_dtd_or_entities_is_refused(hostile: Hostile, name: str, encoding: str) -> None:
    text = hostile_answers(hostile.url)[name]
    if encoding == "utf-16":
        text = text.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="utf-16"?>')
    hostile.body = text.encode(encoding)
    gateway = open_gateway(settings(hostile.url + "/MasService.svc"))
    try:
        with pytest.raises(SageError) as caught:
            gateway.account_structure()
    finally:
        gateway.close()
    assert isinstance(caught.value, SageCompanyError)
    assert caught.value.code == "CONFIG"
    assert "could not be read" in str(caught.value)
    assert hostile.paths == ["POST /MasService.svc"], "the answer made us fetch something"


def test_soap_post_answer_with_an_entity_is_an_unknown_outcome(hostile: Hostile) -> None:
    from tests.sage100.conftest import make_entry

    hostile.body = hostile_answers(hostile.url)["DTD after 6 KB of comment"].encode()
    gateway = open_gateway(settings(hostile.url + "/MasService.svc"))
    try:
        with pytest.raises(SageOutcomeUnknown):
            gateway.post_entry(make_entry(), idempotency_key="k-xxe")
    finally:
        gateway.close()
    assert hostile.paths == ["POST /MasService.svc"]


def test_agent_never_reads_xml(hostile: Hostile) -> None:
    hostile.body = hostile_answers(hostile.url)["external entity"].encode()
    gateway = open_gateway(settings(hostile.url, "agent"))
    try:
        with pytest.raises(SageCompanyError, match="not JSON"):
            gateway.account_structure()
    finally:
        gateway.close()
    assert [p.split()[0] for p in hostile.paths] == ["POST"]


def test_expensify_answers_are_never_read_as_xml(hostile: Hostile) -> None:
    hostile.body = hostile_answers(hostile.url)["external entity"].encode()
    client = ExpensifyClient(
        base_url=hostile.url + "/Integration-Server/ExpensifyIntegrations",
        partner_user_id="partner",
        partner_user_secret=EXPENSIFY_SECRET,
        timeout=3,
        max_retry_seconds=0.2,
        retry_initial_seconds=0.01,
        limiter=_limiter(),
    )
    with client, pytest.raises(ExpensifyError) as caught:
        client.list_policies()
    assert "evil.dtd" not in "".join(p for p in hostile.paths if p.startswith("GET"))
    assert all(p.startswith("POST") for p in hostile.paths)
    assert EXPENSIFY_SECRET not in str(caught.value)


def test_expensify_export_parser_treats_xml_as_a_protocol_error() -> None:
    from connector.expensify import ExpensifyProtocolError

    with pytest.raises(ExpensifyProtocolError):
        list(
            parse_export_text(
                '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r/>'
            )
        )


def _limiter() -> Any:
    from tests.expensify.conftest import fast_limiter

    return fast_limiter()


# -- the HTTPS rule -----------------------------------------------------------------------------------

REFUSED = [
    "http://sage.example.com",
    "http://10.0.0.5:8443",
    "HTTP://sage.example.com",
    "http://127.0.0.1.example.com",
    "http://localhost.example.com",
    "http://127.0.0.1@sage.example.com",
    "http://[::ffff:10.0.0.5]",
    "ftp://127.0.0.1/x",
    "file:///etc/passwd",
    "https://",
    "sage.example.com",
]
ACCEPTED = ["https://sage.example.com", "http://127.0.0.1:9", "http://[::1]:9", "http://localhost:9"]


@pytest.mark.parametrize("url", REFUSED)
@pytest.mark.parametrize("transport", ["agent", "soap"])
def test_sage_refuses_plain_http_to_other_hosts_on_both_transports(url: str, transport: str) -> None:
    with pytest.raises(SageCompanyError) as caught:
        open_gateway(settings(url, transport))
    assert caught.value.code == "CONFIG"
    assert "https://" in str(caught.value)


@pytest.mark.parametrize("url", REFUSED)
def test_expensify_refuses_plain_http_to_other_hosts(url: str) -> None:
    with pytest.raises(ExpensifyAuthError, match="must start with https://"):
        ExpensifyClient(base_url=url, partner_user_id="partner", partner_user_secret=EXPENSIFY_SECRET)


@pytest.mark.parametrize("url", ACCEPTED)
def test_expensify_accepts_https_and_loopback(url: str) -> None:
    ExpensifyClient(
        base_url=url, partner_user_id="partner", partner_user_secret=EXPENSIFY_SECRET, limiter=_limiter()
    ).close()


@pytest.mark.django_db
def test_a_company_with_a_plain_http_expensify_url_is_refused_before_any_request(company: Any) -> None:
    from connector.expensify import client_for_company
    from tests.factories import ExpensifyCredentialFactory

    ExpensifyCredentialFactory(company=company, base_url="http://integrations.example.com/x")
    with pytest.raises(ExpensifyAuthError) as caught:
        client_for_company(company)
    assert EXPENSIFY_SECRET not in str(caught.value)
