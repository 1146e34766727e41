"""What every outside system's HTTP layer shares: reading a Retry-After header.

Expensify and Sage 100 both send Retry-After on 429 and 503; RFC 9110 allows whole seconds or
an HTTP date. One parser for both, so the two transports cannot drift apart.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable
from datetime import UTC

# Whole seconds per RFC 9110; a decimal fraction is read too (the simulators scale their windows).
_SECONDS = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,6})?$")
# Longer than any wait we would honour: a bigger value is treated as this (a day).
MAX_RETRY_AFTER_SECONDS = 86_400.0


def parse_retry_after(value: str | None, *, clock: Callable[[], float] = time.time) -> float | None:
    """Retry-After as seconds from now (>= 0), or None when absent or unreadable.

    Seconds are ASCII digits only (`str.isdigit()` also accepts '¹' and '٣', which no server
    means), never negative, NaN or an exponent. An HTTP date counts from `clock()`; a date in
    the past means 0.
    """
    if value is None:
        return None
    raw = value.strip()
    if not raw:
        return None
    if not raw.isascii():
        return None
    if _SECONDS.match(raw):
        return min(float(raw), MAX_RETRY_AFTER_SECONDS)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # the asctime form carries no zone: HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, when.timestamp() - clock()), MAX_RETRY_AFTER_SECONDS)


__all__ = ["MAX_RETRY_AFTER_SECONDS", "parse_retry_after"]
