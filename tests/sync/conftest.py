"""Fixtures for the end-to-end engine tests: both simulators on loopback ports, company ABC wired to them.

Every test gets a fresh Expensify simulator (demo data, no render delay, relaxed rates) and a fresh
Sage 100 simulator (demo chart and periods), and company ABC built like the demo's but pointing at
them, with the Sage transport the test is parametrized with ("agent" or "soap"). Waits are short:
the Expensify client polls in milliseconds and the Sage retry policy backs off in milliseconds.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from django.db import connection

from connector.models import Company
from simulators.expensify import ExpensifySimulator
from simulators.expensify.demo import DEMO_LABEL, DEMO_POLICY_ID, demo_data
from simulators.sage100 import SageSimulator

TODAY = date.today()


def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def expensify_sim() -> Iterator[ExpensifySimulator]:
    with ExpensifySimulator(data=demo_data(TODAY), rates=[(1000, 1.0)], render_delay=0) as simulator:
        yield simulator


@pytest.fixture
def sage_sim() -> Iterator[SageSimulator]:
    simulator = SageSimulator().start()
    yield simulator
    simulator.stop()


@pytest.fixture(params=["agent", "soap"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fast_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    """Expensify polls in milliseconds without the shared rate budget; Sage retries back off in ms."""
    import connector.expensify as expensify_package
    from connector.expensify import RateLimiter
    from connector.expensify.pacing import MemoryBackend
    from connector.sage100.retry import RetryPolicy

    original = expensify_package.client_for_company

    def fast_client(company: Company, **overrides: Any) -> Any:
        options: dict[str, Any] = {
            "limiter": RateLimiter("tests", backend=MemoryBackend(), rules=(), margin=0),
            "download_poll_seconds": 0.01,
            "download_wait_seconds": 5,
            "retry_initial_seconds": 0.01,
        }
        options.update(overrides)
        return original(company, **options)

    monkeypatch.setattr(expensify_package, "client_for_company", fast_client)
    original_policy = RetryPolicy.for_company.__func__  # type: ignore[attr-defined]

    def fast_policy(cls: type[RetryPolicy], company: Company) -> RetryPolicy:
        return dataclasses.replace(original_policy(cls, company), base_delay=0.01, max_delay=0.05)

    monkeypatch.setattr(RetryPolicy, "for_company", classmethod(fast_policy))


def wire_company(expensify: ExpensifySimulator, sage: SageSimulator, transport: str) -> Company:
    """The demo's company ABC (mappings included), pointed at these simulators."""
    from console.demo import ensure_demo_company

    company = ensure_demo_company()
    company.max_concurrent_writes = 1
    company.max_retry_seconds = 3
    company.schedule_kind = "manual"
    company.save()
    credential = company.expensify
    credential.base_url = expensify.base_url
    credential.timeout_seconds = 5
    credential.save()
    connection_ = company.sage
    connection_.transport = transport
    connection_.base_url = sage.base_url if transport == "agent" else sage.soap_url
    connection_.connect_timeout = 2
    connection_.read_timeout = 5
    connection_.save()
    return Company.objects.get(pk=company.pk)


@pytest.fixture
def abc(
    db: Any, fast_clients: None, expensify_sim: ExpensifySimulator, sage_sim: SageSimulator, transport: str
) -> Company:
    return wire_company(expensify_sim, sage_sim, transport)


# -- driving the engine --------------------------------------------------------------------------


def run(company: Company, **options: Any) -> Any:
    """One sync run as a command would start it, on a fresh copy of the company row."""
    from sync.services import RunOptions, run_sync

    options.setdefault("trigger", "command")
    options.setdefault("actor", "test")
    return run_sync(company=Company.objects.get(pk=company.pk), options=RunOptions(**options))


# -- the Expensify simulator -----------------------------------------------------------------------


def exp_control(simulator: ExpensifySimulator, path: str, payload: Any = None) -> Any:
    url = simulator.root_url + path
    if payload is None:
        return httpx.get(url, timeout=5).json()
    answer = httpx.post(url, json=payload, timeout=5)
    answer.raise_for_status()
    return answer.json()


def demo_reports(*report_ids: str) -> list[dict[str, Any]]:
    """Demo reports (all, or the named ones), as the simulator holds them."""
    reports = demo_data(TODAY)["reports"]
    if not report_ids:
        return reports
    return [r for r in reports if r["reportID"] in report_ids]


def load_reports(simulator: ExpensifySimulator, reports: list[dict[str, Any]], **extra: Any) -> None:
    exp_control(simulator, "/_sim/load", {"reports": reports, **extra})


def expense(
    transaction_id: str,
    amount: int,
    *,
    category: str = "Airfare",
    tag: str = "Field Ops:General",
    day: date | None = None,
    reimbursable: bool = True,
    merchant: str = "Merchant",
) -> dict[str, Any]:
    """An expense in Expensify's data-model shape."""
    return {
        "transactionID": transaction_id,
        "merchant": merchant,
        "modifiedMerchant": "",
        "category": category,
        "categoryGlCode": "",
        "tag": tag,
        "currency": "USD",
        "amount": amount,
        "modifiedAmount": "",
        "created": (day or TODAY - timedelta(days=5)).isoformat(),
        "modifiedCreated": "",
        "reimbursable": reimbursable,
        "billable": False,
        "comment": "",
        "type": "expense",
        "receiptID": "",
        "hasTax": False,
    }


def report(
    report_id: str,
    expenses: list[dict[str, Any]],
    *,
    approved: date | None = None,
    email: str = "maria.gonzalez@acmefield.com",
    name: str = "",
) -> dict[str, Any]:
    """An approved report of the demo policy in Expensify's data-model shape."""
    approved = approved or TODAY - timedelta(days=2)
    return {
        "reportID": report_id,
        "reportName": name or f"Report {report_id}",
        "status": "Approved",
        "accountEmail": email,
        "accountID": 1234,
        "policyID": DEMO_POLICY_ID,
        "policyName": "Acme Field Services",
        "currency": "USD",
        "total": sum(e["amount"] for e in expenses),
        "created": (approved - timedelta(days=3)).isoformat() + " 09:00:00",
        "submitted": (approved - timedelta(days=2)).isoformat() + " 17:00:00",
        "approved": approved.isoformat() + " 11:00:00",
        "managerEmail": "controller@acmefield.com",
        "transactionList": expenses,
    }


def with_amount(reports: list[dict[str, Any]], report_id: str, transaction_id: str, amount: int) -> list:
    """A copy of `reports` where one expense has a new amount (and its report a new total)."""
    changed = copy.deepcopy(reports)
    for item in changed:
        if item["reportID"] != report_id:
            continue
        for tx in item["transactionList"]:
            if tx["transactionID"] == transaction_id:
                tx["amount"] = amount
        item["total"] = sum(tx["amount"] for tx in item["transactionList"])
    return changed


def marks(simulator: ExpensifySimulator) -> dict[str, list[str]]:
    return dict(exp_control(simulator, "/_sim/marks")["marks"])


def mark_requests(simulator: ExpensifySimulator) -> list[str]:
    """Report IDs of every markAsExported render the connector asked for, one item per ask."""
    asked: list[str] = []
    for logged in exp_control(simulator, "/_sim/requests")["requests"]:
        if logged.get("type") == "file" and logged.get("test") == "false" and logged.get("onFinish"):
            asked += [r for r in logged["filters"].get("reportIDList", "").split(",") if r]
    return asked


# -- the Sage 100 simulator ------------------------------------------------------------------------


def sage_faults(simulator: SageSimulator, *faults: dict[str, Any], **spec: Any) -> None:
    """Install faults through the HTTP control endpoint (replaces the earlier ones)."""
    payload = {"faults": list(faults), **spec}
    httpx.post(simulator.base_url + "/_sim/faults", json=payload, timeout=5).raise_for_status()


def sage_stats(simulator: SageSimulator) -> dict[str, Any]:
    return dict(httpx.get(simulator.base_url + "/_sim/stats", timeout=5).json())


def sage_entries(simulator: SageSimulator) -> list[dict[str, Any]]:
    return list(httpx.get(simulator.base_url + "/_sim/entries/ABC", timeout=5).json())


def reference_counts(simulator: SageSimulator) -> dict[str, int]:
    return dict(sage_stats(simulator)["referenceCounts"]["ABC"])


def sage_posts(simulator: SageSimulator) -> int:
    return int(sage_stats(simulator)["counts"].get("post", 0))


# -- reading our side ------------------------------------------------------------------------------


def states(company: Company) -> dict[str, str]:
    from sync.models import ExpenseReport

    return dict(ExpenseReport.objects.filter(company=company).values_list("report_id", "state"))


def lines_of(company: Company, report_id: str) -> set[tuple[str, int, int]]:
    """(account, debit cents, credit cents) of the report's posted entry."""
    from sync.models import EntryState, JournalEntry

    entry = JournalEntry.objects.get(company=company, report__report_id=report_id, state=EntryState.POSTED)
    return {(line.account, line.debit_cents, line.credit_cents) for line in entry.lines.all()}


def sage_lines(simulator: SageSimulator, reference: str) -> list[set[tuple[str, str, str]]]:
    """(account, debit, credit) of every Sage entry with this reference."""
    return [
        {(line["account"], line["debit"], line["credit"]) for line in entry["lines"]}
        for entry in sage_entries(simulator)
        if entry["reference"] == reference
    ]


def audit(company: Company, action: str, report_id: str | None = None) -> list[Any]:
    from audit.models import AuditEvent

    events = AuditEvent.objects.filter(company=company, action=action).order_by("id")
    if report_id is not None:
        events = events.filter(report_ref=report_id)
    return list(events)


def make_past(company: Company, report_id: str, field: str = "next_attempt_at") -> None:
    from django.utils import timezone

    from sync.models import ExpenseReport

    ExpenseReport.objects.filter(company=company, report_id=report_id).update(
        **{field: timezone.now() - timedelta(seconds=1)}
    )


LABEL = DEMO_LABEL
