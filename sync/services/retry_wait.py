"""How long a report waits before its next try."""

from __future__ import annotations

import datetime as dt

RETRY_WAIT_FIRST = dt.timedelta(minutes=2)
RETRY_WAIT_MAX = dt.timedelta(hours=6)


def retry_delay(attempts: int) -> dt.timedelta:
    """Growing wait before a report's next try: 2, 4, 8 ... minutes, at most 6 hours."""
    delay = RETRY_WAIT_FIRST * (2 ** max(0, min(attempts - 1, 12)))
    return min(delay, RETRY_WAIT_MAX)
