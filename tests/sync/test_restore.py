"""A restored backup: the ledger forgets posts Sage holds; nothing is posted twice (issues 11, 14).

The database is dumped after a first run, more reports are posted (and left unmarked in
Expensify), then the older dump is loaded over the live database, as an administrator restoring
last night's backup would. The next runs must adopt or flag what Sage already holds.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection

from connector.models import Company
from mappings.models import CategoryMapping
from sync.models import EntryState, ExpenseReport, JournalEntry, ReportState
from sync.services import reconcile
from tests.sync.conftest import (
    TODAY,
    audit,
    demo_reports,
    exp_control,
    expense,
    load_reports,
    reference_counts,
    report,
    run,
    states,
)

APPS = ["connector", "mappings", "sync", "audit"]


def backup() -> str:
    out = io.StringIO()
    call_command("dumpdata", *APPS, format="json", stdout=out)
    return out.getvalue()


def restore(dump: str, tmp_path) -> None:
    """Empty the live tables and load the dump, as a restore over a live database does."""
    path = tmp_path / "backup.json"
    path.write_text(dump)
    call_command("flush", interactive=False, verbosity=0)
    call_command("loaddata", str(path), verbosity=0)
    if connection.vendor == "postgresql":  # loaddata keeps ids: move the sequences past them
        from django.apps import apps
        from django.core.management.color import no_style

        models = [m for app in APPS for m in apps.get_app_config(app).get_models()]
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), models):
                cursor.execute(sql)


@pytest.mark.django_db(transaction=True)
def test_a_restored_backup_posts_nothing_twice(abc, expensify_sim, sage_sim, tmp_path):
    first = demo_reports()
    load_reports(expensify_sim, first)
    run(abc)
    dump = backup()
    in_backup = set(states(abc))

    # After the backup: two new reports are posted; Expensify never confirms their marks.
    late = [
        report("LATE1", [expense("T-L1", 4200)], approved=TODAY - timedelta(days=1)),
        report(
            "LATE2", [expense("T-L2", 5100, category="Office Supplies")], approved=TODAY - timedelta(days=1)
        ),
    ]
    load_reports(expensify_sim, [*first, *late])
    exp_control(expensify_sim, "/_sim/config", {"unmarkable": ["LATE1", "LATE2"]})
    run(abc)
    assert reference_counts(sage_sim)["EXP LATE1"] == reference_counts(sage_sim)["EXP LATE2"] == 1

    restore(dump, tmp_path)
    company = Company.objects.get(code="ABC")
    assert set(states(company)) == in_backup  # the ledger forgot LATE1 and LATE2
    gap = {(r.reference, r.status) for r in reconcile(company=company)}
    assert ("EXP LATE1", "unknown to the connector") in gap  # reconcile over the gap shows them
    # Between backup and restore someone remapped Airfare: LATE1's build (and key) are new now.
    CategoryMapping.objects.filter(company=company, category="Airfare").update(account="6300-00-000")
    exp_control(expensify_sim, "/_sim/config", {"unmarkable": []})

    run(company)

    counts = reference_counts(sage_sim)
    assert all(n == 1 for n in counts.values()), counts  # 0 duplicates
    assert counts["EXP LATE1"] == counts["EXP LATE2"] == 1
    late_states = {rid: s for rid, s in states(company).items() if rid.startswith("LATE")}
    assert late_states == {"LATE1": ReportState.CHANGED, "LATE2": ReportState.EXPORTED}
    assert audit(company, "found_in_sage", "LATE1") and audit(company, "found_in_sage", "LATE2")
    assert JournalEntry.objects.filter(report__report_id="LATE1", state=EntryState.POSTED).count() == 1
    assert ExpenseReport.objects.get(report_id="LATE1").change_summary.startswith("Sage already holds entry")
    assert [r for r in reconcile(company=company) if not r.ok] == []
