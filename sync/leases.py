"""Run leases: one sync run per company at a time, across every worker (connector.coordination).

Database rows on the database's clock, whatever REDIS_URL says: the lease guards rows in that
same database, and operators' tools (health, the upgrade pause) read it there.
"""

from __future__ import annotations

import os
import socket
import uuid

from connector.coordination import database_backend


def new_holder() -> str:
    """A holder name unique to this worker and call: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(key: str, *, holder: str, seconds: float) -> bool:
    """Take the lease if free or expired; True when `holder` now has it."""
    return database_backend().claim(key, holder=holder, seconds=seconds)


def renew(key: str, *, holder: str, seconds: float) -> bool:
    """Extend `holder`'s lease to `seconds` from now; False when it no longer holds it."""
    return database_backend().renew(key, holder=holder, seconds=seconds)


def release(key: str, *, holder: str) -> None:
    """Give the lease up, if `holder` still has it."""
    database_backend().release(key, holder=holder)
