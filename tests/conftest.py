"""Shared fixtures. Simulator fixtures live beside the tests that use them."""

from __future__ import annotations

import pytest


@pytest.fixture
def company(db):  # type: ignore[no-untyped-def]
    from tests.factories import CompanyFactory

    return CompanyFactory(code="ABC", name="Acme Field Services")


@pytest.fixture(autouse=True)
def _run_leases_end_with_their_test(request, django_db_blocker):  # type: ignore[no-untyped-def]
    """Run leases live in the coordination store (memory, Redis or their own database connection),
    which a test's rollback does not undo: whatever a test left held is released after it."""
    yield
    uses_db = {"db", "transactional_db"} & set(request.fixturenames)
    if not uses_db and request.node.get_closest_marker("django_db") is None:
        return
    from connector.coordination import RUN_LEASE_PREFIX, get_backend

    with django_db_blocker.unblock():
        backend = get_backend()
        for lease in backend.held(RUN_LEASE_PREFIX):
            backend.release(lease.key, holder=lease.holder)
