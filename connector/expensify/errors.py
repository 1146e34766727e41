"""Typed Expensify errors: the engine decides retry / give up / block the company from the type.

`kind` is one of "transient" (retry later), "permanent" (this request or report will not work
as is), "auth" (company-level: credentials or access; stop the company's runs) and "config"
(company-level: the company's Expensify settings cannot work, e.g. no policy listed).
Messages are plain sentences for an operator and never carry the partner secret.
"""

from __future__ import annotations


class ExpensifyError(Exception):
    """Base class of every error raised by connector.expensify."""

    kind: str = "permanent"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ExpensifyTransientError(ExpensifyError):
    """Worth retrying later: rate limit, timeout, connection error, HTTP 5xx, file not ready."""

    kind = "transient"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ExpensifyPermanentError(ExpensifyError):
    """The request is wrong or refused for good (validation error, unknown policy)."""

    kind = "permanent"


class ExpensifyAuthError(ExpensifyError):
    """Bad credentials, not authorized or not an admin: a company-level stop."""

    kind = "auth"


class ExpensifyConfigError(ExpensifyError):
    """The company's Expensify setup cannot work as is (e.g. no policy listed): a person must fix it.

    Company-level like an auth error: nothing was asked of Expensify.
    """

    kind = "config"


class ExpensifyAnswerTooLarge(ExpensifyPermanentError):
    """An answer grew past EXPENSIFY_MAX_ANSWER_BYTES; reading stopped there."""

    kind = "permanent"


class ExpensifyProtocolError(ExpensifyPermanentError):
    """Expensify answered something that is neither a file name, a file nor a JSON answer."""

    kind = "permanent"


__all__ = [
    "ExpensifyAnswerTooLarge",
    "ExpensifyAuthError",
    "ExpensifyConfigError",
    "ExpensifyError",
    "ExpensifyPermanentError",
    "ExpensifyProtocolError",
    "ExpensifyTransientError",
]
