"""Bounds on a company's Sage 100 timeouts: the company form refuses more, the gateway clamps to them.

Kept apart from both the models and the transports, so each can use them without importing the other.
"""

from __future__ import annotations

MAX_CONNECT_TIMEOUT_SECONDS = 60
MAX_READ_TIMEOUT_SECONDS = 300
MIN_TIMEOUT_SECONDS = 0.1
# The longest one call may stay open: connect, then the whole answer within the read timeout
# (checked between chunks, so one last read may add another read timeout). Leases covering a
# call (the engine's run lease) must outlive this.
MAX_CALL_SECONDS = MAX_CONNECT_TIMEOUT_SECONDS + 2 * MAX_READ_TIMEOUT_SECONDS

__all__ = [
    "MAX_CALL_SECONDS",
    "MAX_CONNECT_TIMEOUT_SECONDS",
    "MAX_READ_TIMEOUT_SECONDS",
    "MIN_TIMEOUT_SECONDS",
]
