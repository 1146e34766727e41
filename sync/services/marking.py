"""Marking posted reports exported in Expensify: only what Expensify confirms counts."""

from __future__ import annotations

from django.utils import timezone

from connector.models import Company
from sync import selectors
from sync.models import ReportState
from sync.services.ledger import move_many
from sync.services.seams import ExpensifySession

S = ReportState


def mark_exported(*, company: Company, client: ExpensifySession, actor: str) -> int:
    """Mark every posted, unmarked report exported; only marks Expensify confirms are recorded."""
    reports = list(selectors.reports_to_mark(company))
    if not reports:
        return 0
    confirmed = set(client.mark_exported([r.report_id for r in reports], label=company.export_label))
    done = move_many(
        [r for r in reports if r.report_id in confirmed],
        S.EXPORTED,
        from_state=S.POSTED,
        actor=actor,
        action="marked_exported",
        message=f"label {company.export_label!r}, confirmed by Expensify",
        exported_at=timezone.now(),
    )
    return len(done)
