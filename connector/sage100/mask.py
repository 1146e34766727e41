"""Moved to connector.mask: a company's account mask is company data, not Sage transport.

Kept so imports of connector.sage100.mask keep working until every caller imports connector.mask.
"""

from connector.mask import (
    MAIN_MAX,
    MAIN_MIN,
    MAX_CHARACTERS,
    MAX_SEGMENTS,
    AccountFormatError,
    AccountMask,
    MaskError,
    Segment,
    parse_mask,
)

__all__ = [
    "MAIN_MAX",
    "MAIN_MIN",
    "MAX_CHARACTERS",
    "MAX_SEGMENTS",
    "AccountFormatError",
    "AccountMask",
    "MaskError",
    "Segment",
    "parse_mask",
]
