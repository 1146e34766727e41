"""What every benchmark shares: a scratch database, the simulators, companies wired to them, data.

The database is never the user's: on SQLite a temp file, on PostgreSQL a scratch database made
and dropped with Django's test-database machinery (named after the DATABASE_URL one, plus
`_bench_<pid>`). Simulators run in this process on loopback ports unless a benchmark needs its
own memory figures (bench.memory runs them in a child process).
"""

from __future__ import annotations

import atexit
import copy
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = ("Airfare", "Lodging", "Meals & Entertainment", "Office Supplies")
PARTNER_SECRET = "bench-secret-9x"


@dataclass
class Row:
    """One line of the figures table."""

    bench: str
    figure: str
    value: str
    target: str
    ok: bool | None  # None: informational
    note: str = ""


def configure(*, scratch_url: str = "") -> str:
    """Point Django at a scratch database and set it up; returns the vendor ('sqlite'/'postgresql').

    `scratch_url`: a child process joins the scratch database its parent made (scratch_url())."""
    sys.path.insert(0, str(ROOT))
    if scratch_url:
        os.environ["DATABASE_URL"] = scratch_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector.settings_test")
    # As in production: DEBUG off (with it on, Django keeps the last 9,000 queries in memory).
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    # Only a Redis named in the environment, never one from a .env (it may be a live connector's).
    os.environ.setdefault("REDIS_URL", "")
    url = os.environ.get("DATABASE_URL", "")
    if not scratch_url and not url.startswith(("postgres://", "postgresql://")):
        folder = tempfile.mkdtemp(prefix="mlc-bench-")
        atexit.register(shutil.rmtree, folder, True)
        os.environ["DATABASE_URL"] = f"sqlite:///{folder}/bench.sqlite3"
    import django

    django.setup()
    from django.conf import settings

    # DEBUG off serves static files under collectstatic's hashed names; the admin benches time
    # pages, not static files, and a fresh clone has run no collectstatic: plain names.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    if os.environ.get("BENCH_SQLITE_WAL") == "1":
        # What-if only (python -m bench --sqlite-wal): commits without a disk flush each.
        from django.conf import settings

        options = settings.DATABASES["default"].setdefault("OPTIONS", {})
        if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
            options["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    import logging

    logging.disable(logging.WARNING)
    from django.core.management import call_command
    from django.db import connection

    if scratch_url:
        return str(connection.vendor)
    if connection.vendor == "postgresql":
        real_name = connection.settings_dict["NAME"]
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"{real_name}_bench_{os.getpid()}"
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)

        def drop() -> None:
            from django.db import connections

            connections.close_all()
            connection.creation.destroy_test_db(real_name, verbosity=0)

        atexit.register(drop)
    else:
        call_command("migrate", verbosity=0, interactive=False)
    return str(connection.vendor)


def scratch_url() -> str:
    """The scratch database's URL, for a child process (configure(scratch_url=...))."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor != "postgresql":
        return os.environ["DATABASE_URL"]
    user = db.get("USER") or "postgres"
    auth = f"{user}:{db['PASSWORD']}" if db.get("PASSWORD") else user
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def clear_data() -> None:
    """Empty the ledger tables between runs (audit rows are append-only: raw DELETE).

    Report owners too: a report ID left owned by an earlier run would cost every post a read
    (the ownership INSERT finds it taken) that a first post never pays."""
    from django.db import connection

    from audit.models import AuditEvent
    from connector.models import Company, Lease, ThrottleEvent
    from sync.models import (
        ConnectionHealth,
        Expense,
        ExpenseReport,
        JournalEntry,
        JournalLine,
        ReportOwner,
        SyncRun,
    )

    tables = [
        m._meta.db_table
        for m in (
            AuditEvent,
            JournalLine,
            JournalEntry,
            Expense,
            ExpenseReport,
            ReportOwner,
            SyncRun,
            ConnectionHealth,
            Lease,
            ThrottleEvent,
        )
    ]
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'DELETE FROM "{table}"')
    Company.objects.update(chart_refreshed_at=None, blocked_reason="")


# -- simulators -------------------------------------------------------------------------------------


def sage_config(codes: tuple[str, ...], write_limit: int) -> dict[str, Any]:
    """The demo Sage configuration with company ABC's chart copied under every code in `codes`."""
    from simulators.sage100.demo import DEMO_USERNAME, demo

    config = demo()
    abc = next(c for c in config["companies"] if c["code"] == "ABC")
    companies = []
    for code in codes:
        company = copy.deepcopy(abc)
        company.update(code=code, name=f"Bench {code}", maxConcurrentWrites=max(16, write_limit))
        companies.append(company)
        config["users"][DEMO_USERNAME]["companies"][code] = "post"
    config["companies"] = companies
    return config


def start_sage(codes: tuple[str, ...], *, latency: float, write_limit: int) -> Any:
    import httpx

    from simulators.sage100 import SageSimulator

    sim = SageSimulator(sage_config(codes, write_limit)).start()
    httpx.post(sim.base_url + "/_sim/faults", json={"writeLatency": latency}, timeout=5).raise_for_status()
    return sim


def _serve_sage(codes: tuple[str, ...], latency: float, write_limit: int, pipe: Any) -> None:
    """Child process: the Sage simulator, until the parent closes the pipe."""
    sys.path.insert(0, str(ROOT))
    sage = start_sage(codes, latency=latency, write_limit=write_limit)
    pipe.send(sage.base_url)
    try:
        pipe.recv()
    except EOFError:
        pass
    sage.stop()


@contextmanager
def sage_in_child(codes: tuple[str, ...], *, latency: float, write_limit: int) -> Iterator[str]:
    """The Sage simulator in a process of its own (as Sage 100 is on a machine of its own, its
    work is not the connector's); yields its base URL."""
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=_serve_sage, args=(codes, latency, write_limit, theirs), daemon=True)
    child.start()
    try:
        yield str(ours.recv())
    finally:
        ours.send("stop")
        child.join(10)


def expensify_data(reports: list[dict[str, Any]]) -> dict[str, Any]:
    return {"reports": reports, "credentials": {f"bench-{c}": PARTNER_SECRET for c in COMPANY_CODES}}


COMPANY_CODES = ("ABC", "ABD", "ABE")


def policy_of(code: str) -> str:
    return f"POL{code}"


def make_reports(
    code: str, count: int, expenses: int, *, days: int = 1, start: int = 0, today: date | None = None
) -> list[dict[str, Any]]:
    """`count` approved reports of `expenses` expenses each, in Expensify's data-model shape.

    Approved dates spread over the last `days` days (all within the engine's 90-day default).
    """
    today = today or date.today()
    reports = []
    for r in range(start, start + count):
        approved = today - timedelta(days=1 + r % days)
        spent = (approved - timedelta(days=3)).isoformat()
        items = [
            {
                "transactionID": f"{code}{r:07d}{i:05d}",
                "merchant": f"Merchant {i}",
                "modifiedMerchant": "",
                "category": CATEGORIES[(r + i) % len(CATEGORIES)],
                "categoryGlCode": "",
                "tag": "Field Ops:General",
                "currency": "USD",
                "amount": 1000 + i,
                "modifiedAmount": "",
                "created": spent,
                "modifiedCreated": "",
                "reimbursable": i % 5 != 0,
                "billable": False,
                "comment": "",
                "type": "expense",
                "receiptID": "",
                "hasTax": False,
            }
            for i in range(expenses)
        ]
        reports.append(
            {
                "reportID": f"{code}{r:08d}",
                "reportName": f"Trip {r}",
                "status": "Approved",
                "accountEmail": f"employee{r % 40}@example.com",
                "accountID": 1000 + r % 40,
                "policyID": policy_of(code),
                "policyName": "Bench",
                "currency": "USD",
                "total": sum(e["amount"] for e in items),
                "created": f"{(approved - timedelta(days=2)).isoformat()} 09:00:00",
                "submitted": f"{(approved - timedelta(days=1)).isoformat()} 17:00:00",
                "approved": f"{approved.isoformat()} 11:00:00",
                "managerEmail": "controller@example.com",
                "transactionList": items,
            }
        )
    return reports


# -- companies ----------------------------------------------------------------------------------


def wire_company(code: str, *, expensify_url: str, sage_url: str, write_limit: int) -> Any:
    """A company like the demo's ABC (same mappings), pointed at the bench simulators."""
    from connector.models import Company, ExpensifyCredential, SageConnection
    from console.demo import ensure_demo_mappings
    from simulators.sage100.demo import DEMO_AGENT_API_KEY, DEMO_PASSWORD, DEMO_USERNAME

    company, _ = Company.objects.update_or_create(
        code=code,
        defaults={
            "name": f"Bench {code}",
            "account_mask": "####-##-###",
            "segment_names": ["Main", "Department", "Location"],
            "required_segments": [],
            "reimbursable_offset_account": "2100-00-000",
            "card_offset_account": "2150-00-000",
            "expensify_policy_ids": policy_of(code),
            "export_label": "ml-connector-bench",
            "export_start_date": date.today() - timedelta(days=90),
            "schedule_kind": "manual",
            "max_concurrent_writes": write_limit,
            "max_retry_seconds": 30,
            "blocked_reason": "",
            "chart_refreshed_at": None,
        },
    )
    ExpensifyCredential.objects.update_or_create(
        company=company,
        defaults={
            "base_url": expensify_url,
            "partner_user_id": f"bench-{code}",
            "partner_user_secret": PARTNER_SECRET,
            "timeout_seconds": 60,
        },
    )
    SageConnection.objects.update_or_create(
        company=company,
        defaults={
            "transport": "agent",
            "base_url": sage_url,
            "agent_api_key": DEMO_AGENT_API_KEY,
            "sage_username": DEMO_USERNAME,
            "sage_password": DEMO_PASSWORD,
            "connect_timeout": 5,
            "read_timeout": 30,
        },
    )
    ensure_demo_mappings(company)
    return Company.objects.get(pk=company.pk)


@contextmanager
def unpaced_expensify() -> Iterator[None]:
    """Expensify without the shared rate budget and with millisecond polls (for benches that
    measure something else); the way the engine tests run it."""
    import connector.expensify as expensify_package
    from connector.expensify import RateLimiter
    from connector.expensify.pacing import MemoryBackend

    original = expensify_package.client_for_company

    def fast_client(company: Any, **overrides: Any) -> Any:
        options: dict[str, Any] = {
            "limiter": RateLimiter("bench", backend=MemoryBackend(), rules=(), margin=0),
            "download_poll_seconds": 0.005,
            "retry_initial_seconds": 0.01,
        }
        options.update(overrides)
        return original(company, **options)

    expensify_package.client_for_company = fast_client  # type: ignore[assignment]
    try:
        yield
    finally:
        expensify_package.client_for_company = original  # type: ignore[assignment]


@contextmanager
def timed_posting() -> Iterator[dict[str, list[float]]]:
    """Wall time of each call of the engine's posting phase (RunWork._post_all in sync.services.runs)."""
    from sync.services.runs import RunWork

    original = RunWork._post_all
    spans: dict[str, list[float]] = {}

    def wrapper(work: Any, poster: Any, reports: list[Any], *args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        try:
            original(work, poster, reports, *args, **kwargs)
        finally:
            spans.setdefault(poster.company.code, []).append(time.perf_counter() - started)

    RunWork._post_all = wrapper  # type: ignore[method-assign]
    try:
        yield spans
    finally:
        RunWork._post_all = original  # type: ignore[method-assign]


def run_company(company: Any) -> Any:
    from connector.models import Company
    from sync.services import RunOptions, run_sync

    return run_sync(
        company=Company.objects.get(pk=company.pk), options=RunOptions(trigger="command", actor="bench")
    )


def fmt_seconds(value: float) -> str:
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.1f} ms"


def counted(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started
