"""Admin: replay, preview, sync now, accept change, with both simulators on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from connector.models import Company
from connector.roles import OPERATOR
from console.demo import ensure_demo_company
from mappings.models import CategoryMapping
from simulators.expensify.demo import demo_data
from simulators.expensify.server import ExpensifySimulator
from simulators.sage100.demo import demo
from simulators.sage100.server import SageSimulator
from sync.models import ExpenseReport, ReportState
from sync.services import RunOptions, run_sync

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_clients")]


@pytest.fixture
def simulators() -> Iterator[tuple[ExpensifySimulator, SageSimulator]]:
    expensify = ExpensifySimulator(data=demo_data(), rates=[(1000, 1.0)], render_delay=0).start()
    sage = SageSimulator(demo()).start()
    try:
        yield expensify, sage
    finally:
        expensify.stop()
        sage.stop()


@pytest.fixture
def synced(simulators: tuple[ExpensifySimulator, SageSimulator]) -> Company:
    expensify, sage = simulators
    company = ensure_demo_company()
    company.max_concurrent_writes = 1
    company.save()
    company.expensify.base_url = expensify.base_url
    company.expensify.save()
    company.sage.base_url = sage.base_url
    company.sage.save()
    run_sync(company=company, options=RunOptions(trigger="command", actor="test"))
    return company


def operator() -> Client:
    user = User.objects.create_user("op", password="pw-123456789", is_staff=True)
    user.groups.add(Group.objects.get(name=OPERATOR))
    client = Client()
    client.force_login(user)
    return client


def test_operator_replays_a_failed_report_after_fixing_its_mapping(synced: Company) -> None:
    report = ExpenseReport.objects.get(report_id="R04G1fts0Nov")
    assert report.state == ReportState.FAILED
    CategoryMapping.objects.filter(company=synced, category="Client Gifts").update(account="6500-00-000")
    client = operator()
    response = client.post(
        "/admin/sync/expensereport/",
        {"action": "replay_reports", "_selected_action": [report.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "ABC replay of R04G1fts0Nov queued to the workers" in response.content.decode()
    report.refresh_from_db()
    assert report.state == ReportState.FAILED  # nothing ran inside the request
    from django.conf import settings
    from django_q.models import OrmQ

    if "orm" in settings.Q_CLUSTER:
        assert OrmQ.objects.count() == 1
    # What the worker runs with the queued task's arguments.
    from sync.tasks import replay_reports

    assert "success" in replay_reports(synced.pk, ["R04G1fts0Nov"], "admin:op")
    report.refresh_from_db()
    assert report.state == ReportState.EXPORTED
    assert report.entries.get(state="posted").lines.filter(account="6500-00-000", debit_cents=31450).exists()
    assert report.audit_events.filter(action="replay_requested", actor="admin:op").exists()


def test_replay_skips_reports_that_are_not_replayable(synced: Company) -> None:
    posted = ExpenseReport.objects.get(report_id="R00X9oNOn2MO")
    response = operator().post(
        "/admin/sync/expensereport/",
        {"action": "replay_reports", "_selected_action": [posted.pk]},
        follow=True,
    )
    assert "skipped R00X9oNOn2MO" in response.content.decode()
    assert posted.entries.count() == 1


def test_replay_needs_a_post(synced: Company) -> None:
    report = ExpenseReport.objects.get(report_id="R04G1fts0Nov")
    response = operator().get(
        f"/admin/sync/expensereport/?action=replay_reports&_selected_action={report.pk}"
    )
    assert response.status_code in (200, 302)
    report.refresh_from_db()
    assert report.state == ReportState.FAILED


def test_preview_shows_lines_and_the_mapping_behind_each(synced: Company) -> None:
    report = ExpenseReport.objects.get(report_id="R00X9oNOn2MO")
    html = operator().get(f"/admin/sync/expensereport/{report.pk}/preview/").content.decode()
    assert "6100-01-000" in html
    assert "1,098.95" in html
    assert "category mapping Airfare" in html


def test_preview_of_an_unmapped_report_names_the_category(synced: Company) -> None:
    report = ExpenseReport.objects.get(report_id="R03OffS1te22")
    html = operator().get(f"/admin/sync/expensereport/{report.pk}/preview/").content.decode()
    assert "Team Offsite" in html
    assert "Needs mapping" in html  # in words, never the code (issue 12)


def test_report_page_shows_expenses_entry_and_audit_timeline(synced: Company) -> None:
    report = ExpenseReport.objects.get(report_id="R00X9oNOn2MO")
    html = operator().get(f"/admin/sync/expensereport/{report.pk}/change/").content.decode()
    assert "United Airlines" in html
    assert "EXP R00X9oNOn2MO" in html
    assert "expense_posted" in html
    assert report.entries.get().sage_entry_no in html


def test_sync_now_queues_a_task(synced: Company) -> None:
    from django_q.models import OrmQ

    response = operator().post(
        "/admin/connector/company/", {"action": "sync_now", "_selected_action": [synced.pk]}, follow=True
    )
    assert "sync queued" in response.content.decode()
    from django.conf import settings

    if "orm" in settings.Q_CLUSTER:
        assert OrmQ.objects.count() == 1


def test_accept_change_keeps_the_posted_entry(synced: Company) -> None:
    report = ExpenseReport.objects.get(report_id="R00X9oNOn2MO")
    ExpenseReport.objects.filter(pk=report.pk).update(state=ReportState.CHANGED, change_summary="total 1 → 2")
    operator().post(
        "/admin/sync/expensereport/", {"action": "accept_change", "_selected_action": [report.pk]}
    )
    report.refresh_from_db()
    assert report.state == ReportState.EXPORTED
    assert report.audit_events.filter(action="change_accepted").exists()


def test_policy_data_page_lists_unmapped_categories(synced: Company) -> None:
    html = operator().get(f"/admin/connector/company/{synced.pk}/policy-data/").content.decode()
    assert "Team Offsite" in html


def test_changing_credentials_lets_a_stopped_company_run_again(synced: Company) -> None:
    Company.objects.filter(pk=synced.pk).update(blocked_reason="Sage 100 refused the password.")
    synced.refresh_from_db()
    synced.sage.sage_password = "a-new-password"
    synced.sage.save()
    synced.refresh_from_db()
    assert synced.blocked_reason == ""
    from audit.models import AuditEvent

    event = AuditEvent.objects.filter(action="company_resumed").get()
    assert "Sage 100 connection changed" in event.message
