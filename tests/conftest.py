"""Shared fixtures. Simulator fixtures live beside the tests that use them."""

from __future__ import annotations

import pytest


@pytest.fixture
def company(db):  # type: ignore[no-untyped-def]
    from tests.factories import CompanyFactory

    return CompanyFactory(code="ABC", name="Acme Field Services")
