"""From an approved expense report to a balanced Sage 100 journal entry: pure, no models, no I/O.

The sync engine reads the report, the company's rules, mappings, chart and periods, and calls
`build_entry`. It gets back a `BuiltEntry` ready to post (plus what the preview page and the
audit trail need), or `NothingToPost`, or one of the typed errors: `NeedsMapping` (a person
must add or fix mappings), `ReportRejected` (the report cannot be posted as it is) and
`BuildBug` (this module got it wrong; never expected).

Money is integer cents throughout (see `docs/accounting.md`); accounts are formatted only
through the company's `AccountMask`.
"""

from sync.journal.build import build_entry
from sync.journal.fingerprints import describe_difference, entry_fingerprint, report_fingerprint
from sync.journal.lines import _check_balanced
from sync.journal.types import (
    ACTIVE,
    CLOSED_PERIOD_RULES,
    ENTRY_SHAPES,
    MAX_LINE_CENTS,
    POSTING_DATE_RULES,
    REFERENCE_PREFIX,
    BuildBug,
    BuiltEntry,
    Chart,
    ClosedPeriodRule,
    CompanyRules,
    EntryLine,
    EntryShape,
    ExpenseInput,
    JournalError,
    LineKind,
    MappingTables,
    NeedsMapping,
    NothingToPost,
    Period,
    Periods,
    PostingDateRule,
    ReportInput,
    ReportRejected,
)

__all__ = [
    "ACTIVE",
    "CLOSED_PERIOD_RULES",
    "ENTRY_SHAPES",
    "MAX_LINE_CENTS",
    "POSTING_DATE_RULES",
    "REFERENCE_PREFIX",
    "BuildBug",
    "BuiltEntry",
    "Chart",
    "ClosedPeriodRule",
    "CompanyRules",
    "EntryLine",
    "EntryShape",
    "ExpenseInput",
    "JournalError",
    "LineKind",
    "MappingTables",
    "NeedsMapping",
    "NothingToPost",
    "Period",
    "Periods",
    "PostingDateRule",
    "ReportInput",
    "ReportRejected",
    "_check_balanced",
    "build_entry",
    "describe_difference",
    "entry_fingerprint",
    "report_fingerprint",
]
