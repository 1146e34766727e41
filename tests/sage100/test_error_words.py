"""One table of words for the Sage 100 codes that stop a company at once."""

from __future__ import annotations

import pytest

from connector.sage100.errors import COMPANY_CODES, STOPPING_CODES, STOPPING_WORDS, SageCompanyError
from console.admin.failures import describe_sage_failure
from sync.services.contact import trouble_of


def test_stopping_codes_are_the_company_codes_but_config() -> None:
    assert STOPPING_CODES == COMPANY_CODES - {"CONFIG"}


def test_every_stopping_code_has_words() -> None:
    assert set(STOPPING_WORDS) == STOPPING_CODES


@pytest.mark.parametrize(
    ("code", "trouble", "test_failure"),
    [
        ("AUTH_AGENT", "agent API key rejected", "Sage 100: agent API key refused"),
        ("AUTH_SAGE", "user name or password rejected", "Sage 100: Sage username or password refused"),
        (
            "NO_ACCESS",
            "the Sage user lacks General Ledger rights",
            "Sage 100: the Sage user lacks General Ledger rights",
        ),
        (
            "COMPANY_NOT_FOUND",
            "company code unknown to Sage 100",
            "Sage 100: no company with this company code",
        ),
    ],
)
def test_both_readers_show_the_same_words_as_before(code: str, trouble: str, test_failure: str) -> None:
    exc = SageCompanyError(code, "Sage's own words")
    assert trouble_of(exc) == trouble
    assert describe_sage_failure(exc) == test_failure


def test_config_keeps_its_own_words() -> None:
    exc = SageCompanyError("CONFIG", "something odd")
    assert trouble_of(exc) == "set-up problem"
    assert describe_sage_failure(exc) == "Sage 100: configuration error"
