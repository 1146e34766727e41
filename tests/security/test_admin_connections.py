"""Issue 11 items 13 and 14 in the admin: a changed host needs its secrets typed again; connection
tests show our classification, never the remote body; every company's secret is redacted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from connector import logs
from connector.models import Company, ExpensifyCredential, SageConnection
from connector.roles import ADMINISTRATOR
from simulators.expensify import ExpensifySimulator
from tests.factories import CompanyFactory, ExpensifyCredentialFactory, SageConnectionFactory
from tests.foundation.test_admin import company_form_data, staff_client

pytestmark = pytest.mark.django_db

B_PARTNER_SECRET = "B-partner-secret-Zq81"
B_AGENT_KEY = "B-agent-key-Lm42"
B_SAGE_PASSWORD = "B-sage-password-Wy07"
REMOTE_MARKER = "REMOTE-BODY-Xj5"


@pytest.fixture(autouse=True)
def fresh_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing known in advance: only the stored credentials can tell redact() what to blank.
    monkeypatch.setattr(logs, "_secrets", set())
    monkeypatch.setattr(logs, "_stored", logs._StoredSecrets())


@pytest.fixture
def admin() -> Client:
    return staff_client(ADMINISTRATOR)


@pytest.fixture
def wired(company: Company) -> Company:
    ExpensifyCredentialFactory(company=company)
    SageConnectionFactory(company=company)
    return company


@pytest.fixture
def company_b() -> Company:
    other = CompanyFactory(code="BBB", name="Beta Builders")
    ExpensifyCredentialFactory(company=other, partner_user_secret=B_PARTNER_SECRET)
    SageConnectionFactory(company=other, agent_api_key=B_AGENT_KEY, sage_password=B_SAGE_PASSWORD)
    return other


def post(admin: Client, company: Company, data: dict[str, str]) -> Any:
    return admin.post(f"/admin/connector/company/{company.pk}/change/", data)


# --- a changed host needs the secrets again --------------------------------------------------------


def test_expensify_url_to_another_host_with_a_blank_secret_is_refused(admin: Client, wired: Company) -> None:
    data = company_form_data(wired)
    data["expensify-0-base_url"] = "https://collector.example.net/Integration-Server/ExpensifyIntegrations"
    response = post(admin, wired, data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "now names another host" in html and "Partner user secret" in html
    credential = ExpensifyCredential.objects.get()
    assert credential.base_url.startswith("http://127.0.0.1:9")
    assert credential.partner_user_secret == "expensify-secret-Qx7"


def test_sage_url_to_another_host_needs_the_agent_key_and_password(admin: Client, wired: Company) -> None:
    data = company_form_data(wired, agent="typed-agent-key-1")
    data["sage-0-base_url"] = "https://10.0.0.99:8443"
    html = post(admin, wired, data).content.decode()
    # The key was typed; the password was left blank and is named.
    assert "now names another host" in html and "Sage password" in html
    assert "enter Sage password again" in html
    assert SageConnection.objects.get().base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize("new_url", ["http://127.0.0.1:10", "http://localhost:9"])
def test_another_port_or_name_counts_as_another_host(admin: Client, wired: Company, new_url: str) -> None:
    data = company_form_data(wired)
    data["sage-0-base_url"] = new_url
    assert "now names another host" in post(admin, wired, data).content.decode()


def test_secrets_typed_again_move_the_connection(admin: Client, wired: Company) -> None:
    data = company_form_data(
        wired, agent="new-agent-key-Aa1", sage="new-sage-pw-Bb2", expensify="new-exp-Cc3"
    )
    data["sage-0-base_url"] = "https://10.0.0.99:8443"
    data["expensify-0-base_url"] = "https://integrations.example.com/Integration-Server/ExpensifyIntegrations"
    assert post(admin, wired, data).status_code == 302
    sage = SageConnection.objects.get()
    assert (sage.base_url, sage.agent_api_key, sage.sage_password) == (
        "https://10.0.0.99:8443", "new-agent-key-Aa1", "new-sage-pw-Bb2")
    assert ExpensifyCredential.objects.get().partner_user_secret == "new-exp-Cc3"


def test_same_host_with_another_path_keeps_blank_secrets(admin: Client, wired: Company) -> None:
    data = company_form_data(wired)
    data["expensify-0-base_url"] = "http://127.0.0.1:9/other/path"
    assert post(admin, wired, data).status_code == 302
    assert ExpensifyCredential.objects.get().partner_user_secret == "expensify-secret-Qx7"


# --- test connections: our words, never the remote body ----------------------------------------------


class _NotFound(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_POST = _answer


@pytest.fixture
def wrong_path_server() -> Iterator[tuple[str, list[int]]]:
    hits: list[int] = []

    class Handler(_NotFound):
        body = f"<html>{REMOTE_MARKER} {B_AGENT_KEY} {B_SAGE_PASSWORD}</html>".encode()

        def _answer(self) -> None:
            hits.append(1)
            super()._answer()

        do_GET = do_POST = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def run_test_connections(admin: Client, company: Company) -> list[str]:
    response = admin.post(
        "/admin/connector/company/",
        {"action": "test_connections", "_selected_action": [str(company.pk)]},
    )
    assert response.status_code == 302
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_connection_test_classifies_and_never_echoes(
    admin: Client, company: Company, company_b: Company, wrong_path_server: tuple[str, list[int]]
) -> None:
    url, hits = wrong_path_server
    with ExpensifySimulator(credentials={"partner_a": "the-right-secret-1"}, rates=[(1000, 1.0)]) as sim:
        ExpensifyCredentialFactory(company=company, base_url=sim.base_url, partner_user_id="partner_a",
                                   partner_user_secret="a-wrong-secret-2")
        SageConnectionFactory(company=company, base_url=url)
        texts = run_test_connections(admin, company)
    assert hits, "the wrong-path server was asked"
    assert texts == ["ABC: Expensify: credentials refused", "ABC: Sage 100: agent URL/path wrong (HTTP 404)"]
    joined = " ".join(texts)
    assert REMOTE_MARKER not in joined and "Not authorized" not in joined


def test_a_remote_answer_echoing_another_companys_secret_is_redacted(
    admin: Client, company: Company, company_b: Company
) -> None:
    # Company A's Expensify answers with a policy named after company B's secrets.
    policies = {"POLA": {"name": f"{B_PARTNER_SECRET} {B_AGENT_KEY} {B_SAGE_PASSWORD}",
                         "admins": ["partner_a"]}}
    data = {"credentials": {"partner_a": "a-secret-Pp3"}, "policies": policies}
    with ExpensifySimulator(data=data, rates=[(1000, 1.0)]) as sim:
        ExpensifyCredentialFactory(company=company, base_url=sim.base_url, partner_user_id="partner_a",
                                   partner_user_secret="a-secret-Pp3")
        texts = run_test_connections(admin, company)
    expensify = next(t for t in texts if "Expensify" in t)
    assert expensify.startswith("ABC: Connected to Expensify as partner user 'partner_a'")
    assert logs.MASK in expensify  # the echo came back, and was blanked
    for secret in (B_PARTNER_SECRET, B_AGENT_KEY, B_SAGE_PASSWORD):
        assert secret not in " ".join(texts)


# --- redact(): every company's credentials, kept fresh ---------------------------------------------


def test_redact_blanks_every_companys_stored_credentials(company: Company, company_b: Company) -> None:
    ExpensifyCredentialFactory(company=company, partner_user_secret="A-partner-secret-Hh6")
    text = f"a={'A-partner-secret-Hh6'} b={B_PARTNER_SECRET} k={B_AGENT_KEY} p={B_SAGE_PASSWORD}"
    assert logs.redact(text) == f"a={logs.MASK} b={logs.MASK} k={logs.MASK} p={logs.MASK}"


def test_redact_follows_a_credential_saved_in_this_process(company_b: Company) -> None:
    assert logs.redact(B_PARTNER_SECRET) == logs.MASK
    credential = company_b.expensify
    credential.partner_user_secret = "B-rotated-secret-Ty9"
    credential.save()
    assert logs.redact("B-rotated-secret-Ty9") == logs.MASK


def test_redact_follows_a_credential_changed_by_another_process(
    company_b: Company, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.utils import timezone

    assert logs.redact(B_SAGE_PASSWORD) == logs.MASK
    # A queryset update sends no signal: as if another process had saved it.
    SageConnection.objects.filter(company=company_b).update(
        sage_password="B-changed-elsewhere-Qq4", updated_at=timezone.now()
    )
    assert logs._stored.stale is False
    monkeypatch.setattr(logs, "REFRESH_SECONDS", 0.0)
    assert logs.redact("x B-changed-elsewhere-Qq4 y") == f"x {logs.MASK} y"


def test_short_values_are_not_treated_as_secrets(company: Company) -> None:
    ExpensifyCredentialFactory(company=company, partner_user_secret="abc")
    assert logs.redact("abc def") == "abc def"
