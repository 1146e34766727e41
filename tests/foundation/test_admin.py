"""The operators' admin: write-only secrets, roles, constant-query list pages, read-only audit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import DataError, IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from connector.models import Company, ExpensifyCredential, SageConnection
from connector.roles import ADMINISTRATOR, OPERATOR
from sync.models import ExpenseReport, JournalEntry, JournalLine, SyncRun
from tests.factories import CompanyFactory, ExpensifyCredentialFactory, SageConnectionFactory

pytestmark = pytest.mark.django_db
SECRETS = ("sage-password-Wm2", "agent-key-Zr4", "expensify-secret-Qx7")


def staff_client(group: str) -> Client:
    user = User.objects.create_user(f"{group.split()[-1]}-user", password="pw-123456789", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client_() -> Client:
    return staff_client(ADMINISTRATOR)


@pytest.fixture
def operator_client() -> Client:
    return staff_client(OPERATOR)


@pytest.fixture
def wired_company(company: Company) -> Company:
    ExpensifyCredentialFactory(company=company)
    SageConnectionFactory(company=company)
    return company


def company_form_data(company: Company, **secrets: str) -> dict[str, str]:
    data = {
        "name": company.name,
        "code": company.code,
        "enabled": "on",
        "account_mask": company.account_mask,
        "segment_names_0": "Main",
        "segment_names_1": "Department",
        "segment_names_2": "Location",
        "required_segments": "",
        "reimbursable_offset_account": "2100-00-000",
        "card_offset_account": "2150-00-000",
        "entry_shape": "summary",
        "posting_date_rule": "approved",
        "closed_period_rule": "fail",
        "source_journal": "GJ",
        "home_currency": "USD",
        "expensify_policy_ids": "",
        "export_label": "ml-connector",
        "export_start_date": "2026-01-01",
        "schedule_kind": "manual",
        "max_concurrent_writes": "1",
        "max_post_attempts": "6",
        "max_retry_seconds": "120",
        "expensify-TOTAL_FORMS": "1",
        "expensify-INITIAL_FORMS": "1",
        "expensify-MIN_NUM_FORMS": "0",
        "expensify-MAX_NUM_FORMS": "1",
        "expensify-0-id": str(company.expensify.pk),
        "expensify-0-company": str(company.pk),
        "expensify-0-base_url": "http://127.0.0.1:9/Integration-Server/ExpensifyIntegrations",
        "expensify-0-partner_user_id": "partner",
        "expensify-0-partner_user_secret": secrets.get("expensify", ""),
        "expensify-0-timeout_seconds": "60",
        "sage-TOTAL_FORMS": "1",
        "sage-INITIAL_FORMS": "1",
        "sage-MIN_NUM_FORMS": "0",
        "sage-MAX_NUM_FORMS": "1",
        "sage-0-id": str(company.sage.pk),
        "sage-0-company": str(company.pk),
        "sage-0-transport": "agent",
        "sage-0-base_url": "http://127.0.0.1:9",
        "sage-0-agent_api_key": secrets.get("agent", ""),
        "sage-0-sage_username": "connector",
        "sage-0-sage_password": secrets.get("sage", ""),
        "sage-0-connect_timeout": "10",
        "sage-0-read_timeout": "60",
    }
    return data


def test_company_page_never_renders_a_secret(admin_client_: Client, wired_company: Company) -> None:
    html = admin_client_.get(f"/admin/connector/company/{wired_company.pk}/change/").content.decode()
    assert "A value is set; leave blank to keep it." in html
    for secret in SECRETS:
        assert secret not in html


def test_blank_secret_keeps_the_stored_value(admin_client_: Client, wired_company: Company) -> None:
    response = admin_client_.post(
        f"/admin/connector/company/{wired_company.pk}/change/", company_form_data(wired_company)
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert SageConnection.objects.get().sage_password == "sage-password-Wm2"
    assert ExpensifyCredential.objects.get().partner_user_secret == "expensify-secret-Qx7"


def test_typed_secret_replaces_the_stored_value(admin_client_: Client, wired_company: Company) -> None:
    response = admin_client_.post(
        f"/admin/connector/company/{wired_company.pk}/change/",
        company_form_data(wired_company, sage="new-password-Pp9"),
    )
    assert response.status_code == 302
    assert SageConnection.objects.get().sage_password == "new-password-Pp9"
    assert SageConnection.objects.get().agent_api_key == "agent-key-Zr4"


def test_bad_offset_account_gets_a_clear_message(admin_client_: Client, wired_company: Company) -> None:
    data = company_form_data(wired_company)
    data["card_offset_account"] = "2150-XX-000"
    html = admin_client_.post(f"/admin/connector/company/{wired_company.pk}/change/", data).content.decode()
    assert "segment 2 (Department) of account &#x27;2150-XX-000&#x27; must be digits only" in html


def test_operator_sees_company_but_no_credentials(operator_client: Client, wired_company: Company) -> None:
    response = operator_client.get(f"/admin/connector/company/{wired_company.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "partner_user_id" not in html
    assert "sage_username" not in html
    assert "Sage 100 connection" not in html


@pytest.mark.parametrize("url", ["/admin/connector/expensifycredential/", "/admin/connector/sageconnection/"])
def test_operator_cannot_reach_credential_pages(operator_client: Client, url: str) -> None:
    assert operator_client.get(url).status_code in (403, 404)


def test_operator_cannot_change_company(operator_client: Client, wired_company: Company) -> None:
    response = operator_client.post(
        f"/admin/connector/company/{wired_company.pk}/change/", company_form_data(wired_company, sage="x" * 8)
    )
    assert response.status_code == 403
    assert SageConnection.objects.get().sage_password == "sage-password-Wm2"


def test_anonymous_is_sent_to_login() -> None:
    response = Client().get("/admin/sync/expensereport/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_audit_events_are_append_only(company: Company) -> None:
    event = AuditEvent.objects.create(company=company, actor="test", action="posted")
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.update(action="x")


def test_audit_admin_offers_no_change_or_delete(admin_client_: Client, company: Company) -> None:
    event = AuditEvent.objects.create(company=company, actor="test", action="posted")
    html = admin_client_.get(f"/admin/audit/auditevent/{event.pk}/change/").content.decode()
    assert 'name="_save"' not in html
    assert admin_client_.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403


@pytest.mark.parametrize("code", ["AB", "abc", "ABCD", "A-C", ""])
def test_company_code_constraint_in_the_database(code: str) -> None:
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        Company.objects.create(name="x", code=code, reimbursable_offset_account="1", card_offset_account="1")


def test_company_code_is_unique() -> None:
    CompanyFactory(code="ABC")
    with pytest.raises(IntegrityError), transaction.atomic():
        Company.objects.create(name="y", code="ABC", reimbursable_offset_account="1", card_offset_account="1")


def make_entry(company: Company) -> JournalEntry:
    report = ExpenseReport.objects.create(
        company=company, report_id="R1", currency="USD", total_cents=100, fingerprint="f"
    )
    return JournalEntry.objects.create(
        company=company,
        report=report,
        idempotency_key="k",
        fingerprint="f",
        posting_date=dt.date(2026, 11, 20),
        reference="EXP R1",
    )


@pytest.mark.parametrize(("debit", "credit"), [(100, 100), (0, 0), (-5, 0), (0, -5), (-5, 10)])
def test_journal_line_needs_exactly_one_positive_side(company: Company, debit: int, credit: int) -> None:
    entry = make_entry(company)
    with pytest.raises(IntegrityError), transaction.atomic():
        JournalLine.objects.create(
            entry=entry, line_no=1, account="6100-00-000", debit_cents=debit, credit_cents=credit
        )


def test_report_id_unique_per_company(company: Company) -> None:
    ExpenseReport.objects.create(
        company=company, report_id="R1", currency="USD", total_cents=1, fingerprint="f"
    )
    other = CompanyFactory(code="XYZ")
    ExpenseReport.objects.create(
        company=other, report_id="R1", currency="USD", total_cents=1, fingerprint="f"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        ExpenseReport.objects.create(
            company=company, report_id="R1", currency="USD", total_cents=1, fingerprint="f"
        )


def seed(company: Company, rows: int, start: int = 0) -> None:
    reports = ExpenseReport.objects.bulk_create(
        ExpenseReport(
            company=company,
            report_id=f"R{i}",
            currency="USD",
            total_cents=i + 1,
            fingerprint="f",
            employee_email=f"e{i}@example.com",
            approved_on=dt.date(2026, 11, 1),
        )
        for i in range(start, start + rows)
    )
    entries = JournalEntry.objects.bulk_create(
        JournalEntry(
            company=company,
            report=r,
            idempotency_key=f"k{r.pk}",
            fingerprint="f",
            posting_date=dt.date(2026, 11, 20),
            reference=f"EXP {r.report_id}",
        )
        for r in reports
    )
    JournalLine.objects.bulk_create(
        JournalLine(
            entry=e,
            line_no=n,
            account="6100-00-000",
            debit_cents=100 if n == 1 else 0,
            credit_cents=0 if n == 1 else 100,
        )
        for e in entries
        for n in (1, 2)
    )
    AuditEvent.objects.bulk_create(
        AuditEvent(
            company=company,
            report=r,
            report_ref=r.report_id,
            actor="test",
            action="posted",
            amount_cents=100,
            currency="USD",
        )
        for r in reports
    )
    SyncRun.objects.bulk_create(
        SyncRun(company=company, trigger="command", finished_at=timezone.now() + dt.timedelta(hours=1))
        for _ in range(rows)
    )


LIST_PAGES = [
    "/admin/sync/expensereport/",
    "/admin/sync/expensereport/?state__exact=new",
    "/admin/sync/journalentry/",
    "/admin/sync/journalline/",
    "/admin/sync/syncrun/",
    "/admin/audit/auditevent/",
    "/admin/connector/company/",
    "/admin/connector/glaccount/",
]


@pytest.mark.parametrize("url", LIST_PAGES)
@pytest.mark.parametrize("rows", [10, 1000])
def test_list_pages_run_a_constant_number_of_queries(
    admin_client_: Client,
    company: Company,
    django_assert_max_num_queries,
    url: str,
    rows: int,  # type: ignore[no-untyped-def]
) -> None:
    seed(company, rows)
    with django_assert_max_num_queries(14):
        response = admin_client_.get(url)
    assert response.status_code == 200


@pytest.mark.parametrize("url", LIST_PAGES)
def test_list_page_queries_do_not_grow_with_rows(admin_client_: Client, company: Company, url: str) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for rows, start in ((10, 0), (990, 10)):
        seed(company, rows, start)
        with CaptureQueriesContext(connection) as captured:
            assert admin_client_.get(url).status_code == 200
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1], f"{url}: {counts[0]} queries at 10 rows, {counts[1]} at 1,000"


def test_audit_list_never_counts_the_whole_table(
    admin_client_: Client,
    company: Company,
    django_assert_max_num_queries,  # type: ignore[no-untyped-def]
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    seed(company, 50)
    with CaptureQueriesContext(connection) as captured:
        admin_client_.get("/admin/audit/auditevent/")
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts, "expected a bounded count"
    for sql in counts:
        assert "LIMIT" in sql.upper(), sql


def test_company_page_refuses_plain_http_to_another_host(
    admin_client_: Client, wired_company: Company
) -> None:
    data = company_form_data(wired_company)
    data["expensify-0-base_url"] = "http://expensify.example.com/Integration-Server/ExpensifyIntegrations"
    data["sage-0-base_url"] = "http://sage.example.com:8443"
    html = admin_client_.post(f"/admin/connector/company/{wired_company.pk}/change/", data).content.decode()
    assert "must start with https://" in html
    assert "The Sage 100 URL" in html
    assert "The Expensify URL" in html
    assert SageConnection.objects.get().base_url == "http://127.0.0.1:9"


def test_operator_cannot_see_task_pages_that_resubmit(operator_client: Client) -> None:
    assert operator_client.get("/admin/django_q/success/").status_code == 403


# --- the dashboard (admin index) ---------------------------------------------------------------------

from collections.abc import Iterator  # noqa: E402

from tests.sync import conftest as sync_fixtures  # noqa: E402

fast_clients = sync_fixtures.fast_clients


@pytest.fixture
def demo_synced(fast_clients: None) -> Iterator[Company]:
    """The demo company after one sync against both simulators (its two intended problems included)."""
    from console.demo import ensure_demo_company
    from simulators.expensify.demo import demo_data
    from simulators.expensify.server import ExpensifySimulator
    from simulators.sage100.demo import demo
    from simulators.sage100.server import SageSimulator
    from sync.services import RunOptions, run_sync

    expensify = ExpensifySimulator(data=demo_data(), rates=[(1000, 1.0)], render_delay=0).start()
    sage = SageSimulator(demo()).start()
    try:
        company = ensure_demo_company()
        company.expensify.base_url = expensify.base_url
        company.expensify.save()
        company.sage.base_url = sage.base_url
        company.sage.save()
        run_sync(company=company, options=RunOptions(trigger="command", actor="test"))
        yield Company.objects.get(pk=company.pk)
    finally:
        expensify.stop()
        sage.stop()


def test_dashboard_counts_what_needs_a_person_with_links(demo_synced: Company) -> None:
    html = staff_client(OPERATOR).get("/admin/").content.decode()
    base = f"/admin/sync/expensereport/?company__id__exact={demo_synced.pk}"
    for state in ("needs_mapping", "failed"):
        assert f'href="{base}&amp;state__exact={state}" data-state="{state}"><strong>1</strong>' in html
    assert "1 report needing a mapping, 1 report failing" in html
    assert "Weekdays 06:15 UTC" in html
    assert "<svg" in html and "finished with report failures" in html
    assert "partial" not in html and "retry_wait" not in html.replace('data-state="retry_wait"', "")


# --- who is told (sync/notify.py) --------------------------------------------------------------------


def test_contacts_get_one_email_per_run_that_needs_a_person_without_secrets(
    fast_clients: None,
    mailoutbox: list,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    from console.demo import ensure_demo_company
    from simulators.expensify.demo import DEMO_PARTNER_USER_SECRET, demo_data
    from simulators.expensify.server import ExpensifySimulator
    from simulators.sage100.demo import DEMO_AGENT_API_KEY, DEMO_PASSWORD, demo
    from simulators.sage100.server import SageSimulator
    from sync.notify import notify_after_run
    from sync.services import RunOptions, run_sync

    settings.ADMIN_BASE_URL = "https://connector.example.com"
    with ExpensifySimulator(data=demo_data(), rates=[(1000, 1.0)], render_delay=0) as expensify:
        sage = SageSimulator(demo()).start()
        try:
            company = ensure_demo_company()
            company.contact_emails = "ap@example.com, not-an-address, controller@example.com"
            company.save()
            company.expensify.base_url = expensify.base_url
            company.expensify.save()
            company.sage.base_url = sage.base_url
            company.sage.save()
            run = run_sync(company=company, options=RunOptions(trigger="command", actor="test"))
            notify_after_run(run)  # the engine called it once already: still one email
            second = run_sync(company=company, options=RunOptions(trigger="command", actor="test"))
        finally:
            sage.stop()
    assert len(mailoutbox) == 1 + (1 if second.reports_failed or second.reports_needing_mapping else 0)
    email = mailoutbox[0]
    assert email.to == ["ap@example.com", "controller@example.com"]
    assert email.subject == "[ml-connector] ABC: 2 reports need a person"
    assert (
        "- 1 needs mapping: https://connector.example.com/admin/sync/expensereport/?company__id__exact="
        in email.body
    )
    for secret in (DEMO_PARTNER_USER_SECRET, DEMO_AGENT_API_KEY, DEMO_PASSWORD):
        assert secret not in email.body and secret not in email.subject
    assert AuditEvent.objects.filter(action="contacts_told").count() == len(mailoutbox)


def test_a_digest_company_is_told_once_a_day_and_a_stop_at_once(
    company: Company,
    mailoutbox: list,  # type: ignore[type-arg]
) -> None:
    from django_q.models import Schedule

    from sync.notify import notify_after_run, send_daily_digests

    Company.objects.filter(pk=company.pk).update(contact_emails="ap@example.com", daily_digest=True)
    ExpenseReport.objects.create(
        company=company, report_id="R9", currency="USD", total_cents=5, fingerprint="f", state="failed"
    )
    run = SyncRun.objects.create(
        company=company,
        trigger="schedule",
        outcome="partial",
        reports_failed=1,
        finished_at=timezone.now() + dt.timedelta(hours=1),
    )
    notify_after_run(run)
    assert mailoutbox == []  # the digest says it
    assert Schedule.objects.filter(name="daily digest", func="sync.tasks.daily_digest").count() == 1
    assert send_daily_digests().startswith("daily digest sent to ABC")
    assert send_daily_digests() == "no daily digest to send"  # once a day
    assert len(mailoutbox) == 1 and "1 report need a person" in mailoutbox[0].subject
    assert "- 1 failed:" in mailoutbox[0].body
    Company.objects.filter(pk=company.pk).update(blocked_reason="Sage 100 refused the password")
    stopped = SyncRun.objects.create(
        company=company,
        trigger="schedule",
        outcome="failed",
        finished_at=timezone.now() + dt.timedelta(hours=1),
    )
    notify_after_run(stopped)
    assert len(mailoutbox) == 2 and "runs stopped — Sage 100 refused the password" in mailoutbox[1].subject


# --- the demo: restarts keep the operator's fixes and the simulators' state ---------------------------


def test_demo_setup_again_keeps_an_edited_mapping(db: None) -> None:
    from console.demo import ensure_demo_company
    from mappings.models import CategoryMapping

    company = ensure_demo_company()
    CategoryMapping.objects.filter(company=company, category="Client Gifts").update(account="6500-00-000")
    CategoryMapping.objects.filter(company=company, category="Airfare").delete()
    Company.objects.filter(pk=company.pk).update(schedule_cron="0 7 * * 1-5")
    ensure_demo_company()
    accounts = dict(CategoryMapping.objects.filter(company=company).values_list("category", "account"))
    assert accounts["Client Gifts"] == "6500-00-000"
    assert accounts["Airfare"] == "6100-00-000"  # a missing one comes back
    assert Company.objects.get(pk=company.pk).schedule_cron == "0 7 * * 1-5"


def test_simulators_restarted_from_their_state_files_keep_reconcile_clean(
    fast_clients: None, tmp_path: Any
) -> None:
    import json

    from console.demo import ensure_demo_company
    from simulators.expensify import __main__ as expensify_main
    from simulators.expensify.demo import demo_data
    from simulators.expensify.server import ExpensifySimulator
    from simulators.sage100 import __main__ as sage_main
    from simulators.sage100.demo import demo
    from simulators.sage100.server import SageSimulator
    from sync.services import RunOptions, reconcile, run_sync

    def wire(expensify: ExpensifySimulator, sage: SageSimulator) -> Company:
        company = ensure_demo_company()
        company.expensify.base_url = expensify.base_url
        company.expensify.save()
        company.sage.base_url = sage.base_url
        company.sage.save()
        return Company.objects.get(pk=company.pk)

    with ExpensifySimulator(data=demo_data(), rates=[(1000, 1.0)], render_delay=0) as expensify:
        sage = SageSimulator(demo()).start()
        try:
            run_sync(company=wire(expensify, sage), options=RunOptions(trigger="command", actor="test"))
            kept_expensify = expensify_main.snapshot(expensify.state)
            kept_sage = sage_main.snapshot(sage.book)
        finally:
            sage.stop()
    assert json.loads(kept_sage)["ABC"]["entries"], "nothing was posted to keep"
    # A restart: fresh simulators with the demo data, then the kept state.
    with ExpensifySimulator(data=demo_data(), rates=[(1000, 1.0)], render_delay=0) as expensify:
        sage = SageSimulator(demo()).start()
        try:
            expensify.state.load(json.loads(kept_expensify))
            sage_main.restore(sage.book, json.loads(kept_sage))
            company = wire(expensify, sage)
            rows = reconcile(company=company)
            second = run_sync(company=company, options=RunOptions(trigger="command", actor="test"))
            again = reconcile(company=company)
        finally:
            sage.stop()
    assert rows and all(row.ok for row in rows), [r for r in rows if not r.ok]
    assert second.reports_posted == 0
    assert all(row.ok for row in again) and len(again) == len(rows)


# --- the report page's actions, the queued page, search and downloads ---------------------------------


def test_accept_change_needs_a_reason_that_goes_into_the_audit(demo_synced: Company) -> None:
    report = ExpenseReport.objects.get(report_id="R00X9oNOn2MO")
    ExpenseReport.objects.filter(pk=report.pk).update(state="changed", change_summary="total 1 → 2")
    client = staff_client(OPERATOR)
    url = f"/admin/sync/expensereport/{report.pk}/accept-change/"
    page = client.get(url).content.decode()
    assert "total 1 → 2" in page and "Why Sage stays as posted" in page
    assert client.post(url, {"reason": ""}).status_code == 200  # refused: a reason is needed
    assert ExpenseReport.objects.get(pk=report.pk).state == "changed"
    assert client.post(url, {"reason": "receipt fixed after the close"}).status_code == 302
    assert ExpenseReport.objects.get(pk=report.pk).state == "exported"
    event = AuditEvent.objects.get(report=report, action="change_accepted")
    assert event.message == "receipt fixed after the close" and event.actor == "admin:operator-user"


def test_replay_button_queues_and_the_queued_page_follows_the_task_to_its_run(
    demo_synced: Company, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django_q.conf import Conf

    from mappings.models import CategoryMapping

    CategoryMapping.objects.filter(company=demo_synced, category="Client Gifts").update(account="6500-00-000")
    report = ExpenseReport.objects.get(report_id="R04G1fts0Nov")
    client = staff_client(OPERATOR)
    monkeypatch.setattr(Conf, "SYNC", False)
    queued = client.post(f"/admin/sync/expensereport/{report.pk}/replay/")
    assert queued.status_code == 302 and "/admin/sync/syncrun/queued/" in queued["Location"]
    waiting = client.get(queued["Location"]).content.decode()
    assert "Queued: waiting for a worker" in waiting and 'http-equiv="refresh"' in waiting
    assert ExpenseReport.objects.get(pk=report.pk).state == "failed"  # nothing ran in the request
    # A worker runs it (here: the task function itself, as django-q2 would).
    from django_q.models import Task

    from sync.tasks import replay_reports

    result = replay_reports(demo_synced.pk, ["R04G1fts0Nov"], "admin:operator-user")
    task_id = queued["Location"].rstrip("/").rsplit("/", 1)[-1]
    now = timezone.now()
    Task.objects.create(
        id=task_id,
        name="replay",
        func="sync.tasks.replay_reports",
        started=now,
        stopped=now,
        success=True,
        result=result,
    )
    done = client.get(queued["Location"])
    run = SyncRun.objects.filter(trigger="replay").get()
    assert done.status_code == 302 and done["Location"] == f"/admin/sync/syncrun/{run.pk}/change/"
    assert ExpenseReport.objects.get(pk=report.pk).state == "exported"


def test_partial_search_finds_reports_by_merchant_employee_and_part_of_an_id(demo_synced: Company) -> None:
    client = staff_client(OPERATOR)

    def found(term: str, url: str = "/admin/sync/expensereport/") -> str:
        return client.get(url, {"q": term}).content.decode()

    assert "R03OffS1te22" in found("navarro") and "R00X9oNOn2MO" not in found("navarro")
    assert "R03OffS1te22" in found("OffS1te") and "R03OffS1te22" in found("sam.okafor")
    assert "R03OffS1te22" in found("okafor", "/admin/audit/auditevent/")
    assert "R04G1fts0Nov" not in found("okafor", "/admin/audit/auditevent/")


def test_downloads_stream_the_filtered_rows_as_csv_and_xlsx(demo_synced: Company) -> None:
    import csv
    import io

    import openpyxl

    client = staff_client(OPERATOR)
    response = client.get(
        "/admin/sync/expensereport/download/", {"format": "csv", "state__exact": "exported"}
    )
    assert response.status_code == 200 and response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 4 and {r["state"] for r in rows} == {"Posted and marked exported"}
    assert all(r["total"].count(".") == 1 and r["currency"] == "USD" for r in rows)
    lines = client.get("/admin/sync/journalline/download/", {"format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(lines.streaming_content))).active
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header[:4] == ["company", "report_id", "reference", "posting_date"] and "debit" in header
    audit = client.get("/admin/audit/auditevent/download/", {"format": "csv", "q": "R03OffS1te22"})
    text = b"".join(audit.streaming_content).decode()
    assert "Needs mapping" in text and "R04G1fts0Nov" not in text
    assert client.get("/admin/audit/auditevent/download/", {"format": "pdf"}).status_code == 302


def test_journal_entry_page_shows_money_with_currency_and_a_totals_row(demo_synced: Company) -> None:
    from sync.models import JournalEntry

    entry = JournalEntry.objects.filter(report__report_id="R00X9oNOn2MO").get()
    html = staff_client(OPERATOR).get(f"/admin/sync/journalentry/{entry.pk}/change/").content.decode()
    assert "1,098.95 USD" in html and 'class="totals-row"' in html and "Total (balanced)" in html
    assert "Dr " not in html


def test_post_correction_is_queued_with_its_reason_and_comes_back_to_the_report(
    demo_synced: Company, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)  # the worker runs it inline here
    report = ExpenseReport.objects.get(report_id="R00X9oNOn2MO")
    ExpenseReport.objects.filter(pk=report.pk).update(state="changed", change_summary="total 1 → 2")
    client = staff_client(OPERATOR)
    page = client.get(f"/admin/sync/expensereport/{report.pk}/change/").content.decode()
    assert 'data-action="correction"' in page and 'data-action="accept"' in page
    url = f"/admin/sync/expensereport/{report.pk}/correction/"
    assert "Why the correction is posted" in client.get(url).content.decode()
    queued = client.post(url, {"reason": "refund booked in Expensify"})
    assert queued.status_code == 302
    back = client.get(queued["Location"])
    assert back.status_code == 302 and back["Location"] == f"/admin/sync/expensereport/{report.pk}/change/"
    # Expensify's latest revision is what Sage holds: nothing to post, the change is settled.
    assert ExpenseReport.objects.get(pk=report.pk).state == "exported"
    event = AuditEvent.objects.get(report=report, action="change_accepted")
    assert "refund booked in Expensify" in event.message


def test_favicon_is_served_not_a_404(client: Client) -> None:
    answer = client.get("/favicon.ico")
    assert answer.status_code == 301 and answer["Location"].endswith("connector/favicon.svg")


@pytest.mark.django_db
def test_a_refused_page_is_logged_once_without_a_traceback(
    operator_client: Client, wired_company: Company, caplog
) -> None:
    """A 403 is an answer, not a fault: the django.request line stays, its traceback goes."""
    import logging

    from connector.logs import ForbiddenWithoutTraceback

    handler_filter = ForbiddenWithoutTraceback()
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    keep.addFilter(handler_filter)
    logger = logging.getLogger("django.request")
    logger.addHandler(keep)
    try:
        answer = operator_client.post(
            f"/admin/connector/company/{wired_company.pk}/change/",
            company_form_data(wired_company, sage="x" * 8),
        )
    finally:
        logger.removeHandler(keep)
    assert answer.status_code == 403
    forbidden = [r for r in records if getattr(r, "status_code", None) == 403]
    assert len(forbidden) == 1
    assert forbidden[0].exc_info is None and not forbidden[0].exc_text
    from django.conf import settings

    assert "forbidden" in settings.LOGGING["loggers"]["django.request"]["filters"]
