"""The one retry policy for Sage 100 posts, and the post that settles unknown outcomes.

Transient failures back off exponentially with full jitter (Retry-After is a minimum wait),
within a bound on attempts and on total time. After an unknown outcome the write may still
commit later, so it is settled only by a definite answer to the SAME key and the SAME body
(a lookup that finds the key also settles it; one that fails or finds nothing settles nothing).
"""

from __future__ import annotations

import logging
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

from connector.sage100.errors import (
    SageCompanyError,
    SageError,
    SageOutcomeUnknown,
    SageTransientError,
)
from connector.sage100.gateway import SageGateway
from connector.sage100.slots import WriteSlots
from connector.sage100.types import JournalEntryPayload, PostResult

if TYPE_CHECKING:
    from connector.models import Company

logger = logging.getLogger(__name__)


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
    # True when any attempt of this call had an unknown outcome (settled since, as the result shows).
    was_unsettled: bool = False


class _Attempts:
    """One post's attempts under one key: what was sent, what was retried, whether it is settled."""

    def __init__(
        self,
        gateway: SageGateway,
        entry: JournalEntryPayload,
        *,
        idempotency_key: str,
        policy: RetryPolicy,
        slots: WriteSlots,
    ) -> None:
        self.gateway = gateway
        self.entry = entry
        self.key = idempotency_key
        self.policy = policy
        self.slots = slots
        self.posts = 0
        self.retries: dict[str, int] = {}
        self.unsettled = False
        self.was_unsettled = False
        self.settled_by_lookup = False
        self.started = time.monotonic()

    def count(self, state: RetryCallState) -> None:
        """Before each retry: one more of the failure's code."""
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, SageError):
            self.retries[error.code] = self.retries.get(error.code, 0) + 1

    def look_up(self) -> PostResult | None:
        """The entry Sage holds under the key; None when not found or not answered."""
        try:
            found = self.gateway.lookup(idempotency_key=self.key)
        except SageError as exc:
            # An unanswered lookup settles nothing: the re-post below still will.
            logger.info("Lookup of key %s settled nothing: %s", self.key, exc.code)
            return None
        return found.as_result() if found is not None else None

    def attempt(self) -> PostResult:
        """One try: settle an unknown outcome by lookup first, else post holding a write slot."""
        if self.unsettled:
            found = self.look_up()
            if found is not None:
                self.settled_by_lookup = True
                self.unsettled = False
                return found
        remaining = max(0.5, self.policy.max_seconds - (time.monotonic() - self.started))
        with self.slots.acquire(timeout=remaining):
            self.posts += 1
            try:
                result = self.gateway.post_entry(self.entry, idempotency_key=self.key)
            except SageOutcomeUnknown:
                self.unsettled = self.was_unsettled = True
                raise
        self.unsettled = False
        return result


def post_with_retries(
    gateway: SageGateway,
    entry: JournalEntryPayload,
    *,
    idempotency_key: str,
    policy: RetryPolicy,
    slots: WriteSlots,
) -> PostOutcome:
    """Post under the key until Sage answers definitely or the policy gives up.

    After an unknown outcome only the same key and body are sent again, until a definite
    answer: an entry (settled), or a coded refusal of the entry (SageReportError, raised).
    A lookup by key is asked first; when it finds the entry that settles it, anything else
    (not found, failed, unreadable) settles nothing. Giving up while unsettled, or a company
    error while unsettled, raises SageOutcomeUnknown; giving up after plain transient failures
    re-raises the last one. Each post holds a write slot only while it is open.
    """
    tries = _Attempts(gateway, entry, idempotency_key=idempotency_key, policy=policy, slots=slots)
    try:
        result = policy.retrying(before_sleep=tries.count)(tries.attempt)
    except (SageTransientError, SageCompanyError) as error:
        if tries.unsettled:
            raise SageOutcomeUnknown(
                "SAGE_TIMEOUT",
                f"{error.message} An earlier attempt may have written the entry and no definite "
                "answer to the same key has come since.",
            ) from error
        raise
    return PostOutcome(
        result=result,
        attempts=tries.posts,
        retries_by_code=tries.retries,
        settled_by_lookup=tries.settled_by_lookup,
        was_unsettled=tries.was_unsettled,
    )
