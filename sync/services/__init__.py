"""The sync engine, one module per concern (see docs/architecture.md):

- ingest: store what an Expensify export returned;
- ledger: the state machine (the one writer of a report's state) and the entries a report sends;
- posting: where a report is posted (`Poster.prepare` → `transmit` → `finish`);
- runs: a run's five steps (`run_sync`), marking exported, due retries;
- review: replay, accept a change, preview and dry run;
- reconcile: the ledger against everything Sage holds.
"""

from sync.services.context import BuildContext, PeriodCache
from sync.services.counts import RunCounts
from sync.services.entries import idempotency_key, payload_of, save_entry
from sync.services.ingest import report_input_from_export, upsert_rejected, upsert_report
from sync.services.ledger import move
from sync.services.marking import mark_exported
from sync.services.posting import Poster
from sync.services.reconcile import ReconcileRow, reconcile
from sync.services.retry_wait import due_retries
from sync.services.review import DryRunEntry, accept_change, dry_run, preview, replay, replayable
from sync.services.runs import Connections, RunOptions, run_sync
from sync.services.sends import CompanyStopped

__all__ = [
    "BuildContext",
    "CompanyStopped",
    "Connections",
    "DryRunEntry",
    "PeriodCache",
    "Poster",
    "ReconcileRow",
    "RunCounts",
    "RunOptions",
    "accept_change",
    "dry_run",
    "due_retries",
    "idempotency_key",
    "mark_exported",
    "move",
    "payload_of",
    "preview",
    "reconcile",
    "replay",
    "replayable",
    "report_input_from_export",
    "run_sync",
    "save_entry",
    "upsert_rejected",
    "upsert_report",
]
