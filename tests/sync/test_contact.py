"""Connection health per system (issue 12): what the runs record, and the lines the dashboard says.

Real HTTP to both bundled simulators on loopback (tests/sync/conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from connector.expensify.errors import (
    ExpensifyAuthError,
    ExpensifyPermanentError,
    ExpensifyTransientError,
)
from connector.models import Company, SageConnection
from connector.sage100.errors import (
    SageCompanyError,
    SageOutcomeUnknown,
    SageReportError,
    SageTransientError,
)
from simulators.sage100 import SageSimulator
from sync.dashboard import system_health
from sync.models import ConnectionHealth
from sync.services.contact import ContactLog, checked, trouble_of
from tests.sync.conftest import run, sage_faults


def health(company: Company, system: str) -> ConnectionHealth:
    return ConnectionHealth.objects.get(company=company, system=system)


def line(company: Company, system: str) -> str:
    company = Company.objects.get(pk=company.pk)
    row = ConnectionHealth.objects.filter(company=company, system=system).first()
    return system_health(company, system, row).line


def detail(company: Company, system: str) -> str:
    company = Company.objects.get(pk=company.pk)
    return system_health(company, system, health(company, system)).detail


def test_a_clean_run_records_a_contact_with_both_systems(abc: Company) -> None:
    run(abc)

    for system, name in (("expensify", "Expensify"), ("sage", "Sage")):
        row = health(abc, system)
        assert row.last_ok_at is not None and row.failing_since is None
        assert row.last_error == "" and row.last_error_at is None
        assert line(abc, system).startswith(f"{name}: OK — last contact today ")
        assert line(abc, system).endswith(" UTC")


@pytest.mark.parametrize("transport", ["agent"])
def test_sage_stopped_says_unreachable_since_then_a_later_success_says_ok(
    abc: Company, sage_sim: SageSimulator
) -> None:
    run(abc)
    sage_sim.stop()

    run(abc)
    first = health(abc, "sage")
    run(abc)  # still down: the trouble began at the first failure

    row = health(abc, "sage")
    assert row.failing_since == first.failing_since and row.last_error_at > first.last_error_at
    assert row.trouble == "unreachable"
    text = line(abc, "sage")
    assert text.startswith("Sage: unreachable since today ")
    assert "— retrying, 2 failed runs in a row (last error: The Sage 100 agent could not be reached" in text
    assert line(abc, "expensify").startswith("Expensify: OK — last contact today ")

    again = SageSimulator().start()
    try:
        SageConnection.objects.filter(company=abc).update(base_url=again.base_url)
        run(abc)
    finally:
        again.stop()
    assert line(abc, "sage").startswith("Sage: OK — last contact today ")
    assert health(abc, "sage").failing_since is None
    assert detail(abc, "sage").startswith("Last error today ")  # kept, beside the OK line


def test_a_wrong_sage_password_says_stopped_with_the_reason(abc: Company) -> None:
    abc.sage.sage_password = "wrong-password-Zz1"
    abc.sage.save()

    run(abc)

    assert line(abc, "sage") == "Sage: stopped — user name or password rejected"
    row = health(abc, "sage")
    assert "Sage 100 refused the username or password" in row.last_error
    assert "wrong-password-Zz1" not in row.last_error and "Traceback" not in row.last_error
    assert detail(abc, "sage").startswith("Last error today ")
    assert line(abc, "expensify").startswith("Expensify: OK")


@pytest.mark.parametrize("transport", ["agent"])
def test_a_wrong_expensify_secret_says_stopped_and_sage_is_not_asked(abc: Company) -> None:
    abc.expensify.partner_user_secret = "not-the-secret-Qq4"
    abc.expensify.save()

    run(abc)

    assert line(abc, "expensify") == "Expensify: stopped — credentials rejected"
    assert "not-the-secret-Qq4" not in health(abc, "expensify").last_error
    assert line(abc, "sage") == "Sage: no contact recorded yet"


@pytest.mark.parametrize("transport", ["agent"])
def test_sage_refusing_an_entry_is_still_a_good_contact(abc: Company) -> None:
    # R04G1fts0Nov posts to a retired account: Sage answers with a refusal, the connection is fine.
    run(abc)

    assert health(abc, "sage").last_error_at is None


@pytest.mark.parametrize("transport", ["agent"])
def test_a_run_writes_one_statement_per_system_not_one_per_report(
    abc: Company, sage_sim: SageSimulator
) -> None:
    run(abc, report_ids=["-"])  # both rows exist from here on; nothing posted yet
    sage_faults(sage_sim, {"fault": "record_locked", "ops": "post", "times": 2})
    with CaptureQueriesContext(connection) as captured:
        done = run(abc)
    touching = [q["sql"] for q in captured.captured_queries if "sync_connectionhealth" in q["sql"]]
    assert len(touching) == 2, touching
    assert all(sql.lstrip().upper().startswith("UPDATE") for sql in touching)
    assert done.reports_posted >= 4


@pytest.mark.parametrize("transport", ["agent"])
def test_the_admin_connection_test_is_recorded_at_once(abc: Company, sage_sim: SageSimulator) -> None:
    from connector.sage100.services import test_sage_connection

    checked("sage", test_sage_connection)(abc)
    assert line(abc, "sage").startswith("Sage: OK — last contact today ")

    sage_sim.stop()
    with pytest.raises(SageTransientError):
        checked("sage", test_sage_connection)(abc)
    assert line(abc, "sage").startswith("Sage: unreachable since today ")


@pytest.mark.parametrize(
    ("error", "trouble"),
    [
        (SageReportError("PERIOD_CLOSED", "closed"), None),
        (SageTransientError("RECORD_LOCKED", "locked"), None),
        (SageTransientError("SAGE_UNAVAILABLE", "down"), "unreachable"),
        (SageOutcomeUnknown("SAGE_TIMEOUT", "no answer"), "no answer"),
        (SageCompanyError("AUTH_AGENT", "key"), "agent API key rejected"),
        (SageCompanyError("CONFIG", "url"), "set-up problem"),
        (ExpensifyAuthError("bad"), "credentials rejected"),
        (ExpensifyTransientError("5xx"), "unreachable"),
        (ExpensifyPermanentError("garbage"), "answering with errors"),
        (ValueError("a bug of ours"), ""),
    ],
)
def test_what_an_error_says_about_the_connection(error: Exception, trouble: str | None) -> None:
    assert trouble_of(error) == trouble


def test_a_bug_of_ours_records_nothing(db: Any, company: Company) -> None:
    log = ContactLog(company)
    with pytest.raises(ValueError):
        log.call("sage", lambda: (_ for _ in ()).throw(ValueError("bug")))
    log.save()
    assert not ConnectionHealth.objects.exists()


@pytest.mark.parametrize("transport", ["agent"])
def test_the_admin_test_connections_action_records_both_systems(abc: Company) -> None:
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.create_superuser("contact-admin", "a@example.com", "pw-123456789"))
    answer = client.post(
        "/admin/connector/company/", {"action": "test_connections", "_selected_action": [abc.pk]}
    )

    assert answer.status_code == 302
    assert line(abc, "expensify").startswith("Expensify: OK — last contact today ")
    assert line(abc, "sage").startswith("Sage: OK — last contact today ")
