"""One coordination layer: run leases, write slots and request pacing shared by every worker.

`get_backend()` is the one rule, for all three: REDIS_URL set → Redis, else the database. (An
in-memory SQLite database can only be opened by this process, the test suite's, so coordination
stays in-process there too.) Every backend keeps time by the store's clock (Redis TIME, the
database's NOW()). Operators' tools (health, the upgrade pause, the smoke test) read leases
through the same backend (`Backend.held`), never from a table or with the app server's clock.
"""

from __future__ import annotations

import threading

from connector.coordination.base import Backend, Held, Rule, horizon, wait_needed
from connector.coordination.memory import MemoryBackend

RUN_LEASE_PREFIX = "run:"  # a company's run lease is "run:<company code>" (sync/leases.py)

_memory = MemoryBackend()
_lock = threading.Lock()


def database_is_private() -> bool:
    """True for an in-memory SQLite database: no other process can open it."""
    from django.db import connection

    name = str(connection.settings_dict.get("NAME") or "")
    return connection.vendor == "sqlite" and (name == ":memory:" or "mode=memory" in name)


def get_backend() -> Backend:
    """The backend every worker shares: Redis with REDIS_URL, else the database."""
    from django.conf import settings

    url = getattr(settings, "REDIS_URL", "")
    if url:
        from connector.coordination.redis_backend import RedisBackend

        return RedisBackend.from_url(url, prefix=settings.COORDINATION_PREFIX)
    if database_is_private():
        return _memory
    return database_backend(own_connection=True)


def database_backend(*, own_connection: bool = False) -> Backend:
    """The database backend; leases on the caller's connection unless `own_connection`."""
    from connector.coordination.database import DatabaseBackend

    return DatabaseBackend(own_connection=own_connection)


def backend_named(name: str) -> Backend:
    """A backend by name ('redis', 'database', 'memory'), for tools and tests that pick one."""
    if name == "redis":
        from django.conf import settings

        from connector.coordination.redis_backend import RedisBackend

        return RedisBackend.from_url(settings.REDIS_URL, prefix=settings.COORDINATION_PREFIX)
    if name == "database":
        return database_backend(own_connection=True)
    if name == "memory":
        return _memory
    raise ValueError(f"unknown coordination backend {name!r}")


__all__ = [
    "RUN_LEASE_PREFIX",
    "Backend",
    "Held",
    "MemoryBackend",
    "Rule",
    "backend_named",
    "database_backend",
    "database_is_private",
    "get_backend",
    "horizon",
    "wait_needed",
]
