"""The ledger: the one function that moves a report between states, and the entries it sends.

Every state a report can be in, and every move between them, is in TRANSITIONS; `move()` is the
only writer of `ExpenseReport.state` (a conditional UPDATE: the move happens only if the row is
still in the state the caller saw) and writes the audit row for the move. Entries follow one
rule, kept by a database constraint as well as by this module: a report has at most one *open*
entry (sent, outcome not yet definite), and while it has one, that entry's key and body are the
only thing `entry_to_send` hands out.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.services import record, record_many
from connector.logs import redact
from connector.models import Company
from connector.rows import insert_new
from sync.models import (
    ExpenseReport,
    ReportOwner,
    ReportState,
)
from sync.states import TRANSITIONS

log = logging.getLogger(__name__)
S = ReportState


class IllegalMove(RuntimeError):
    """A move the transition table does not allow: a defect in the engine, never a report problem."""


def check_move(from_state: str, to_state: str) -> None:
    if to_state not in TRANSITIONS.get(from_state, frozenset()):
        raise IllegalMove(f"a report cannot move from {from_state!r} to {to_state!r}")


def move(
    report: ExpenseReport,
    to: str,
    *,
    actor: str,
    action: str | None = None,
    message: str = "",
    from_states: Sequence[str] | None = None,
    holder: str | None = None,
    detail: dict[str, Any] | None = None,
    where: dict[str, Any] | None = None,
    **fields: Any,
) -> bool:
    """Move `report` to `to` if it is still in `from_states` (default: the state it was read in),
    and (when `action` is given) audit the move. Returns False when another worker moved it first.

    `holder`: only if this worker's claim still holds (a claimed report's end is its claimer's).
    `where`: only if these columns still hold these values (the revision the caller built from)."""
    sources = list(from_states) if from_states is not None else [report.state]
    for source in sources:
        check_move(source, to)
    now = timezone.now()
    rows = ExpenseReport.objects.filter(pk=report.pk, state__in=sources)
    if holder is not None:
        rows = rows.filter(claimed_by=holder)
    if where:
        rows = rows.filter(**where)
    if "last_error" in fields:
        fields["last_error"] = redact(str(fields["last_error"]))
    updated = rows.update(state=to, updated_at=now, **fields)
    if not updated:
        return False
    # The row now is what we wrote: mirror it instead of reading it back.
    report.state = to
    for name, value in fields.items():
        if not hasattr(value, "resolve_expression"):
            setattr(report, name, value)
    if action:
        record(action=action, actor=actor, report=report, message=redact(message), detail=detail)
    return True


def move_many(
    reports: Sequence[ExpenseReport],
    to: str,
    *,
    from_state: str,
    actor: str,
    action: str,
    message: str,
    **fields: Any,
) -> list[ExpenseReport]:
    """`move` for a batch in one UPDATE and one audit INSERT; returns the reports that moved."""
    check_move(from_state, to)
    if not reports:
        return []
    now = timezone.now()
    with transaction.atomic():
        pks = list(
            ExpenseReport.objects.select_for_update()
            .filter(pk__in=[r.pk for r in reports], state=from_state)
            .values_list("pk", flat=True)
        )
        ExpenseReport.objects.filter(pk__in=pks).update(state=to, updated_at=now, **fields)
        moved = [r for r in reports if r.pk in set(pks)]
        for report in moved:
            report.state = to
        record_many({"action": action, "actor": actor, "report": r, "message": message} for r in moved)
    return moved


def claim(
    report: ExpenseReport,
    *,
    holder: str,
    from_states: Iterable[str],
    seconds: float,
    revision: str | None = None,
) -> bool:
    """Move a report to `posting` only if it is still in one of `from_states` (one worker wins)
    and, given a `revision` (fingerprint), still holds that revision."""
    return move(
        report,
        S.POSTING,
        actor=holder,
        from_states=list(from_states),
        where={"fingerprint": revision} if revision is not None else None,
        claimed_by=holder,
        claimed_until=timezone.now() + dt.timedelta(seconds=seconds),
        attempts=F("attempts") + 1,
    )


def take_over_stale(report: ExpenseReport, *, holder: str) -> bool:
    """A report a dead worker left in `posting` (its claim expired): its send may have gone out."""
    now = timezone.now()
    updated = ExpenseReport.objects.filter(pk=report.pk, state=S.POSTING, claimed_until__lt=now).update(
        state=S.UNKNOWN, claimed_by=holder, updated_at=now
    )
    if updated:
        report.state = S.UNKNOWN
        record(
            action="claim_taken_over",
            actor=holder,
            report=report,
            message="a worker stopped while posting; settled under the same key before anything else",
        )
    return bool(updated)


# ---------------------------------------------------------------------------------------------
# One report, one ledger


def owner_of(report_id: str) -> int | None:
    """The company whose ledger holds (or is about to hold) this Expensify report, if any."""
    return ReportOwner.objects.filter(report_id=report_id).values_list("company_id", flat=True).first()


def take_ownership(report: ExpenseReport) -> int | None:
    """Claim the report ID for its company's ledger; returns the other company's id when it is taken."""
    # INSERT ... ON CONFLICT DO NOTHING: whoever inserted first owns it; only a taken ID is read back.
    if insert_new(ReportOwner(report_id=report.report_id, company_id=report.company_id)):
        return None
    owner = owner_of(report.report_id)
    return None if owner == report.company_id else owner


def conflict_message(report_id: str, owner_id: int | None) -> str:
    """Why a report is held: which company's ledger already has it, and what to check."""
    found = Company.objects.filter(pk=owner_id).values_list("code", flat=True).first() if owner_id else None
    other = found or "another company"
    return (
        f"report {report_id} is already posted or being posted by company {other}: an Expensify report "
        "goes into one ledger only. Check which company's policy list should hold its policy."
    )
