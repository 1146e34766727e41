"""Fixtures for the security suite: planted secrets, both simulators, every log line captured.

The planted secrets are distinctive strings the simulators accept as the real credentials, so a
sync runs end to end with them; a test then looks for them everywhere something could leak.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from connector.logs import RedactSecretsFilter
from connector.models import Company
from connector.roles import ADMINISTRATOR, OPERATOR
from simulators.expensify import ExpensifySimulator
from simulators.expensify.demo import DEMO_PARTNER_USER_ID, demo_data
from simulators.sage100 import SageSimulator
from simulators.sage100.demo import DEMO_USERNAME, demo
from tests.sync import conftest as sync_fixtures
from tests.sync.conftest import TODAY, wire_company

EXPENSIFY_SECRET = "PLANTED-expensify-secret-Vb8q"
SAGE_PASSWORD = "PLANTED-sage-password-Kd4w"
AGENT_KEY = "PLANTED-agent-key-Hs2m"
# Wrong values typed by an administrator are secrets too.
WRONG_SAGE_PASSWORD = "PLANTED-wrong-sage-password-Rt6e"
WRONG_EXPENSIFY_SECRET = "PLANTED-wrong-expensify-secret-Jn3c"
PLANTED = (EXPENSIFY_SECRET, SAGE_PASSWORD, AGENT_KEY, WRONG_SAGE_PASSWORD, WRONG_EXPENSIFY_SECRET)


def leaks(text: str) -> list[str]:
    """The planted secrets that appear in `text`."""
    return [secret for secret in PLANTED if secret in text]


# The engine fixtures (fast clients, the transport parameter) are shared with the sync suite.
fast_clients = sync_fixtures.fast_clients
transport = sync_fixtures.transport


@pytest.fixture
def planted_expensify() -> Iterator[ExpensifySimulator]:
    data = demo_data(TODAY)
    data["credentials"] = {DEMO_PARTNER_USER_ID: EXPENSIFY_SECRET}
    with ExpensifySimulator(data=data, rates=[(1000, 1.0)], render_delay=0) as simulator:
        yield simulator


@pytest.fixture
def planted_sage() -> Iterator[SageSimulator]:
    config = demo()
    config["agentApiKey"] = AGENT_KEY
    config["users"][DEMO_USERNAME]["password"] = SAGE_PASSWORD
    simulator = SageSimulator(config).start()
    yield simulator
    simulator.stop()


def plant(company: Company) -> Company:
    """Store the planted secrets on the company's connections (the demo's are replaced)."""
    credential = company.expensify
    credential.partner_user_secret = EXPENSIFY_SECRET
    credential.save()
    connection = company.sage
    connection.agent_api_key = AGENT_KEY
    connection.sage_password = SAGE_PASSWORD
    connection.save()
    return Company.objects.get(pk=company.pk)


@pytest.fixture
def planted_company(
    db: Any,
    fast_clients: None,
    planted_expensify: ExpensifySimulator,
    planted_sage: SageSimulator,
    transport: str,
) -> Company:
    return plant(wire_company(planted_expensify, planted_sage, transport))


class Captured:
    """What logging produced: raw records (a root handler) and the configured console's text."""

    def __init__(self, records: list[str], console: io.StringIO) -> None:
        self.records = records
        self.console = console

    def raw_text(self) -> str:
        return "\n".join(self.records)


class _Keep(logging.Handler):
    """Snapshots each record as it arrives, before the console's filter rewrites it in place."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []
        self.names: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        parts = [record.name, record.getMessage()]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        parts += [record.exc_text or "", record.stack_info or ""]
        self.records.append(" ".join(parts))
        self.names.append(record.name)


def configured_console() -> logging.Handler:
    """The root handler settings.LOGGING installs (the one carrying RedactSecretsFilter)."""
    for handler in logging.getLogger().handlers:
        if any(isinstance(f, RedactSecretsFilter) for f in handler.filters):
            return handler
    raise AssertionError("settings.LOGGING installed no root handler with RedactSecretsFilter")


@pytest.fixture
def all_logs() -> Iterator[Captured]:
    """Every logger at DEBUG; raw records kept, and the real console handler's output captured."""
    console = configured_console()
    assert isinstance(console, logging.StreamHandler)
    buffer = io.StringIO()
    # Swapped, not setStream(): that flushes the old stream, which an earlier test that ran
    # django.setup() again may have left pointing at a capture pytest has since closed.
    old_stream = console.stream
    console.stream = buffer
    old_console_level = console.level
    console.setLevel(logging.DEBUG)
    keep = _Keep()
    root = logging.getLogger()
    # `keep` runs before the console handler so it sees records the filter has not rewritten yet.
    root.handlers.insert(0, keep)
    names = ["", *logging.root.manager.loggerDict]
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield Captured(keep.records, buffer)
    finally:
        root.removeHandler(keep)
        console.stream = old_stream
        console.setLevel(old_console_level)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def staff_client(username: str, *groups: str, enforce_csrf_checks: bool = False) -> Client:
    user = User.objects.create_user(username, password="pw-123456789", is_staff=True)
    for group in groups:
        user.groups.add(Group.objects.get(name=group))
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client(db: Any) -> Client:
    user = User.objects.create_superuser("sec-root", "root@example.com", "pw-123456789")
    client = Client()
    client.force_login(user)
    return client


def administrator_client(**kwargs: Any) -> Client:
    return staff_client("sec-administrator", ADMINISTRATOR, **kwargs)


def operator_client(**kwargs: Any) -> Client:
    return staff_client("sec-operator", OPERATOR, **kwargs)
