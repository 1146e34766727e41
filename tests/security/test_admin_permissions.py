"""Every admin page and action, for anonymous, staff without a group, operator and administrator.

Pages come from admin.site._registry (tests/security/pages.py): a newly registered model is
covered without editing this file, and an operator is denied it until the operator role says
otherwise. Existing checks not repeated here: tests/foundation/test_admin.py (operator sees no
credentials, cannot change a company; audit admin has no save/delete) and
tests/mappings/test_spreadsheet_admin.py (import/export permissions).
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client, RequestFactory
from django.utils import timezone

from audit.models import AuditEvent
from connector.models import Company
from sync.models import ExpenseReport, JournalEntry, JournalLine, SyncRun
from tests.factories import (
    CategoryMappingFactory,
    EmployeeMappingFactory,
    ExpensifyCredentialFactory,
    GLAccountFactory,
    SageConnectionFactory,
    TagMappingFactory,
)
from tests.security.conftest import administrator_client, operator_client, staff_client
from tests.security.pages import Page, all_pages, registered_models

pytestmark = pytest.mark.django_db

VIEW_KINDS = {
    "changelist",
    "change",
    "history",
    "download",
    "agent_docs",
    "admin:connector_company_policy_data",
    "admin:connector_company_refresh_chart",
    "admin:sync_expensereport_preview",
    "admin:sync_expensereport_replay",
    "admin:sync_expensereport_lookup",
}
# A GET of a POST-only action is refused; a confirmation page with nothing to confirm sends back.
GET_REFUSED = {"admin:connector_company_sync_now"}
SENDS_BACK = {"admin:sync_expensereport_accept_change", "admin:sync_expensereport_correction"}
MAPPINGS = {"mappings.categorymapping", "mappings.tagmapping", "mappings.employeemapping"}
# Rows the engine or the task queue writes: nobody adds or deletes them by hand.
WRITTEN_BY_MACHINE = {
    "audit.auditevent",
    "connector.glaccount",
    "sync.expensereport",
    "sync.journalentry",
    "sync.journalline",
    "sync.syncrun",
    "django_q.success",
    "django_q.failure",
}
# What the operator role may look at (every connector model) and change (mappings only).
OPERATOR_VIEWS = {
    "connector.company",
    "connector.glaccount",
    *MAPPINGS,
    "sync.expensereport",
    "sync.journalentry",
    "sync.journalline",
    "sync.syncrun",
    "audit.auditevent",
    # Only schedules of django-q2: its task pages offer "Resubmit" to anyone who can view them.
    "django_q.schedule",
}
OPERATOR_ACTIONS = {
    "connector.company": {"sync_now", "test_connections", "refresh_chart_of_accounts"},
    "sync.expensereport": {"replay_reports", "accept_change"},
    **{label: {"delete_selected"} for label in MAPPINGS},
}
ADMINISTRATOR_ACTIONS = {
    "connector.company": {"delete_selected", "sync_now", "test_connections", "refresh_chart_of_accounts"},
    "sync.expensereport": {"replay_reports", "accept_change"},
    **{label: {"delete_selected"} for label in MAPPINGS},
    "django_q.schedule": {"delete_selected"},
    "django_q.ormq": {"delete_selected"},
    "django_q.success": {"delete_selected", "resubmit_task"},
    "django_q.failure": {"delete_selected", "resubmit_task"},
}


@pytest.fixture
def everything(company: Company, monkeypatch: pytest.MonkeyPatch) -> Company:
    """At least one row of every registered model, so every per-object page exists."""
    from django_q.models import OrmQ, Schedule, Task

    import mappings.policy

    # The policy page's permission is under test here, not Expensify: answer at once.
    monkeypatch.setattr(mappings.policy, "load_policy_data", Spy())

    ExpensifyCredentialFactory(company=company)
    SageConnectionFactory(company=company)
    GLAccountFactory(company=company)
    CategoryMappingFactory(company=company)
    TagMappingFactory(company=company)
    EmployeeMappingFactory(company=company)
    report = ExpenseReport.objects.create(
        company=company, report_id="R1", currency="USD", total_cents=100, fingerprint="f", state="failed"
    )
    entry = JournalEntry.objects.create(
        company=company,
        report=report,
        idempotency_key="k",
        fingerprint="f",
        posting_date=dt.date(2026, 11, 20),
        reference="EXP R1",
    )
    JournalLine.objects.create(entry=entry, line_no=1, account="6100-00-000", debit_cents=100)
    SyncRun.objects.create(
        company=company, trigger="command", finished_at=timezone.now() + dt.timedelta(hours=1)
    )
    AuditEvent.objects.create(company=company, report=report, report_ref="R1", actor="test", action="posted")
    Schedule.objects.create(func="sync.tasks.sync_company", args=str(company.pk), name="sync ABC")
    now = timezone.now()
    for success in (True, False):
        Task.objects.create(
            id=f"task{success:d}",
            name=f"task-{success}",
            func="sync.tasks.sync_company",
            started=now,
            stopped=now,
            success=success,
        )
    if "orm" in settings.Q_CLUSTER:
        OrmQ.objects.create(key="ml-connector", payload="x", lock=now)
    return company


def expected_for_operator(page: Page) -> int:
    if page.label not in OPERATOR_VIEWS or page.kind in GET_REFUSED:
        return 403
    if page.kind in SENDS_BACK:
        return 302
    if page.kind in VIEW_KINDS:
        return 200
    return 200 if page.label in MAPPINGS else 403


def expected_for_administrator(page: Page) -> int:
    if page.label.startswith("auth.") or page.kind in GET_REFUSED:
        return 403  # users and groups are the superuser's
    if page.kind in SENDS_BACK:
        return 302
    if page.kind in VIEW_KINDS:
        return 200
    if page.kind == "add" and page.label in WRITTEN_BY_MACHINE | {"django_q.ormq"}:
        return 403
    # django-q2 lets its task results be deleted; the engine's own records never are.
    if page.kind == "delete" and page.label in WRITTEN_BY_MACHINE - {"django_q.success", "django_q.failure"}:
        return 403
    return 200


def statuses(client: Client, pages: list[Page]) -> dict[tuple[str, str, str], int]:
    return {(p.label, p.kind, p.url): client.get(p.url).status_code for p in pages}


def test_every_model_is_covered(everything: Company) -> None:
    staff_client("no-group")
    pages = all_pages()
    labels = {p.label for p in pages}
    assert labels == {m._meta.label_lower for m in registered_models()}
    with_objects = {p.label for p in pages if p.kind == "change"}
    assert with_objects == labels, "a registered model has no row: its object pages went untested"


def test_anonymous_is_sent_to_login_everywhere(everything: Company) -> None:
    client = Client()
    for page in all_pages():
        response = client.get(page.url)
        assert response.status_code == 302, page
        assert response["Location"].startswith("/admin/login/?next="), page


def test_staff_without_a_group_is_refused_everywhere(everything: Company) -> None:
    client = staff_client("no-group")
    refused = statuses(client, all_pages())
    assert {key: code for key, code in refused.items() if code != 403} == {}
    index = client.get("/admin/").content.decode()
    assert "/admin/connector/" not in index and "/admin/sync/" not in index


def test_operator_pages(everything: Company) -> None:
    got = statuses(operator_client(), all_pages())
    wrong = {key: code for key, code in got.items() if code != expected_for_operator(Page(*key))}
    assert wrong == {}


def test_administrator_pages(everything: Company) -> None:
    got = statuses(administrator_client(), all_pages())
    wrong = {key: code for key, code in got.items() if code != expected_for_administrator(Page(*key))}
    assert wrong == {}


def test_operator_company_page_is_read_only_and_shows_no_credentials(everything: Company) -> None:
    html = operator_client().get(f"/admin/connector/company/{everything.pk}/change/").content.decode()
    assert 'name="_save"' not in html
    assert "partner_user_secret" not in html and "sage_password" not in html


@pytest.mark.parametrize("who", ["operator", "administrator"])
def test_nobody_deletes_the_audit_trail(everything: Company, who: str) -> None:
    client = operator_client() if who == "operator" else administrator_client()
    event = AuditEvent.objects.get()
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    response = client.post(
        "/admin/audit/auditevent/",
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert response.status_code in (200, 302)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_operator_cannot_add_or_delete_a_company(everything: Company) -> None:
    client = operator_client()
    assert client.post("/admin/connector/company/add/", {"name": "x", "code": "NEW"}).status_code == 403
    assert (
        client.post(f"/admin/connector/company/{everything.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    client.post(
        "/admin/connector/company/",
        {"action": "delete_selected", "_selected_action": [everything.pk], "post": "yes"},
    )
    assert Company.objects.filter(code="NEW").count() == 0
    assert Company.objects.filter(pk=everything.pk).exists()


def registered_only(table: dict[str, set[str]]) -> dict[str, set[str]]:
    """django-q2 registers its queue (OrmQ) admin only with the ORM broker, not with Redis."""
    labels = {m._meta.label_lower for m in registered_models()}
    return {label: names for label, names in table.items() if label in labels}


def actions_by_model(username: str) -> dict[str, set[str]]:
    request = RequestFactory().get("/admin/")
    request.user = User.objects.get(username=username)
    found = {}
    for model, model_admin in admin.site._registry.items():
        names = set(model_admin.get_actions(request))
        if names and model_admin.has_view_or_change_permission(request):
            found[model._meta.label_lower] = names
    return found


def test_actions_offered_to_each_role(everything: Company) -> None:
    operator_client()
    administrator_client()
    staff_client("no-group")
    assert actions_by_model("sec-operator") == registered_only(OPERATOR_ACTIONS)
    assert actions_by_model("sec-administrator") == registered_only(ADMINISTRATOR_ACTIONS)
    assert actions_by_model("no-group") == {}


class Spy:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        return SimpleNamespace(outcome="success", message="", pk=None, get_outcome_display=lambda: "Success")


class QueueSpy(Spy):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        super().__call__(*args, **kwargs)
        return "task-id-recorded"


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> dict[str, Spy]:
    """The work behind each connector action, replaced by recorders."""
    import connector.sage100.services
    import mappings.policy
    import sync.services
    import sync.tasks

    found = {name: Spy() for name in ("queue_sync", "replay", "test_expensify", "test_sage", "refresh")}
    monkeypatch.setattr(sync.tasks, "queue_sync", found["queue_sync"])
    # Replay from the list is queued to the workers, like the report page's button.
    found["replay"] = QueueSpy()
    monkeypatch.setattr(sync.tasks, "queue_replay", found["replay"])
    monkeypatch.setattr(mappings.policy, "test_expensify_connection", found["test_expensify"])
    monkeypatch.setattr(connector.sage100.services, "test_sage_connection", found["test_sage"])
    monkeypatch.setattr(connector.sage100.services, "refresh_chart", found["refresh"])
    return found


def all_actions(everything: Company) -> list[tuple[str, str, int]]:
    """(changelist URL, action, a selected pk) for every action the administrator is offered."""
    found = []
    for label, names in sorted(registered_only(ADMINISTRATOR_ACTIONS).items()):
        model = next(m for m in registered_models() if m._meta.label_lower == label)
        obj = model._default_manager.order_by("pk").first()
        assert obj is not None, label
        url = f"/admin/{label.replace('.', '/')}/"
        found += [(url, name, obj.pk) for name in sorted(names)]
    return found


def counts() -> dict[str, int]:
    from django_q.models import OrmQ, Task

    return {m._meta.label_lower: m._default_manager.count() for m in [*registered_models(), Task, OrmQ]} | {
        "changed": ExpenseReport.objects.filter(state="changed").count()
    }


def test_staff_without_a_group_cannot_run_any_action(everything: Company, spies: dict[str, Spy]) -> None:
    client = staff_client("no-group")
    before = counts()
    for url, action, pk in all_actions(everything):
        response = client.post(url, {"action": action, "_selected_action": [pk], "post": "yes"})
        assert response.status_code == 403, (url, action)
    assert counts() == before
    assert all(not spy.calls for spy in spies.values())


def test_every_action_post_without_csrf_token_is_refused(everything: Company, spies: dict[str, Spy]) -> None:
    client = administrator_client(enforce_csrf_checks=True)
    client.get("/admin/")  # a session and a CSRF cookie exist: only the token is missing
    before = counts()
    for url, action, pk in all_actions(everything):
        response = client.post(url, {"action": action, "_selected_action": [pk], "post": "yes"})
        assert response.status_code == 403, (url, action)
        assert b"CSRF" in response.content, (url, action)
    assert counts() == before
    assert all(not spy.calls for spy in spies.values())


def test_a_get_never_runs_an_action(everything: Company, spies: dict[str, Spy]) -> None:
    client = administrator_client(enforce_csrf_checks=True)
    before = counts()
    for url, action, pk in all_actions(everything):
        response = client.get(url, {"action": action, "_selected_action": [pk], "post": "yes", "index": 0})
        assert response.status_code in (200, 302), (url, action)
    assert counts() == before
    assert all(not spy.calls for spy in spies.values())


def test_with_the_token_the_operator_action_runs(everything: Company, spies: dict[str, Spy]) -> None:
    client = operator_client(enforce_csrf_checks=True)
    client.get("/admin/connector/company/")
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post(
        "/admin/connector/company/",
        {"action": "sync_now", "_selected_action": [everything.pk], "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert len(spies["queue_sync"].calls) == 1
    response = client.post(
        "/admin/sync/expensereport/",
        {
            "action": "replay_reports",
            "_selected_action": [ExpenseReport.objects.get().pk],
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 302
    assert len(spies["replay"].calls) == 1
