"""refresh_chart, test_sage_connection and the refresh_accounts command, against the simulator."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from connector.models import GLAccount
from connector.sage100 import services
from connector.sage100.errors import SageCompanyError
from connector.sage100.services import refresh_chart
from simulators.sage100 import SageSimulator
from simulators.sage100.demo import DEMO_AGENT_API_KEY, DEMO_PASSWORD, DEMO_USERNAME, demo
from tests.factories import CompanyFactory, SageConnectionFactory


def connect(company: Any, sim: SageSimulator, transport: str, **changes: Any) -> Any:
    values = {
        "company": company,
        "transport": transport,
        "base_url": sim.base_url if transport == "agent" else sim.soap_url,
        "agent_api_key": DEMO_AGENT_API_KEY,
        "sage_username": DEMO_USERNAME,
        "sage_password": DEMO_PASSWORD,
        "connect_timeout": 2,
        "read_timeout": 5,
    }
    values.update(changes)
    return SageConnectionFactory(**values)


def test_connection_summary(company: Any, sim: SageSimulator, transport: str) -> None:
    connect(company, sim, transport)
    summary = services.test_sage_connection(company)
    assert "company ABC" in summary and "####-##-###" in summary
    if transport == "agent":
        assert "agent 1.4.0-sim" in summary and "write limit 2" in summary


def test_connection_failure_raises(company: Any, sim: SageSimulator, transport: str) -> None:
    connect(company, sim, transport, sage_password="nope-nope")
    with pytest.raises(SageCompanyError):
        services.test_sage_connection(company)


def test_refresh_adds_updates_and_deactivates(company: Any, sim: SageSimulator, transport: str) -> None:
    connect(company, sim, transport)
    first = refresh_chart(company)
    assert (first.added, first.updated, first.deactivated, first.total) == (21, 0, 0, 21)
    assert first.mask_ok
    assert GLAccount.objects.get(company=company, account="6900-00-000").status == "I"
    company.refresh_from_db()
    assert company.chart_refreshed_at is not None

    config = demo()
    accounts = config["companies"][0]["accounts"]
    accounts[:] = [a for a in accounts if a["account"] != "6500-02-000"]
    next(a for a in accounts if a["account"] == "6100-01-000")["description"] = "Travel - Sales"
    accounts.append({**accounts[0], "account": "6600-00-000", "accountKey": "000999"})
    sim.book.load(config)

    second = refresh_chart(company)
    assert (second.added, second.updated, second.deactivated, second.total) == (1, 1, 1, 21)
    assert GLAccount.objects.get(company=company, account="6500-02-000").status == "D"
    assert GLAccount.objects.get(company=company, account="6100-01-000").description == "Travel - Sales"
    assert refresh_chart(company).deactivated == 0  # already marked deleted


def test_mask_mismatch_is_reported(sim: SageSimulator, transport: str, db: None) -> None:
    company = CompanyFactory(code="ABC", account_mask="####-###")
    connect(company, sim, transport)
    result = refresh_chart(company)
    assert not result.mask_ok
    assert "'####-###'" in result.message and "'####-##-###'" in result.message


def test_refresh_accounts_command(sim: SageSimulator, db: None) -> None:
    abc = CompanyFactory(code="ABC")
    connect(abc, sim, "agent")
    xyz = CompanyFactory(code="XYZ", account_mask="AAA-####", segment_names=["Main", "Account"])
    connect(xyz, sim, "soap")
    out = StringIO()
    call_command("refresh_accounts", stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("ABC: 21 accounts") and lines[1].startswith("XYZ: 5 accounts")
    assert GLAccount.objects.filter(company=xyz, status="D").count() == 1


def test_refresh_accounts_command_fails_nonzero(sim: SageSimulator, db: None) -> None:
    abc = CompanyFactory(code="ABC")
    connect(abc, sim, "agent", sage_password="wrong-one")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("refresh_accounts", "--company", "ABC", "--company", "NOP", stderr=err)
    assert "ABC: failed: Sage 100 refused the username or password" in err.getvalue()
    assert "NOP: no such company." in err.getvalue()
    assert "wrong-one" not in err.getvalue()
