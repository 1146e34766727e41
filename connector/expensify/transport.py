"""The one HTTP layer to Expensify's Integration Server (healthchecks' hc/lib/curl.py, for Expensify).

Client set-up (one httpx.Client per partner user: keep-alive, a timeout on every phase, no
redirects), the URL policy, pacing every request through the shared rate limiter, reading the
answer within EXPENSIFY_MAX_ANSWER_BYTES, the exception ladder (httpx errors → ExpensifyError),
the classification of HTTP statuses, and the one retry policy for Expensify calls.
`client.py` only says what Expensify's protocol is (jobs, templates, files, JSON answers).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TypeVar

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_before_delay,
    wait_random_exponential,
)

from connector.expensify.errors import (
    ExpensifyAnswerTooLarge,
    ExpensifyAuthError,
    ExpensifyError,
    ExpensifyPermanentError,
    ExpensifyTransientError,
)
from connector.expensify.pacing import RateLimiter
from connector.hosts import url_refused
from connector.httpcommon import parse_retry_after
from connector.logs import MASK, redact_known

logger = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_MAX_ANSWER_BYTES = 50 * 1024 * 1024
SMALL_ANSWER = 1 << 16
SPOOL_IN_MEMORY = 1 << 20  # answers up to this stay in memory, larger ones go to a temporary file


def check_base_url(url: str) -> None:
    """The URL policy (connector.hosts): the partner secret travels in every request body."""
    refused = url_refused(url)
    if refused is not None:
        raise ExpensifyAuthError(f"The Expensify URL {url!r} {refused}.")


def answer_limit() -> int:
    """EXPENSIFY_MAX_ANSWER_BYTES: the largest answer read from Expensify."""
    from django.conf import settings

    return int(getattr(settings, "EXPENSIFY_MAX_ANSWER_BYTES", DEFAULT_MAX_ANSWER_BYTES))


def is_store_error(exc: BaseException) -> bool:
    """Redis or the database failing under the rate limiter (an outage, not a bug)."""
    from django.db import DatabaseError
    from redis.exceptions import RedisError

    return isinstance(exc, (DatabaseError, RedisError, OSError))


@dataclass
class Answer:
    """A whole answer of HTTP 200; its body spooled (large exports go to a temporary file)."""

    status: int
    retry_after: float | None
    body: IO[bytes]
    size: int

    def head(self, n: int = SMALL_ANSWER) -> bytes:
        self.body.seek(0)
        data = self.body.read(n)
        self.body.seek(0)
        return data

    def close(self) -> None:
        self.body.close()


@dataclass(frozen=True)
class RetryPolicy:
    """The one retry policy for Expensify calls: full jitter, Retry-After as a minimum, bounded time."""

    max_seconds: float
    initial_seconds: float = 1.0
    max_delay: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def wait_seconds(self, state: RetryCallState) -> float:
        backoff = wait_random_exponential(multiplier=self.initial_seconds, max=self.max_delay)(state)
        error = state.outcome.exception() if state.outcome is not None else None
        floor = getattr(error, "retry_after", None) or 0.0
        return max(float(backoff), float(floor))

    def call(self, step: Callable[[], T]) -> T:
        """Run `step`, retrying ExpensifyTransientError until `max_seconds` have passed."""

        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            sleep = state.next_action.sleep if state.next_action else 0.0
            logger.warning("Expensify call failed (%s); retrying in %.1f s", exc, sleep)

        retrying = Retrying(
            retry=retry_if_exception_type(ExpensifyTransientError),
            stop=stop_before_delay(self.max_seconds),
            wait=self.wait_seconds,
            sleep=self.sleep,
            before_sleep=log_retry,
            reraise=True,
        )
        return retrying(step)


class ExpensifyTransport:
    """POSTs forms to one partner user's Integration Server URL, paced and capped."""

    def __init__(
        self,
        *,
        base_url: str,
        partner_user_id: str,
        secret: str,
        timeout: float,
        limiter: RateLimiter,
        max_answer_bytes: int | None = None,
    ) -> None:
        check_base_url(base_url)
        self.base_url = base_url
        self.partner_user_id = partner_user_id
        self._secret = secret
        self.timeout = float(timeout)
        self.limiter = limiter
        self.max_answer_bytes = max_answer_bytes if max_answer_bytes is not None else answer_limit()
        self._http = httpx.Client(
            timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)),
            headers={"User-Agent": "ml-connector"},
            follow_redirects=False,
        )
        self.calls = 0
        self.rate_wait_seconds = 0.0

    def close(self) -> None:
        self._http.close()

    def clean(self, text: str) -> str:
        """`text` with this partner's secret, and every stored secret, blanked."""
        return redact_known(text.replace(self._secret, MASK) if self._secret else text)

    def snippet(self, answer: Answer) -> str:
        """The start of an answer, safe for a message."""
        return repr(self.clean(answer.head(200).decode("utf-8", "replace")))

    def auth_error(self, code: int, message: str) -> ExpensifyAuthError:
        """Refused credentials (401) or a partner user that is not an admin (403)."""
        if code == 403 or "admin" in message.lower():
            return ExpensifyAuthError(
                f"Expensify says partner user ID '{self.partner_user_id}' may not do this: make "
                "that user an admin of the company's Expensify policies."
            )
        return ExpensifyAuthError(
            f"Expensify refused the partner credentials for partner user ID "
            f"'{self.partner_user_id}': check the partnerUserID and partnerUserSecret."
        )

    def too_large(self) -> ExpensifyAnswerTooLarge:
        return ExpensifyAnswerTooLarge(
            f"Expensify's answer is larger than EXPENSIFY_MAX_ANSWER_BYTES "
            f"({self.max_answer_bytes} bytes); reading stopped there. Raise the setting if an "
            "export really is that large."
        )

    # -- one request ---------------------------------------------------------------------------

    def send(self, form: dict[str, str]) -> Answer:
        """One paced POST; the whole answer of HTTP 200, or the ExpensifyError it means."""
        self.rate_wait_seconds += self._limiter_step(self.limiter.acquire)
        self.calls += 1
        body: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        try:
            status, retry_after, size = self._read(form, body)
        except BaseException:
            body.close()
            raise
        finally:
            self._release_slot()
        body.seek(0)
        answer = Answer(status=status, retry_after=retry_after, body=body, size=size)
        try:
            self.check_status(answer)
        except ExpensifyError:
            answer.close()
            raise
        return answer

    def _read(self, form: dict[str, str], body: IO[bytes]) -> tuple[int, float | None, int]:
        """POST and spool the answer within the cap; httpx errors become transient errors."""
        try:
            with self._http.stream("POST", self.base_url, data=form) as response:
                declared = response.headers.get("Content-Length", "")
                if declared.isascii() and declared.isdigit() and int(declared) > self.max_answer_bytes:
                    raise self.too_large()
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_answer_bytes:
                        raise self.too_large()
                    body.write(chunk)
                return response.status_code, parse_retry_after(response.headers.get("Retry-After")), size
        except httpx.TimeoutException as exc:
            raise ExpensifyTransientError(
                f"Expensify did not answer within {self.timeout:g} s ({type(exc).__name__})."
            ) from exc
        except httpx.HTTPError as exc:
            raise ExpensifyTransientError(
                f"Could not reach Expensify at {self.base_url}: {type(exc).__name__}."
            ) from exc

    def check_status(self, answer: Answer) -> None:
        """429 and 5xx are transient (Retry-After kept), 401/403 auth, any other non-200 permanent."""
        if answer.status == 429:
            # Every worker on this partner user backs off, not only this one.
            self.penalize(answer.retry_after)
            raise ExpensifyTransientError(
                f"Expensify rate-limited partner user ID '{self.partner_user_id}' (HTTP 429).",
                retry_after=answer.retry_after,
            )
        if answer.status >= 500:
            raise ExpensifyTransientError(
                f"Expensify answered HTTP {answer.status}.", retry_after=answer.retry_after
            )
        if answer.status in (401, 403):
            raise self.auth_error(answer.status, "")
        if answer.status != 200:
            raise ExpensifyPermanentError(f"Expensify answered HTTP {answer.status}: {self.snippet(answer)}")

    def penalize(self, retry_after: float | None) -> None:
        """Share a 429's wait with every worker on this partner user (Retry-After, else one window)."""
        seconds = retry_after if retry_after is not None else (
            self.limiter.rules[0][1] if self.limiter.rules else 1.0
        )
        try:
            self.limiter.penalize(seconds)
        except Exception as exc:
            if not is_store_error(exc):
                raise
            logger.warning(
                "Could not share a 429 back-off through the rate limiter (%s)", type(exc).__name__
            )

    def _limiter_step(self, step: Callable[[], T]) -> T:
        try:
            return step()
        except Exception as exc:
            # Redis or the database being down is an outage to retry, not a crash of the run.
            if is_store_error(exc):
                raise ExpensifyTransientError(
                    f"The shared Expensify rate limiter is unavailable ({type(exc).__name__}); "
                    "check Redis or the database."
                ) from exc
            raise

    def _release_slot(self) -> None:
        # Counted from when the answer was read: Expensify saw the request before that.
        try:
            self.limiter.release()
        except Exception as exc:
            if not is_store_error(exc):
                raise
            # The request itself went fine; its in-flight entry simply expires later.
            logger.warning(
                "Could not record an Expensify request in the shared rate limiter (%s)",
                type(exc).__name__,
            )


__all__ = [
    "DEFAULT_MAX_ANSWER_BYTES",
    "Answer",
    "ExpensifyTransport",
    "RetryPolicy",
    "answer_limit",
    "check_base_url",
    "is_store_error",
]
