"""Planted secrets never leak: not into the database, logs, errors, admin pages, exports or task results.

One test per Sage transport runs real syncs against both simulators with the planted secrets,
then failures (garbage and echoing answers, Sage timeouts, a wrong Sage password and a wrong
Expensify secret, each stopping the company, a plain-http URL), the admin actions and every admin
page, and finally looks for every planted secret everywhere something is written or shown.
"""

from __future__ import annotations

import io
import traceback
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from audit.models import AuditEvent
from connector.models import Company, ExpensifyCredential, SageConnection
from simulators.expensify import ExpensifySimulator
from simulators.sage100 import SageSimulator
from sync.models import ExpenseReport, SyncRun
from tests.security.conftest import (
    EXPENSIFY_SECRET,
    SAGE_PASSWORD,
    WRONG_EXPENSIFY_SECRET,
    WRONG_SAGE_PASSWORD,
    Captured,
    administrator_client,
    leaks,
)
from tests.security.pages import all_pages
from tests.sync.conftest import exp_control, expense, load_reports, report, run, sage_faults

pytestmark = pytest.mark.django_db(transaction=False)

SECRET_COLUMNS = {
    "connector_expensifycredential": ("partner_user_secret",),
    "connector_sageconnection": ("agent_api_key", "sage_password"),
}


def dump_database() -> dict[str, str]:
    """Every table as text (SQL, not the ORM: what a backup or a read-only DB user would see)."""
    tables: dict[str, str] = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            rows = cursor.fetchall()
            tables[table] = "\n".join(
                " | ".join(
                    value.decode("latin-1") if isinstance(value, (bytes, memoryview)) else str(value)
                    for value in (bytes(v) if isinstance(v, memoryview) else v for v in row)
                )
                for row in rows
            )
    return tables


def secret_columns_are_ciphertext() -> None:
    with connection.cursor() as cursor:
        for table, columns in SECRET_COLUMNS.items():
            for column in columns:
                cursor.execute(f"SELECT {column} FROM {table}")
                for (value,) in cursor.fetchall():
                    assert value == "" or value.startswith("gAAAAA"), f"{table}.{column} is not ciphertext"


def session_text() -> str:
    from django.contrib.sessions.models import Session

    return "\n".join(repr(s.get_decoded()) for s in Session.objects.all())


def task_text() -> str:
    """django-q2 results and queued payloads, unpickled (the raw columns are pickles)."""
    from django_q.models import OrmQ, Task
    from django_q.signing import SignedPackage

    texts = [f"{t.name} {t.func} {t.args!r} {t.kwargs!r} {t.result!r} {t.group}" for t in Task.objects.all()]
    texts += [repr(SignedPackage.loads(q.payload)) for q in OrmQ.objects.all()]
    return "\n".join(texts)


def redis_text() -> str:
    """Every key and value in the Redis database (limiter state, django-q2's queue), if one is used."""
    from django.conf import settings

    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return ""
    import redis

    client = redis.Redis.from_url(url)
    readers = {
        b"string": client.get,
        b"list": lambda k: client.lrange(k, 0, -1),
        b"hash": client.hgetall,
        b"set": client.smembers,
        b"zset": lambda k: client.zrange(k, 0, -1, withscores=True),
    }
    texts = []
    for key in client.scan_iter(count=1000):
        reader = readers.get(client.type(key))
        texts.append(f"{key!r} {reader(key) if reader else ''!r}")
    return "\n".join(texts)


def error_texts(error: BaseException) -> list[str]:
    return [str(error), repr(error), "".join(traceback.format_exception(error))]


def collect(call: Callable[[], Any], errors: list[str]) -> Any:
    """Run `call`; keep the text, repr and traceback of whatever it raises."""
    try:
        return call()
    except Exception as exc:  # every exception type counts
        errors += error_texts(exc)
        return None


def spreadsheet_texts(client: Any) -> list[str]:
    """The admin's csv and xlsx exports of every mapping table."""
    texts = []
    for model, fields in (
        ("categorymapping", ("company", "category", "account", "note")),
        ("tagmapping", ("company", "tag_level", "tag_value", "segment", "code", "note")),
        ("employeemapping", ("company", "employee_email", "reimbursable_offset_account", "note")),
    ):
        for file_format in ("0", "1"):
            data = {"format": file_format, "resource": "0"}
            data.update({f"{model}resource_{name}": "on" for name in fields})
            response = client.post(f"/admin/mappings/{model}/export/", data)
            assert response.status_code == 200, (model, file_format)
            content = response.content
            if file_format == "1":
                with zipfile.ZipFile(io.BytesIO(content)) as book:
                    content = b"".join(book.read(name) for name in book.namelist())
            texts.append(content.decode("utf-8", "replace"))
    return texts


def test_planted_secrets_never_leak(
    planted_company: Company,
    planted_expensify: ExpensifySimulator,
    planted_sage: SageSimulator,
    transport: str,
    all_logs: Captured,
    tmp_path: Any,
) -> None:
    from django_q.tasks import async_task

    from connector.sage100.gateway import open_gateway, settings_for_company
    from connector.sage100.services import refresh_chart, test_sage_connection
    from mappings.policy import load_policy_data, test_expensify_connection

    company = planted_company
    errors: list[str] = []
    shown: dict[str, str] = {}

    # A normal sync, then the admin's connection test and chart refresh.
    first = run(company)
    assert first.reports_posted > 0, first.message
    admin = administrator_client()
    for action in ("test_connections", "refresh_chart_of_accounts"):
        response = admin.post(
            "/admin/connector/company/", {"action": action, "_selected_action": [company.pk]}, follow=True
        )
        shown[f"action {action}"] = response.content.decode()

    # Expensify answers garbage, then an error, each echoing the request's secret back.
    faults = [
        {"kind": "garbage", "body": f"<html>partnerUserSecret={EXPENSIFY_SECRET}</html>"},
        {"kind": "json_error", "code": 500, "message": f"Internal error for {EXPENSIFY_SECRET}"},
    ]
    for fault in faults:
        exp_control(planted_expensify, "/_sim/faults", {"next": [fault] * 8, "clear": True})
        run(company)
    exp_control(planted_expensify, "/_sim/faults", {"next": [], "clear": True})

    # Sage times out after writing, then is unavailable for a read.
    load_reports(planted_expensify, [report("RSEC1", [expense("TSEC1", 4321)])])
    sage_faults(
        planted_sage,
        {"fault": "timeout_after", "ops": "post", "times": 1},
        {"fault": "unavailable", "ops": "read", "times": 1},
    )
    run(company)
    sage_faults(planted_sage)

    # A wrong Sage password stops the company.
    conn = SageConnection.objects.get(company=company)
    conn.sage_password = WRONG_SAGE_PASSWORD
    conn.save()
    load_reports(planted_expensify, [report("RSEC2", [expense("TSEC2", 1111)])])
    run(company)
    company.refresh_from_db()
    assert company.blocked_reason, "a wrong Sage password must stop the company"
    collect(lambda: test_sage_connection(company), errors)
    collect(lambda: refresh_chart(company), errors)
    collect(lambda: open_gateway(settings_for_company(company)).periods(2026), errors)

    # Back to the right password; a wrong Expensify secret stops the company.
    conn.sage_password = SAGE_PASSWORD
    conn.save()
    Company.objects.filter(pk=company.pk).update(blocked_reason="")
    credential = ExpensifyCredential.objects.get(company=company)
    credential.partner_user_secret = WRONG_EXPENSIFY_SECRET
    credential.save()
    stopped = run(company)
    company.refresh_from_db()
    assert company.blocked_reason, f"a wrong Expensify secret must stop the company: {stopped.message}"
    collect(lambda: test_expensify_connection(company), errors)
    collect(lambda: load_policy_data(company), errors)
    shown["policy page, wrong secret"] = admin.get(
        f"/admin/connector/company/{company.pk}/policy-data/"
    ).content.decode()

    # A plain-http URL to another host is refused, naming the URL but no secret.
    conn.base_url = "http://sage.example.com/" + ("MasService.svc" if transport == "soap" else "")
    conn.save()
    collect(lambda: open_gateway(settings_for_company(company)), errors)
    conn.base_url = planted_sage.base_url if transport == "agent" else planted_sage.soap_url
    conn.save()
    credential.partner_user_secret = EXPENSIFY_SECRET
    credential.save()
    Company.objects.filter(pk=company.pk).update(blocked_reason="")

    # The background task, run inline so its result is stored like the worker's.
    async_task("sync.tasks.sync_company", company.pk, "admin", "admin:sec", sync=True)

    # Every admin page, both mapping spreadsheets, the company file.
    for page in all_pages(per_model=20):
        response = admin.get(page.url)
        assert response.status_code in (200, 302, 403), (page, response.status_code)
        shown[page.url] = response.content.decode("utf-8", "replace")
    for n, text in enumerate(spreadsheet_texts(admin)):
        shown[f"mapping spreadsheet {n}"] = text
    out = io.StringIO()
    call_command("export_company", company.code, stdout=out)
    shown["export_company"] = out.getvalue()
    call_command("export_company", company.code, output=tmp_path / "abc.json")
    shown["export_company file"] = (tmp_path / "abc.json").read_text()

    # The records the engine keeps.
    shown["sync runs"] = "\n".join(SyncRun.objects.values_list("message", flat=True))
    shown["last errors"] = "\n".join(ExpenseReport.objects.values_list("last_error", flat=True))
    shown["blocked reasons"] = "\n".join(Company.objects.values_list("blocked_reason", flat=True))
    shown["audit trail"] = "\n".join(
        f"{e.action} {e.actor} {e.message} {e.account}" for e in AuditEvent.objects.all()
    )
    shown["django-q tasks"] = task_text()
    shown["sessions"] = session_text()
    shown["redis"] = redis_text()
    assert SyncRun.objects.filter(company=company).exclude(message="").exists()
    assert ExpenseReport.objects.filter(company=company).exclude(last_error="").exists() or any(
        "Expensify" in m for m in SyncRun.objects.values_list("message", flat=True)
    )

    # The scan.
    secret_columns_are_ciphertext()
    found = {f"table {name}": leaks(text) for name, text in dump_database().items()}
    found.update({where: leaks(text) for where, text in shown.items()})
    found["errors"] = leaks("\n".join(errors))
    found["console log (settings.LOGGING)"] = leaks(all_logs.console.getvalue())
    found["raw log records"] = leaks(all_logs.raw_text())
    assert {where: secrets for where, secrets in found.items() if secrets} == {}
    assert errors, "the failures raised nothing to inspect"
    assert len(all_logs.records) > 100 and all_logs.console.getvalue(), "DEBUG logging captured little"
    assert any(line.startswith("httpcore") for line in all_logs.records), "httpcore DEBUG not captured"


def test_the_configured_console_redacts_what_a_careless_log_line_carries(all_logs: Captured) -> None:
    """The other half: if code ever logs a secret, the handler settings.LOGGING installs blanks it
    (message, arguments and traceback), while the raw record, which the leak scan also reads, has it."""
    import logging

    from connector.logs import MASK, register_secret

    register_secret(SAGE_PASSWORD)
    log = logging.getLogger("connector.careless")
    log.debug("logon with %s", SAGE_PASSWORD)
    try:
        raise RuntimeError(f"refused password {SAGE_PASSWORD}")
    except RuntimeError:
        log.exception("call failed")
    console = all_logs.console.getvalue()
    assert SAGE_PASSWORD not in console
    assert console.count(MASK) >= 2 and "refused password" in console
    assert leaks(all_logs.raw_text()) == [SAGE_PASSWORD]
