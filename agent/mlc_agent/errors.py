"""The contract's error codes, their HTTP statuses, and the one exception that carries them."""

from __future__ import annotations

STATUS = {
    "AUTH_AGENT": 401,
    "AUTH_SAGE": 401,
    "NO_ACCESS": 403,
    "COMPANY_NOT_FOUND": 404,
    "IDEMPOTENCY_MISMATCH": 409,
    "INVALID_ACCOUNT": 422,
    "ACCOUNT_INACTIVE": 422,
    "PERIOD_CLOSED": 422,
    "UNBALANCED": 422,
    "VALIDATION": 422,
    "RECORD_LOCKED": 423,
    "TOO_MANY_WRITES": 429,
    "SAGE_UNAVAILABLE": 503,
    "SAGE_TIMEOUT": 504,
}
RETRYABLE = frozenset({"RECORD_LOCKED", "TOO_MANY_WRITES", "SAGE_UNAVAILABLE", "SAGE_TIMEOUT"})


class AgentError(Exception):
    """A contract error: rendered as HTTP status + {"error": {code, message, retryable}}."""

    def __init__(self, code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return STATUS[self.code]

    def body(self) -> dict[str, object]:
        """The contract's error envelope."""
        return {"error": {"code": self.code, "message": self.message, "retryable": self.code in RETRYABLE}}
