"""What the operator reads when a connection test or a chart refresh fails: our words, not the remote's.

`run_for_each` runs one action per company and shows one message each; `describe_expensify_failure`
and `describe_sage_failure` classify a failed test (the remote body is never quoted). Every
message is redacted of every stored credential.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest

from connector.logs import redact
from connector.models import Company


def run_for_each(
    request: HttpRequest,
    queryset: QuerySet[Company],
    what: str,
    action: Callable[[Company], str],
    describe: Callable[[BaseException], str] | None = None,
) -> None:
    """Run `action(company) -> str` per company and show one message each, success or error.

    `describe(exc) -> str`, when given, replaces the error's own text (which may quote the remote
    answer) with our classification of it. Every message is redacted of every stored credential.
    """
    for company in queryset:
        try:
            summary = action(company)
        except Exception as exc:  # the operator sees the typed error's plain sentence
            text = describe(exc) if describe is not None else f"{what} failed: {exc}"
            messages.error(request, redact(f"{company.code}: {text}"))
        else:
            messages.success(request, redact(f"{company.code}: {summary}"))


def _http_status(exc: BaseException) -> int | None:
    status = getattr(exc, "http_status", None) or getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status
    # Our own message names the status it saw ("answered HTTP 404"); the remote body is not read.
    match = re.search(r"\bHTTP (\d{3})\b", str(exc))
    return int(match.group(1)) if match else None


def describe_expensify_failure(exc: BaseException) -> str:
    """Our classification of a failed Expensify connection test, never the remote answer."""
    from connector.expensify.errors import (
        ExpensifyAuthError,
        ExpensifyError,
        ExpensifyProtocolError,
        ExpensifyTransientError,
    )

    status = _http_status(exc)
    code = f" (HTTP {status})" if status else ""
    if isinstance(exc, ExpensifyAuthError):
        lowered = str(exc).lower()
        if ("url" in lowered and "refused" in lowered) or "must start with https" in lowered:
            return f"Expensify: URL refused: {exc}"
        if "incomplete" in lowered or "no expensify credentials" in lowered:
            return "Expensify: credentials missing (enter the partner user ID and secret)"
        if "admin" in lowered:
            return "Expensify: access refused (the partner user is not an admin of the policies)"
        return "Expensify: credentials refused"
    if isinstance(exc, ExpensifyTransientError):
        lowered = str(exc).lower()
        if "rate-limited" in lowered or status == 429:
            return "Expensify: rate-limited, try again in a minute"
        if "did not answer" in lowered:
            return "Expensify: no answer in time (timeout)"
        if "could not reach" in lowered:
            return "Expensify: not reachable (connection failed)"
        return f"Expensify: unavailable{code}"
    if isinstance(exc, ExpensifyProtocolError):
        return f"Expensify: the URL does not answer like Expensify's Integration Server{code}"
    if isinstance(exc, ExpensifyError):
        return f"Expensify: request refused{code}"
    from connector.fields import SecretDecryptionError

    if isinstance(exc, SecretDecryptionError):
        return f"Expensify: {exc}"
    return f"Expensify: connection test failed ({type(exc).__name__})"


def describe_sage_failure(exc: BaseException) -> str:
    """Our classification of a failed Sage 100 connection test, never the remote answer."""
    from connector.sage100.errors import STOPPING_WORDS, SageError

    if not isinstance(exc, SageError):
        from connector.fields import SecretDecryptionError

        if isinstance(exc, SecretDecryptionError):
            return f"Sage 100: {exc}"
        return f"Sage 100: connection test failed ({type(exc).__name__})"
    status = _http_status(exc)
    code = f" (HTTP {status})" if status else ""
    texts = {
        **{c: words.test_failure for c, words in STOPPING_WORDS.items()},
        "SAGE_UNAVAILABLE": f"Sage 100: unavailable{code}",
        "SAGE_TIMEOUT": "Sage 100: no answer in time (timeout)",
        "CONNECTION_LOST": "Sage 100: connection lost",
        "RECORD_LOCKED": "Sage 100: busy (record locked)",
        "TOO_MANY_WRITES": "Sage 100: busy (too many writes)",
    }
    if exc.code in texts:
        return texts[exc.code]
    if exc.code == "CONFIG":
        lowered = str(exc).lower()
        if "is refused" in lowered or "must start with https" in lowered:
            return f"Sage 100: URL refused: {exc}"
        if status in (404, 405, 413):
            return f"Sage 100: agent URL/path wrong{code}"
        if "no sage 100 connection" in lowered or "decrypt" in lowered:
            return f"Sage 100: {exc}"
        if "could not be read" in lowered:
            return "Sage 100: the answer could not be read (check the base URL and the agent version)"
        return f"Sage 100: configuration error{code}"
    if exc.kind == "transient":
        return f"Sage 100: unavailable{code}"
    return f"Sage 100: request refused ({exc.code}){code}"
