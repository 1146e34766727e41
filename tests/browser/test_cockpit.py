"""The operator's cockpit in real Chromium: dashboard, fix links, replay, refusals, roles."""

from __future__ import annotations

import re
from typing import Any

import pytest

from connector.models import Company, SageConnection
from mappings.models import CategoryMapping
from sync.models import ExpenseReport, ReportState
from tests.browser.conftest import shot
from tests.mappings.conftest import csv_file

pytestmark = pytest.mark.django_db(transaction=True)


def test_dashboard_counts_and_chart_after_the_demo_sync(demo: Company, page_as: Any) -> None:
    page = page_as("admin")
    page.goto("/admin/")
    card = page.locator(f'article[data-company="{demo.code}"]')
    assert card.locator(".cockpit-status").inner_text() == "1 report needing a mapping, 1 report failing"
    assert card.locator('a[data-state="needs_mapping"]').inner_text() == "1 Needs mapping"
    assert card.locator('a[data-state="failed"]').inner_text() == "1 Failed"
    posted_today = card.locator(".cockpit-posted tr").first.inner_text()
    assert re.match(r"Today\s+4 entries\s+[\d,]+\.\d\d USD", posted_today), posted_today
    # This week's bar has a height; the failure line has a point per week.
    bars = card.locator("svg rect.bar")
    assert bars.count() == 12
    assert float(bars.nth(11).get_attribute("height") or 0) > 0
    assert card.locator("svg circle.fail-dot").count() == 12
    assert "Weekdays 06:15 UTC" in card.inner_text()
    health = card.locator(".cockpit-health")
    assert health.count() == 2
    for index, name in enumerate(("Expensify", "Sage")):
        line = health.nth(index).inner_text()
        assert re.fullmatch(rf"{name}: OK — last contact today \d\d:\d\d UTC", line), line
        assert health.nth(index).get_attribute("data-level") == "ok"
    shot(page, "dashboard")
    page.click(f'article[data-company="{demo.code}"] a[data-state="failed"]')
    assert "R04G1fts0Nov" in page.locator("#result_list").inner_text()
    assert page.locator("#result_list tbody tr").count() == 1


def test_needs_mapping_link_to_the_prefilled_mapping_then_replay_shows_the_sage_entry(
    demo: Company, page_as: Any
) -> None:
    page = page_as("operator")
    page.goto("/admin/")
    page.click('a[data-state="needs_mapping"]')
    page.click("text=R03OffS1te22")
    assert "Needs mapping" in page.locator(".field-what_to_do").inner_text()
    shot(page, "report-needs-mapping")
    page.click("text=Add a mapping for category “Team Offsite”")
    assert page.locator("#id_category").input_value() == "Team Offsite"
    assert page.locator("#id_company").input_value() == str(demo.pk)
    page.fill("#id_account", "6100-00-000")
    shot(page, "mapping-prefilled")
    page.click('input[name="_save"]')
    page.wait_for_selector(".messagelist .success")
    assert CategoryMapping.objects.filter(
        company=demo, category="Team Offsite", account="6100-00-000"
    ).exists()
    report = ExpenseReport.objects.get(report_id="R03OffS1te22")
    page.goto(f"/admin/sync/expensereport/{report.pk}/change/")
    page.click('a[data-action="replay"]')
    shot(page, "replay-confirm")
    page.click('input[name="confirm"]')
    # Queued (inline here), then the page follows the task to its run.
    page.wait_for_url(re.compile(r"/admin/sync/syncrun/\d+/change/"))
    shot(page, "replay-run")
    report.refresh_from_db()
    assert report.state == ReportState.EXPORTED
    entry_no = report.entries.get(state="posted").sage_entry_no
    page.goto(f"/admin/sync/expensereport/{report.pk}/change/")
    assert entry_no and entry_no in page.locator("body").inner_text()
    assert "Posted and marked exported" in page.locator(".field-what_to_do").inner_text()
    shot(page, "report-posted")


def test_an_inactive_account_is_refused_naming_it(demo: Company, page_as: Any) -> None:
    page = page_as("operator")
    report = ExpenseReport.objects.get(report_id="R04G1fts0Nov")
    page.goto(f"/admin/sync/expensereport/{report.pk}/change/")
    page.click("text=Change the mapping “Client Gifts” → 6900-00-000")
    page.click('input[name="_save"]')
    error = page.locator(".errorlist").first.inner_text()
    assert "Account 6900-00-000 is inactive in company ABC's chart of accounts" in error
    assert page.locator(".errorlist a", has_text="refresh the chart of accounts").count() == 1
    shot(page, "mapping-inactive-refused")
    page.fill("#id_account", "6500-00-000")
    page.click('input[name="_save"]')
    page.wait_for_selector(".messagelist .success")
    assert CategoryMapping.objects.get(company=demo, category="Client Gifts").account == "6500-00-000"


def test_a_company_with_three_bad_fields_shows_them_all_and_names_the_unsaved_secret(
    demo: Company, page_as: Any
) -> None:
    page = page_as("admin")
    page.goto("/admin/connector/company/add/")
    page.fill("#id_name", "Broken Co")
    page.fill("#id_code", "b!")
    page.fill("#id_reimbursable_offset_account", "2100-XX-000")
    page.fill("#id_card_offset_account", "2150-00-000")
    page.fill("#id_export_start_date", "2026-01-01")
    page.select_option("#id_schedule_kind", "cron")
    page.fill("#id_schedule_cron", "every morning")
    page.fill("#id_sage-0-base_url", "http://127.0.0.1:9")
    page.fill("#id_sage-0-sage_username", "connector")
    page.fill("#id_sage-0-sage_password", "typed-but-lost-Pq7")
    page.click('input[name="_save"]')
    page.wait_for_selector(".errornote")
    errors = page.locator(".errorlist").all_inner_texts()
    text = " ".join(errors)
    assert "Exactly 3 uppercase letters or digits." in text
    assert "must be digits only" in text
    assert "Not a valid cron expression" in text
    assert "what you typed in Sage password was not stored" in page.locator(".messagelist").inner_text()
    assert "typed-but-lost-Pq7" not in page.content()
    assert not Company.objects.filter(name="Broken Co").exists()
    shot(page, "company-three-errors")


def test_a_spreadsheet_with_a_bad_row_names_the_row(demo: Company, page_as: Any, tmp_path: Any) -> None:
    page = page_as("operator")
    upload = csv_file(
        [
            ["company", "category", "account", "note"],
            ["ABC", "Team Offsite", "6100-00-000", ""],
            ["ABC", "Client Gifts", "6900-00-000", "still the retired one"],
        ]
    )
    path = tmp_path / "mappings.csv"
    path.write_bytes(upload.read())
    page.goto("/admin/mappings/categorymapping/import/")
    page.set_input_files("#id_import_file", str(path))
    page.click('input[type="submit"]')
    errors = page.locator(".import-row-errors").inner_text()
    assert "row 3: account 6900-00-000 is inactive in company ABC's chart of accounts" in errors
    assert page.locator('input[value="Confirm import"]').count() == 0
    shot(page, "import-bad-row")


def test_an_operator_never_sees_credentials(demo: Company, page_as: Any) -> None:
    page = page_as("operator")
    page.goto(f"/admin/connector/company/{demo.pk}/change/")
    body = page.locator("body").inner_text()
    assert "Sage 100 connection" not in body and "Partner user secret" not in body
    assert page.locator('input[type="password"]').count() == 0
    assert page.locator('input[name="_save"]').count() == 0
    shot(page, "operator-company")
    response = page.goto(f"/admin/connector/sageconnection/{SageConnection.objects.get().pk}/change/")
    assert response is not None and response.status in (403, 404)


def test_dashboard_says_sage_unreachable_since_with_the_last_error(demo: Company, page_as: Any) -> None:
    from sync.services import RunOptions, run_sync

    SageConnection.objects.filter(company=demo).update(base_url="http://127.0.0.1:9")  # nothing listens
    run_sync(company=Company.objects.get(pk=demo.pk), options=RunOptions(trigger="command", actor="test"))
    page = page_as("operator")
    page.goto("/admin/")
    card = page.locator(f'article[data-company="{demo.code}"]')
    expensify, sage = (card.locator(f'.cockpit-health[data-system="{s}"]') for s in ("expensify", "sage"))
    assert expensify.inner_text().startswith("Expensify: OK — last contact today ")
    text = sage.inner_text()
    since = r"Sage: unreachable since today \d\d:\d\d UTC — retrying, 1 failed run in a row \(last error: "
    assert re.match(since, text), text
    assert "could not be reached" in text and sage.get_attribute("data-level") == "failing"
    shot(page, "dashboard-sage-unreachable")
