"""Account masks: parsing, formatting, validation; round trips with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.sage100.mask import AccountFormatError, MaskError, parse_mask


def test_parse_three_segment_mask() -> None:
    mask = parse_mask("####-##-###", ["Main", "Department", "Location"])
    assert [s.length for s in mask.segments] == [4, 2, 3]
    assert mask.separator == "-"
    assert mask.segments[1].name == "Department"
    assert mask.text == "####-##-###"


def test_format_zero_fills_numeric_segments() -> None:
    assert parse_mask("####-##-###").format("6100-1-0") == "6100-01-000"


def test_format_uppercases_alphanumeric_segments() -> None:
    assert parse_mask("AAA-####").format("sls-12") == "SLS-0012"


def test_format_accepts_unseparated_account_of_full_length() -> None:
    assert parse_mask("####-##-###").format("610001000") == "6100-01-000"


def test_single_segment_mask_has_no_separator() -> None:
    mask = parse_mask("######")
    assert mask.separator == ""
    assert mask.format("42") == "000042"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("##-##", r"main \(first\) segment is 2 characters"),
        ("####-##.###", "several separators"),
        ("#A##-##", "mixes '#' and 'A'"),
        ("####-", "ends with a separator"),
        ("-####", "separator '-' where a segment should be"),
        ("-".join(["###"] * 11), "11 segments"),
        ("###############-##########-########", "33 characters without separators"),
    ],
)
def test_bad_masks_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(MaskError, match=message):
        parse_mask(text)


@pytest.mark.parametrize(
    ("account", "message"),
    [
        ("6100-AB-000", r"segment 2 \(Department\) of account '6100-AB-000' must be digits only"),
        ("61000-00-000", "segment 1 \\(Main\\) .* is 5 characters; the mask allows 4"),
        ("6100-00", "has 2 segment\\(s\\); mask ####-##-### has 3"),
        ("", "empty"),
    ],
)
def test_bad_accounts_say_what_is_wrong(account: str, message: str) -> None:
    with pytest.raises(AccountFormatError, match=message):
        parse_mask("####-##-###", ["Main", "Department", "Location"]).format(account)


def test_replace_segment_by_name() -> None:
    mask = parse_mask("####-##-###", ["Main", "Department", "Location"])
    index = mask.segment_index("department")
    assert mask.replace_segment("6100-00-000", index, "1") == "6100-01-000"


def test_unknown_segment_lists_the_segments() -> None:
    mask = parse_mask("####-##-###", ["Main", "Department", "Location"])
    with pytest.raises(AccountFormatError, match="1 \\(Main\\), 2 \\(Department\\), 3 \\(Location\\)"):
        mask.segment_index("Region")


segment_specs = st.lists(
    st.tuples(st.integers(min_value=1, max_value=6), st.booleans()), min_size=0, max_size=4
)


@st.composite
def masks_and_accounts(draw: st.DrawFn) -> tuple[str, str]:
    main_len = draw(st.integers(min_value=3, max_value=8))
    main_numeric = draw(st.booleans())
    rest = draw(segment_specs)
    separator = draw(st.sampled_from(["-", ".", "/", ""])) if rest else ""
    if not separator and rest:
        separator = "-"
    specs = [(main_len, main_numeric), *rest]
    mask_text = separator.join(("#" if numeric else "A") * length for length, numeric in specs)
    parts = []
    for length, numeric in specs:
        alphabet = (
            "0123456789" if numeric else "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
        )
        parts.append(draw(st.text(alphabet=alphabet, min_size=1, max_size=length)))
    return mask_text, separator.join(parts)


@given(masks_and_accounts())
def test_parse_then_text_round_trips(case: tuple[str, str]) -> None:
    mask_text, _ = case
    assert parse_mask(mask_text).text == mask_text


@given(masks_and_accounts())
def test_format_is_idempotent_and_valid(case: tuple[str, str]) -> None:
    mask_text, account = case
    mask = parse_mask(mask_text)
    formatted = mask.format(account)
    assert mask.format(formatted) == formatted
    assert mask.is_valid(formatted)
    assert len(formatted) == mask.formatted_length or not all(s.numeric for s in mask.segments)


def test_format_leading_zero_fills_missing_trailing_segments() -> None:
    mask = parse_mask("####-##-###")
    assert mask.format_leading("6110") == "6110-00-000"
    assert mask.format_leading("6110-01") == "6110-01-000"
    assert mask.format_leading("610001000") == "6100-01-000"


def test_format_leading_refuses_to_invent_alphanumeric_segments() -> None:
    with pytest.raises(AccountFormatError):
        parse_mask("####-AA").format_leading("6110")
