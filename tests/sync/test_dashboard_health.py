"""The dashboard's connection lines in the page (issue 12), and a page that costs the same for any count."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connector.models import Company
from sync.models import ConnectionHealth, SyncRun
from tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("dash-admin", "a@example.com", "pw-123456789"))
    return client


def health_lines(html: str, code: str) -> list[str]:
    card = html.split(f'data-company="{code}"', 1)[1].split("</article>", 1)[0]
    return [
        re.sub(r"\s+", " ", text).strip()
        for text in re.findall(r'<p class="cockpit-health[^"]*"[^>]*>(.*?)</p>', card, re.S)
    ]


def troubled(company: Company, *, stopped: bool = False) -> None:
    now = timezone.now()
    ConnectionHealth.objects.create(company=company, system="expensify", last_ok_at=now)
    ConnectionHealth.objects.create(
        company=company,
        system="sage",
        last_ok_at=now - dt.timedelta(seconds=3),
        last_error_at=now,
        failing_since=now - dt.timedelta(seconds=2),
        trouble="user name or password rejected" if stopped else "unreachable",
        last_error="The Sage 100 agent could not be reached (company ABC).",
    )
    reason = "Sage 100 refused the username or password" if stopped else ""
    Company.objects.filter(pk=company.pk).update(
        blocked_reason=reason, degraded_reason="" if stopped else "Sage 100 unavailable", failure_streak=1
    )
    SyncRun.objects.create(
        company=company, trigger="schedule", outcome="failed", finished_at=now + dt.timedelta(seconds=1)
    )


def test_the_card_says_one_line_per_system_in_words(admin: Client, company: Company) -> None:
    troubled(company)

    lines = health_lines(admin.get("/admin/").content.decode(), company.code)

    assert len(lines) == 2
    assert re.fullmatch(r"Expensify: OK — last contact today \d\d:\d\d UTC", lines[0]), lines[0]
    assert re.fullmatch(
        r"Sage: unreachable since today \d\d:\d\d UTC — retrying, 1 failed run in a row "
        r"\(last error: The Sage 100 agent could not be reached \(company ABC\)\.\)",
        lines[1],
    ), lines[1]


def test_a_stopped_company_says_stopped_beside_the_system_with_the_last_error_below(
    admin: Client, company: Company
) -> None:
    troubled(company, stopped=True)

    html = admin.get("/admin/").content.decode()

    assert health_lines(html, company.code)[1] == "Sage: stopped — user name or password rejected"
    assert 'data-system="sage">Last error today' in html
    assert "AUTH_SAGE" not in html and "unreachable" not in html


def test_a_company_never_contacted_says_so(admin: Client, company: Company) -> None:
    lines = health_lines(admin.get("/admin/").content.decode(), company.code)

    assert lines == ["Expensify: no contact recorded yet", "Sage: no contact recorded yet"]


def page_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/admin/").status_code == 200
    return len(captured.captured_queries)


def test_the_dashboard_costs_the_same_queries_for_one_company_or_four(admin: Client, company: Any) -> None:
    troubled(company)
    page_queries(admin)  # caches warmed (closed weeks, sessions)
    one = page_queries(admin)
    for code in ("BBB", "CCC", "DDD"):
        troubled(CompanyFactory(code=code))
    page_queries(admin)
    assert page_queries(admin) == one
