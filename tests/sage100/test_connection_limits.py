"""A company's Sage 100 timeouts are bounded: the form refuses more (item 10)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from connector.sage100.gateway import MAX_CONNECT_TIMEOUT_SECONDS, MAX_READ_TIMEOUT_SECONDS


@pytest.mark.parametrize(
    ("field", "value"),
    [("read_timeout", MAX_READ_TIMEOUT_SECONDS + 1), ("read_timeout", 30000), ("connect_timeout", 61)],
)
def test_timeouts_over_the_maximum_are_refused(company: Any, field: str, value: int) -> None:
    from tests.factories import SageConnectionFactory

    connection = SageConnectionFactory(company=company)
    setattr(connection, field, value)
    with pytest.raises(ValidationError) as info:
        connection.full_clean()
    assert field in info.value.message_dict
    assert "At most" in info.value.message_dict[field][0]


def test_timeouts_at_the_maximum_are_accepted(company: Any) -> None:
    from tests.factories import SageConnectionFactory

    connection = SageConnectionFactory(company=company)
    connection.read_timeout = MAX_READ_TIMEOUT_SECONDS
    connection.connect_timeout = MAX_CONNECT_TIMEOUT_SECONDS
    connection.full_clean()
