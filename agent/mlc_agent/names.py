"""Every BOI name the agent uses, in one table: a site on another Sage 100 version adjusts it here.

Sources for each name are in docs/agent.md ("BOI facts"). Names marked UNVERIFIED there were not
found in a public file layout or sample; check them against the site's Sage 100 file layouts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BoiNames:
    """Object, task, method and field names of one Sage 100 version."""

    script_progid: str = "ProvideX.Script"
    session_class: str = "SY_Session"
    module_gl: str = "G/L"
    # Tasks passed to nLookupTask before nSetProgram: reads use account maintenance, posts the journal.
    read_task: str = "GL_Account_ui"
    post_task: str = "GL_GeneralJournal_ui"
    # Business and service objects.
    journal_bus: str = "GL_GeneralJournal_bus"
    account_svc: str = "GL_Account_svc"
    structure_svc: str = "GL_AccountStructure_svc"
    fiscal_svc: str = "GL_FiscalYearDetail_svc"
    # Journal header fields (GL_GeneralJournalHeader).
    h_source_journal: str = "SourceJournal$"
    h_entry_no: str = "EntryNo$"
    h_posting_date: str = "PostingDate$"
    h_comment: str = "JournalComment$"
    h_batch_no: str = "BatchNo$"
    # Journal line fields (GL_GeneralJournalDetail), reached through the header's oLines.
    l_account: str = "Account$"
    l_debit: str = "DebitAmount"
    l_credit: str = "CreditAmount"
    l_comment: str = "PostingComment$"
    # GL_Account fields.
    a_key: str = "AccountKey$"
    a_account: str = "Account$"
    a_desc: str = "AccountDesc$"
    a_main: str = "MainAccountCode$"
    a_status: str = "Status$"
    # Account structure rows (one per segment).
    s_name: str = "SegmentName$"
    s_length: str = "SegmentLength"
    s_type: str = "SegmentType$"
    s_separator: str = "Separator$"
    # Fiscal calendar rows (one per period).
    f_year: str = "FiscalYear$"
    f_period: str = "FiscalPeriod$"
    f_start: str = "PeriodStartingDate$"
    f_end: str = "PeriodEndingDate$"
    f_status: str = "PeriodStatus$"
    # Batch entry: "N" = a new batch, not private.
    new_batch_private: str = "N"


NAMES = BoiNames()

# sLastErrorMsg fragments (lower case) of a failed nSetValue/nWrite and the contract code each means;
# logon, company and rights failures are told apart by which call failed, not by text.
ERROR_TEXTS: tuple[tuple[str, str], ...] = (
    ("in use", "RECORD_LOCKED"),
    ("locked", "RECORD_LOCKED"),
    ("being used by", "RECORD_LOCKED"),
    ("inactive", "ACCOUNT_INACTIVE"),
    ("deleted", "ACCOUNT_INACTIVE"),
    ("not on file", "INVALID_ACCOUNT"),
    ("invalid account", "INVALID_ACCOUNT"),
    ("closed period", "PERIOD_CLOSED"),
    ("period is closed", "PERIOD_CLOSED"),
    ("out of balance", "UNBALANCED"),
    ("not in balance", "UNBALANCED"),
    ("no access", "NO_ACCESS"),
    ("not authorized", "NO_ACCESS"),
)


def code_for_message(message: str) -> str | None:
    """The contract code an sLastErrorMsg stands for, or None when the text is not one we know."""
    lowered = message.lower()
    for fragment, code in ERROR_TEXTS:
        if fragment in lowered:
            return code
    return None
