"""The one retry policy for Sage 100 posts, and the post that settles unknown outcomes.

Transient failures back off exponentially with full jitter (Retry-After is a minimum wait),
within a bound on attempts and on total time. After an unknown outcome the entry is never
sent blindly again: look it up by idempotency key; if absent, post again with the SAME key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from connector.sage100.errors import SageError, SageOutcomeUnknown, SageTransientError
from connector.sage100.gateway import SageGateway
from connector.sage100.slots import WriteSlots
from connector.sage100.types import JournalEntryPayload, PostResult

if TYPE_CHECKING:
    from connector.models import Company


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter; Retry-After honoured as a minimum."""

    max_attempts: int
    max_seconds: float
    base_delay: float = 0.5
    max_delay: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    @classmethod
    def for_company(cls, company: Company) -> RetryPolicy:
        """The company's own bounds (max_post_attempts, max_retry_seconds)."""
        return cls(
            max_attempts=max(1, int(company.max_post_attempts)),
            max_seconds=float(company.max_retry_seconds),
        )

    def wait_seconds(self, state: RetryCallState) -> float:
        """Full jitter within the exponential window, but never less than Retry-After."""
        jitter = wait_random_exponential(multiplier=self.base_delay, max=self.max_delay)(state)
        error = state.outcome.exception() if state.outcome is not None else None
        floor = getattr(error, "retry_after", None) or 0.0
        return max(jitter, float(floor))

    def retrying(self, before_sleep: Callable[[RetryCallState], None] | None = None) -> Retrying:
        """A tenacity Retrying for Sage calls: retry transient and unknown-outcome errors."""
        return Retrying(
            stop=stop_after_attempt(self.max_attempts) | stop_before_delay(self.max_seconds),
            wait=self.wait_seconds,
            retry=retry_if_exception_type((SageTransientError, SageOutcomeUnknown)),
            reraise=True,
            sleep=self.sleep,
            before_sleep=before_sleep,
        )


@dataclass(frozen=True)
class PostOutcome:
    result: PostResult
    attempts: int  # posts sent (lookups not counted)
    retries_by_code: dict[str, int]
    settled_by_lookup: bool


def post_with_retries(
    gateway: SageGateway,
    entry: JournalEntryPayload,
    *,
    idempotency_key: str,
    policy: RetryPolicy,
    slots: WriteSlots,
) -> PostOutcome:
    """Post under the key until it is settled or the policy gives up (then re-raise).

    Giving up after any unknown outcome that was never settled raises SageOutcomeUnknown
    (the report goes to `unknown`); after plain transient failures the last transient error
    (the report goes to `retry_wait`). Each post holds a write slot only while in flight.
    """
    attempts = 0
    retries: dict[str, int] = {}
    unsettled = False
    settled_by_lookup = False
    started = time.monotonic()

    def count(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, SageError):
            retries[error.code] = retries.get(error.code, 0) + 1

    def attempt() -> PostResult:
        nonlocal attempts, unsettled, settled_by_lookup
        if unsettled:
            # The earlier write may have committed: ask before sending anything again.
            found = gateway.lookup(idempotency_key=idempotency_key)
            if found is not None:
                settled_by_lookup = True
                unsettled = False
                return found.as_result()
        remaining = max(0.5, policy.max_seconds - (time.monotonic() - started))
        with slots.acquire(timeout=remaining):
            attempts += 1
            try:
                result = gateway.post_entry(entry, idempotency_key=idempotency_key)
            except SageOutcomeUnknown:
                unsettled = True
                raise
        unsettled = False
        return result

    try:
        result = policy.retrying(before_sleep=count)(attempt)
    except SageTransientError as error:
        if unsettled:
            raise SageOutcomeUnknown(
                "SAGE_TIMEOUT",
                f"{error.message} An earlier attempt may have written the entry; it was not "
                "found by lookup before giving up.",
            ) from error
        raise
    return PostOutcome(
        result=result,
        attempts=attempts,
        retries_by_code=retries,
        settled_by_lookup=settled_by_lookup,
    )
