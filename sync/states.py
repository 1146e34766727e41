"""Report states: where a report may go from each, and the groups the engine and the admin use.

`sync.services.ledger.move` is the one function that changes a report's state, and it checks
every move against TRANSITIONS (drawn in docs/architecture.md).
"""

from __future__ import annotations

from sync.models import ReportState

S = ReportState
# Where a report may go from each state. A move not listed here is a bug and raises.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.NEW: frozenset(
        {S.NEW, S.READY, S.POSTING, S.NEEDS_MAPPING, S.FAILED, S.POSTED, S.WITHDRAWN, S.CONFLICT}
    ),
    S.READY: frozenset({S.NEW, S.POSTING, S.NEEDS_MAPPING, S.FAILED, S.POSTED, S.WITHDRAWN, S.CONFLICT}),
    S.NEEDS_MAPPING: frozenset(
        {S.NEW, S.READY, S.POSTING, S.NEEDS_MAPPING, S.FAILED, S.POSTED, S.WITHDRAWN, S.CONFLICT}
    ),
    S.RETRY_WAIT: frozenset(
        {S.NEW, S.READY, S.POSTING, S.NEEDS_MAPPING, S.FAILED, S.POSTED, S.WITHDRAWN, S.CONFLICT}
    ),
    S.FAILED: frozenset({S.NEW, S.READY, S.WITHDRAWN}),
    S.WITHDRAWN: frozenset({S.NEW}),
    S.CONFLICT: frozenset({S.NEW, S.READY}),
    # Claimed by a run: only that run records where the send ended.
    S.POSTING: frozenset({S.POSTED, S.CHANGED, S.FAILED, S.RETRY_WAIT, S.UNKNOWN, S.READY}),
    # An open outcome: settled under the same key (claimed again), nothing else.
    S.UNKNOWN: frozenset({S.POSTING, S.UNKNOWN}),
    S.POSTED: frozenset({S.EXPORTED, S.CHANGED}),
    S.EXPORTED: frozenset({S.CHANGED}),
    # Accepted (posted/exported), or claimed to post a correction.
    S.CHANGED: frozenset({S.CHANGED, S.POSTED, S.EXPORTED, S.POSTING}),
}
# States a run picks up by itself; failed, changed, withdrawn and conflict wait for a person.
POSTABLE_STATES = (S.NEW, S.READY, S.NEEDS_MAPPING)
REPLAYABLE_STATES = (S.FAILED, S.NEEDS_MAPPING, S.RETRY_WAIT, S.WITHDRAWN, S.CONFLICT)
IN_LEDGER_STATES = (S.POSTING, S.POSTED, S.EXPORTED, S.CHANGED, S.UNKNOWN)
