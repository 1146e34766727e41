"""Admin list pages at size: 100,000 reports, entries and 300,000 lines, 1,000,000 audit events.

PostgreSQL only (SQLite is the embedded single-user default): rows are made in the database by
generate_series INSERTs, then each page is requested several times through django.test.Client
as a logged-in superuser. Figures: the queries one request makes (CaptureQueriesContext) and
the median server time.
"""

from __future__ import annotations

import re
import statistics
import time
from typing import Any

from bench import harness
from bench.harness import Row

TARGET_MS = 150.0
PAGES = {
    "reports": "/admin/sync/expensereport/",
    "reports, filtered by state": "/admin/sync/expensereport/?state__exact=failed",
    "journal entries": "/admin/sync/journalentry/",
    "journal lines": "/admin/sync/journalline/",
    "audit events": "/admin/audit/auditevent/",
    "audit events, filtered by action": "/admin/audit/auditevent/?action__exact=posted",
    "audit events, search report ID": "/admin/audit/auditevent/?q=ABC00050000",
}


def short(sql: str) -> str:
    """A statement without its column list, for a log line."""
    return re.sub(r"^SELECT (DISTINCT )?.*? FROM", r"SELECT \1... FROM", sql)[:220]


class Counter:
    """An execute wrapper that notes every statement (the request resets Django's query log)."""

    def __init__(self, statements: list[str]) -> None:
        self.statements = statements
        self.slowest = (0.0, "")

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.statements.append(sql)
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            took = (time.perf_counter() - started) * 1000
            if took > self.slowest[0]:
                self.slowest = (took, sql)


def load(reports: int, events: int) -> float:
    from django.db import connection

    from connector.models import Company

    started = time.perf_counter()
    company = Company.objects.get(code="ABC")
    c = company.pk
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sync_expensereport (company_id, report_id, report_name, employee_email, policy_id,
              currency, total_cents, approved_on, submitted_on, fingerprint, posted_fingerprint, state,
              attempts, next_attempt_at, last_error, change_summary, changed_fingerprint, claimed_by,
              claimed_until, exported_at, first_seen_at, updated_at)
            SELECT %s, 'ABC' || lpad(g::text, 8, '0'), 'Trip ' || g,
              'employee' || (g %% 40) || '@example.com',
              'POLABC', 'USD', 1000 + g %% 9000, current_date - (g %% 300), current_date - (g %% 300),
              md5(g::text), md5(g::text),
              (ARRAY['exported','exported','exported','exported','exported','exported','exported',
                     'failed','needs_mapping','retry_wait'])[1 + g %% 10],
              1, NULL, '', '', '', '', NULL, now(), now(), now()
            FROM generate_series(1, %s) AS g
            """,
            [c, reports],
        )
        cursor.execute(
            """
            INSERT INTO sync_journalentry (company_id, report_id, idempotency_key, fingerprint, state,
              source_journal, posting_date, reference, comment, sage_entry_no, sage_batch_no, posted_at,
              created_at, correction_no)
            SELECT r.company_id, r.id, 'mlc:ABC:' || r.report_id || ':' || r.fingerprint, r.fingerprint,
              'posted', 'GJ', r.approved_on, 'EXP ' || r.report_id, r.report_name,
              lpad(r.id::text, 6, '0'), lpad((r.id / 10)::text, 5, '0'), now(), now(), 0
            FROM sync_expensereport r WHERE r.company_id = %s
            """,
            [c],
        )
        cursor.execute(
            """
            INSERT INTO sync_journalline (entry_id, line_no, account, debit_cents, credit_cents, comment,
              source_transactions, mapping_source)
            SELECT e.id, n, CASE n WHEN 3 THEN '2100-00-000' ELSE '6100-01-000' END,
              CASE n WHEN 3 THEN 0 ELSE 500 END, CASE n WHEN 3 THEN 1000 ELSE 0 END, 'Airfare',
              '[]'::jsonb, 'category Airfare'
            FROM sync_journalentry e CROSS JOIN generate_series(1, 3) AS n WHERE e.company_id = %s
            """,
            [c],
        )
        cursor.execute(
            """
            INSERT INTO audit_auditevent (at, company_id, report_id, expense_id, report_ref, transaction_ref,
              employee_email, actor, action, amount_cents, currency, account, sage_entry_no, sage_batch_no,
              message, detail)
            SELECT now() - make_interval(secs => %s - g), r.company_id, r.id, NULL, r.report_id, '',
              r.employee_email, 'schedule',
              (ARRAY['discovered','expense_posted','expense_posted','expense_posted','expense_posted',
                     'expense_posted','expense_posted','posted','marked_exported','run_finished'])
                [1 + g %% 10],
              1000, 'USD', '6100-01-000', '000001', '00001', 'bench event ' || g, '{}'::jsonb
            FROM generate_series(1, %s) AS g
            JOIN sync_expensereport r ON r.company_id = %s
              AND r.report_id = 'ABC' || lpad((1 + g %% %s)::text, 8, '0')
            """,
            [events, events, c, reports],
        )
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


def run(quick: bool, vendor: str) -> list[Row]:
    if vendor != "postgresql":
        print("  admin pages: skipped on SQLite (run with a PostgreSQL DATABASE_URL)", flush=True)
        return [
            Row(
                "5 Admin",
                "list pages at 1M audit events",
                "skipped on SQLite",
                f"< {TARGET_MS:g} ms",
                None,
                "PostgreSQL run gives the figures",
            )
        ]
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    harness.clear_data()
    harness.wire_company(
        "ABC", expensify_url="http://127.0.0.1:9/x", sage_url="http://127.0.0.1:9", write_limit=1
    )
    reports, events = (10_000, 100_000) if quick else (100_000, 1_000_000)
    seconds = load(reports, events)
    print(
        f"  admin pages: loaded {reports:,} reports/entries, {3 * reports:,} lines, {events:,} events "
        f"in {seconds:.0f} s",
        flush=True,
    )
    user, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    rows: list[Row] = []
    for name, url in PAGES.items():
        answer = client.get(url)  # warm: templates, caches
        assert answer.status_code == 200, (url, answer.status_code)
        statements: list[str] = []
        counter = Counter(statements)
        with connection.execute_wrapper(counter):
            client.get(url)
        times = []
        for _ in range(7):
            started = time.perf_counter()
            client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        median = statistics.median(times)
        print(
            f"  admin {name}: {len(statements)} queries, median {median:.0f} ms "
            f"(min {min(times):.0f}, max {max(times):.0f}); slowest statement {counter.slowest[0]:.0f} ms: "
            f"{short(counter.slowest[1])}",
            flush=True,
        )
        rows.append(
            Row(
                "5 Admin",
                f"{name} page ({reports // 1000}k reports, {events // 1000}k events)",
                f"{median:.0f} ms, {len(statements)} queries",
                f"< {TARGET_MS:g} ms, constant queries",
                median < TARGET_MS,
            )
        )
    harness.clear_data()
    return rows
