"""The one money type: integer cents. Sage wants decimal strings with exactly two places."""

from __future__ import annotations

import re
from decimal import Decimal

Cents = int
_AMOUNT = re.compile(r"^-?\d{1,12}\.\d{2}$")


def cents_to_decimal(cents: Cents) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def format_amount(cents: Cents) -> str:
    """Cents as Sage's amount string: '125.40'. Negative amounts are never sent to Sage."""
    if cents < 0:
        raise ValueError(f"Sage amounts are never negative; got {cents} cents")
    return f"{cents // 100}.{cents % 100:02d}"


def parse_amount(text: str) -> Cents:
    """Sage's amount string ('125.40') back to cents; anything else is a ValueError."""
    if not isinstance(text, str) or not _AMOUNT.match(text):
        raise ValueError(f"not an amount with two decimal places: {text!r}")
    negative = text.startswith("-")
    whole, _, frac = text.lstrip("-").partition(".")
    cents = int(whole) * 100 + int(frac)
    return -cents if negative else cents


def display(cents: Cents, currency: str = "") -> str:
    sign = "-" if cents < 0 else ""
    text = f"{sign}{abs(cents) // 100:,}.{abs(cents) % 100:02d}"
    return f"{text} {currency}".strip()
