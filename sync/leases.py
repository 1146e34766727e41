"""Run leases: one sync run (or correction) per company at a time, across every worker.

A lease `run:<company code>` in the coordination layer (`connector.coordination.get_backend()`,
the one rule: Redis with REDIS_URL, else the database), on the store's clock. The run renews it
from its own thread; a worker that dies stops renewing and the lease frees when it expires.
Operators' tools read the live ones through `running()`.
"""

from __future__ import annotations

import os
import socket
import uuid

from connector.coordination import RUN_LEASE_PREFIX, Held, get_backend


def run_key(company_code: str) -> str:
    """The lease name of a company's runs."""
    return f"{RUN_LEASE_PREFIX}{company_code}"


def new_holder() -> str:
    """A holder name unique to this worker and call: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(key: str, *, holder: str, seconds: float) -> bool:
    """Take the lease if free or expired; True when `holder` now has it."""
    return get_backend().claim(key, holder=holder, seconds=seconds)


def renew(key: str, *, holder: str, seconds: float) -> bool:
    """Extend `holder`'s lease to `seconds` from now; False when it no longer holds it."""
    return get_backend().renew(key, holder=holder, seconds=seconds)


def release(key: str, *, holder: str) -> None:
    """Give the lease up, if `holder` still has it."""
    get_backend().release(key, holder=holder)


def running() -> list[Held]:
    """The run leases held now on any host, by the store's clock."""
    return get_backend().held(RUN_LEASE_PREFIX)
