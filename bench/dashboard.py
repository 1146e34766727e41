"""The operator's home page (dashboard) and partial searches at size: 100,000 reports and entries,
300,000 lines, 200,000 expenses, 1,000,000 audit events, PostgreSQL.

Rows are made as bench/admin_pages.py makes them (generate_series INSERTs), then spread like a
live ledger: entries posted on their approval dates (the last 300 days), one report in ten with a
failure event over the last 12 weeks, two expenses per report among 5,000 merchants. Each page
is requested several times through django.test.Client as a logged-in superuser. Figures: the
queries one request makes and the median server time, against < 150 ms with constant queries.

    DATABASE_URL=postgres://... python -m bench.dashboard [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import statistics
import sys
import time

from bench import admin_pages, harness
from bench.harness import Row

TARGET_MS = 150.0
# A surname the varied addresses hold (see vary_employees): md5 letters, as selective as real names.
SURNAME = hashlib.md5(b"17").hexdigest()[:8]  # made-up names, as PostgreSQL makes them
PAGES = {
    "dashboard (admin home)": "/admin/",
    "reports, partial employee (every address starts 'employee')": "/admin/sync/expensereport/?q=employee17",
    "reports, partial report ID": "/admin/sync/expensereport/?q=0005000",
    "reports, merchant": "/admin/sync/expensereport/?q=Navarro",
    "reports, by year (date hierarchy)": "/admin/sync/expensereport/?approved_on__year=2026",
    "audit, partial employee (every address starts 'employee')": "/admin/audit/auditevent/?q=employee17",
    "audit, partial report ID": "/admin/audit/auditevent/?q=0005000",
    "journal lines, report ID": "/admin/sync/journalline/?q=ABC0005000",
}
# Measured after vary_employees(): 400 employees with distinct names, as in a real company.
VARIED_PAGES = {
    "reports, partial employee surname": f"/admin/sync/expensereport/?q={SURNAME}",
    "audit, partial employee surname": f"/admin/audit/auditevent/?q={SURNAME}",
}


def vary_employees() -> float:
    """Give reports and their audit events 400 distinct addresses (first.surname@example.com)."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE sync_expensereport SET employee_email = "
            "(ARRAY['sam','ana','li','omar','eva'])[1 + mod(id, 5)] || '.' || "
            "substr(md5(mod(id, 400)::text), 1, 8) || '@example.com'"
        )
        cursor.execute(
            "UPDATE audit_auditevent a SET employee_email = r.employee_email "
            "FROM sync_expensereport r WHERE a.report_id = r.id"
        )
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


def spread(reports: int) -> float:
    """Entries posted over 12 weeks, failures among the audit events, expenses with merchants."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE sync_journalentry "
            "SET posted_at = posting_date + make_interval(hours => (6 + mod(id, 12))::int)"
        )
        cursor.execute(
            """
            INSERT INTO audit_auditevent (at, company_id, report_id, expense_id, report_ref, transaction_ref,
              employee_email, actor, action, amount_cents, currency, account, sage_entry_no, sage_batch_no,
              message, detail)
            SELECT now() - make_interval(hours => mod(r.id, 2016)::int), r.company_id, r.id, NULL,
              r.report_id, '', r.employee_email, 'schedule',
              (ARRAY['post_failed','needs_mapping','failed'])[1 + mod(r.id, 3)], NULL, '', '', '', '',
              'bench failure', '{}'::jsonb
            FROM sync_expensereport r WHERE mod(r.id, 10) = 0
            """
        )
        cursor.execute(
            """
            INSERT INTO sync_expense (report_id, transaction_id, merchant, category, category_gl_code, tag,
              tag_levels, amount_cents, original_amount_cents, original_currency, reimbursable, billable,
              spent_on, comment)
            SELECT r.id, (88000000 + r.id * 2 + n)::text,
              CASE WHEN mod(r.id, 500) = 0 AND n = 0 THEN 'Camp Navarro'
                   ELSE 'Merchant ' || mod(r.id * 7 + n, 5000) END,
              'Airfare', '', 'Sales:General', '[]'::jsonb, 500, 500, 'USD', true, false, r.approved_on, ''
            FROM sync_expensereport r CROSS JOIN generate_series(0, 1) AS n
            """
        )
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


def troubled_connections() -> None:
    """ABC reached Expensify a minute ago and has failed to reach Sage for an hour (both lines read)."""
    from django.utils import timezone

    from connector.models import Company
    from sync.models import ConnectionHealth

    company = Company.objects.get(code="ABC")
    now = timezone.now()
    ConnectionHealth.objects.update_or_create(
        company=company, system="expensify", defaults={"last_ok_at": now - dt.timedelta(minutes=1)}
    )
    ConnectionHealth.objects.update_or_create(
        company=company,
        system="sage",
        defaults={
            "last_ok_at": now - dt.timedelta(hours=2),
            "last_error_at": now - dt.timedelta(minutes=5),
            "failing_since": now - dt.timedelta(hours=1),
            "trouble": "unreachable",
            "last_error": "The Sage 100 agent could not be reached (company ABC).",
        },
    )


def measure(client: object, url: str) -> tuple[float, int, list[float], tuple[float, str]]:
    from django.db import connection

    answer = client.get(url)  # type: ignore[attr-defined]
    assert answer.status_code == 200, (url, answer.status_code)
    statements: list[str] = []
    counter = admin_pages.Counter(statements)
    with connection.execute_wrapper(counter):
        client.get(url)  # type: ignore[attr-defined]
    times = []
    for _ in range(7):
        started = time.perf_counter()
        client.get(url)  # type: ignore[attr-defined]
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), len(statements), times, counter.slowest


def run(quick: bool, vendor: str) -> list[Row]:
    if vendor != "postgresql":
        print("  dashboard: skipped on SQLite (run with a PostgreSQL DATABASE_URL)", flush=True)
        return [
            Row("6 Dashboard", "home page and searches", "skipped on SQLite", f"< {TARGET_MS:g} ms", None)
        ]
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client, override_settings

    harness.clear_data()
    harness.wire_company(
        "ABC", expensify_url="http://127.0.0.1:9/x", sage_url="http://127.0.0.1:9", write_limit=1
    )
    troubled_connections()
    reports, events = (10_000, 100_000) if quick else (100_000, 1_000_000)
    seconds = admin_pages.load(reports, events) + spread(reports)
    print(
        f"  dashboard: loaded {reports:,} reports/entries, {3 * reports:,} lines, {2 * reports:,} expenses, "
        f"{events + reports // 10:,} events in {seconds:.0f} s",
        flush=True,
    )
    user, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    rows: list[Row] = []
    # Static file names as in a local run: the manifest exists only after collectstatic.
    plain = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    pages = list(PAGES.items())
    for index, (name, url) in enumerate([*pages, *VARIED_PAGES.items()]):
        if index == len(pages):
            print(f"  varied employee addresses in {vary_employees():.0f} s", flush=True)
        with override_settings(STORAGES=plain):
            median, queries, times, slowest = measure(client, url)
        print(
            f"  {name}: {queries} queries, median {median:.0f} ms "
            f"(min {min(times):.0f}, max {max(times):.0f}); "
            f"slowest statement {slowest[0]:.0f} ms: {admin_pages.short(slowest[1])}",
            flush=True,
        )
        rows.append(
            Row(
                "6 Dashboard",
                f"{name} ({reports // 1000}k reports, {events // 1000}k events)",
                f"{median:.0f} ms, {queries} queries",
                f"< {TARGET_MS:g} ms, constant queries",
                median < TARGET_MS,
            )
        )
    harness.clear_data()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k reports, 100k events")
    args = parser.parse_args()
    vendor = harness.configure()
    rows = run(args.quick, vendor)
    for row in rows:
        print(row)
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
