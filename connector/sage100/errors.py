"""Sage 100 errors: the type says what the engine does (retry, fail the report, stop the company).

The engine decides from the class (or `kind`), never from message text. Messages are plain
sentences for an operator and never carry the Sage password or the agent API key.
"""

from __future__ import annotations

from dataclasses import dataclass

TRANSIENT_CODES = frozenset({"RECORD_LOCKED", "TOO_MANY_WRITES", "SAGE_UNAVAILABLE"})
REPORT_CODES = frozenset(
    {
        "INVALID_ACCOUNT",
        "ACCOUNT_INACTIVE",
        "PERIOD_CLOSED",
        "UNBALANCED",
        "VALIDATION",
        "IDEMPOTENCY_MISMATCH",
    }
)
COMPANY_CODES = frozenset({"AUTH_AGENT", "AUTH_SAGE", "NO_ACCESS", "COMPANY_NOT_FOUND", "CONFIG"})
# Credential and access codes stop a company at once; CONFIG stops it only after the same failure
# three runs in a row.
STOPPING_CODES = COMPANY_CODES - {"CONFIG"}
UNKNOWN_OUTCOME_CODES = frozenset({"SAGE_TIMEOUT", "CONNECTION_LOST"})
# The codes of the contract's error table: only an envelope carrying one of these is Sage's word.
LISTED_CODES = frozenset(
    {
        "AUTH_AGENT",
        "AUTH_SAGE",
        "NO_ACCESS",
        "COMPANY_NOT_FOUND",
        "IDEMPOTENCY_MISMATCH",
        "INVALID_ACCOUNT",
        "ACCOUNT_INACTIVE",
        "PERIOD_CLOSED",
        "UNBALANCED",
        "VALIDATION",
        "RECORD_LOCKED",
        "TOO_MANY_WRITES",
        "SAGE_UNAVAILABLE",
        "SAGE_TIMEOUT",
    }
)
# A 404/405/413 without a listed code: the URL or path is wrong, not the company code.
WRONG_PATH_STATUSES = frozenset({404, 405, 413})


@dataclass(frozen=True)
class CodeWords:
    """An operator's words for a stopping code: `trouble` for the health line, `test_failure` for a
    failed connection test."""

    trouble: str
    test_failure: str


STOPPING_WORDS = {
    "AUTH_AGENT": CodeWords("agent API key rejected", "Sage 100: agent API key refused"),
    "AUTH_SAGE": CodeWords("user name or password rejected", "Sage 100: Sage username or password refused"),
    "NO_ACCESS": CodeWords(
        "the Sage user lacks General Ledger rights", "Sage 100: the Sage user lacks General Ledger rights"
    ),
    "COMPANY_NOT_FOUND": CodeWords(
        "company code unknown to Sage 100", "Sage 100: no company with this company code"
    ),
}


class SageError(Exception):
    """A failure talking to Sage 100; `kind` tells the engine what to do."""

    kind = "report"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class SageTransientError(SageError):
    """Nothing was written; try again later (record lock, write limit, Sage unavailable)."""

    kind = "transient"

    def __init__(self, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after


class SageReportError(SageError):
    """The entry itself is wrong; nothing was written. Fail the report with the reason."""

    kind = "report"


class SageCompanyError(SageError):
    """Credentials, access or configuration of the company are wrong: stop its sync."""

    kind = "company"


class SageOutcomeUnknown(SageError):
    """The write may or may not have happened: settle by lookup and re-post with the same key."""

    kind = "unknown_outcome"


def error_for_code(
    code: str, message: str, *, retry_after: float | None = None, post: bool = False
) -> SageError:
    """The error class for a contract code; an unlisted code fails the report (permanent)."""
    if code in TRANSIENT_CODES:
        return SageTransientError(code, message, retry_after=retry_after)
    if code in COMPANY_CODES:
        return SageCompanyError(code, message)
    if code in UNKNOWN_OUTCOME_CODES:
        if post:
            return SageOutcomeUnknown(code, message)
        # A read that timed out changed nothing: it is simply worth trying again.
        return SageTransientError(code, message, retry_after=retry_after)
    return SageReportError(code, message)


def describe(code: str, detail: str, *, username: str, company_code: str) -> str:
    """An operator's sentence for a contract code, with Sage's own words after it."""
    company = f"company {company_code}"
    texts = {
        "AUTH_AGENT": f"The Sage 100 agent refused the agent API key ({company}).",
        "AUTH_SAGE": (f"Sage 100 refused the username or password for user '{username}' ({company})."),
        "NO_ACCESS": f"Sage 100 user '{username}' lacks General Ledger rights ({company}).",
        "COMPANY_NOT_FOUND": f"Sage 100 has no company with code {company_code}.",
        "IDEMPOTENCY_MISMATCH": (
            f"Sage 100 already holds an entry under this idempotency key with other content "
            f"({company}); a person must decide."
        ),
        "INVALID_ACCOUNT": f"Sage 100 does not know an account in this entry ({company}).",
        "ACCOUNT_INACTIVE": f"An account in this entry is inactive in Sage 100 ({company}).",
        "PERIOD_CLOSED": f"The posting date falls in a closed Sage 100 period ({company}).",
        "UNBALANCED": f"Sage 100 says the entry does not balance ({company}).",
        "VALIDATION": f"Sage 100 refused the request as invalid ({company}).",
        "RECORD_LOCKED": f"A Sage 100 record is locked by another user ({company}).",
        "TOO_MANY_WRITES": f"Sage 100 is busy with other writes ({company}).",
        "SAGE_UNAVAILABLE": f"Sage 100 is not reachable ({company}).",
        "SAGE_TIMEOUT": (f"Sage 100 did not answer in time; the entry may have been written ({company})."),
    }
    text = texts.get(code, f"Sage 100 answered with error {code} ({company}).")
    detail = (detail or "").strip()
    return f"{text} Sage said: {detail}" if detail else text
