"""The report state table: every move it allows works, every other move raises, and nothing but
sync.services.ledger writes a report's state."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from audit.models import AuditEvent
from sync.models import ExpenseReport, ReportState
from sync.services.ledger import IllegalMove, move
from sync.states import TRANSITIONS
from tests.factories import CompanyFactory

ROOT = Path(__file__).resolve().parents[2]
ALL = [state.value for state in ReportState]
PAIRS = [(a, b) for a in ALL for b in ALL]


def test_every_state_has_a_row():
    assert set(TRANSITIONS) == set(ALL)
    assert all(set(targets) <= set(ALL) for targets in TRANSITIONS.values())


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_a_move_happens_exactly_when_the_table_allows_it(db, source, target):
    company = CompanyFactory(code="STM")
    report = ExpenseReport.objects.create(
        company=company,
        report_id=f"R-{source}-{target}",
        currency="USD",
        total_cents=0,
        fingerprint="f",
        state=source,
    )
    if target not in TRANSITIONS[source]:
        with pytest.raises(IllegalMove):
            move(report, target, actor="test", action="probe")
        assert ExpenseReport.objects.get(pk=report.pk).state == source
        return
    assert move(report, target, actor="test", action="probe", message="walked")
    assert ExpenseReport.objects.get(pk=report.pk).state == target
    (event,) = AuditEvent.objects.filter(report=report, action="probe")
    assert event.message == "walked"


def test_a_move_from_a_state_the_row_left_does_nothing(db):
    company = CompanyFactory(code="STN")
    report = ExpenseReport.objects.create(
        company=company, report_id="R1", currency="USD", total_cents=0, fingerprint="f", state=ReportState.NEW
    )
    stale = ExpenseReport.objects.get(pk=report.pk)
    assert move(report, ReportState.FAILED, actor="a", action="x")
    assert not move(stale, ReportState.POSTED, actor="b", action="y")  # another worker moved it first
    assert ExpenseReport.objects.get(pk=report.pk).state == ReportState.FAILED


def test_nothing_but_the_ledger_writes_a_report_state():
    """A report's state changes only through move()/move_many(): no other UPDATE or save of it."""
    writers = re.compile(
        r"\.update\([^)]*\bstate\s*=\s*([\w.]+)|report\.state\s*=(?!=)\s*([\w.]+)"
        r"|\.save\(\s*update_fields=\[[^]]*\"state\""
    )
    allowed = {ROOT / "sync/services/ledger.py"}
    found = []
    for path in [*ROOT.glob("sync/**/*.py"), *ROOT.glob("connector/**/*.py"), *ROOT.glob("mappings/**/*.py")]:
        if "migrations" in path.parts or path in allowed:
            continue
        text = path.read_text()
        for match in writers.finditer(text):  # across lines: an update(...) may span several
            value = match.group(1) or match.group(2) or ""
            if value.startswith(("EntryState", "entry_state", "RunOutcome")):
                continue  # an entry's or a run's state, not a report's
            number = text.count("\n", 0, match.start()) + 1
            found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0).strip()}")
    assert found == []
