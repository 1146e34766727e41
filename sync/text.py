"""Text as Sage 100 stores it: Windows-1252, no control characters, limits counted in characters.

Sage's limits count characters (code points), so every function here cuts by characters,
after the text has been reduced to Windows-1252: each remaining character is one byte in Sage
and a cut can never fall inside one.
"""

from __future__ import annotations

import re
import unicodedata

REFERENCE_MAX = 30
ENTRY_COMMENT_MAX = 2048
LINE_COMMENT_MAX = 60
REPLACEMENT = "?"

# Line breaks and tabs become one space: "Trip\r\nBoston" reads "Trip Boston" in Sage.
_BREAKS = re.compile(r"[\t\n\v\f\r\x1c-\x1e\x85\u2028\u2029]+")


def _in_cp1252(char: str) -> bool:
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def to_sage_text(value: str) -> str:
    """`value` reduced to what Sage stores: Windows-1252 characters, no control characters.

    Composed forms are used where they exist ('e' + combining accent -> 'é'); line breaks and
    tabs become a space; other control characters and invisible format characters outside
    Windows-1252 (zero-width space, byte order mark) are dropped; spaces outside Windows-1252
    become a plain space; anything else outside Windows-1252 becomes '?'.
    """
    text = _BREAKS.sub(" ", unicodedata.normalize("NFC", value))
    out: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc":
            continue
        if _in_cp1252(char):
            out.append(char)
        elif category == "Cf":
            continue
        elif category == "Zs":
            out.append(" ")
        else:
            out.append(REPLACEMENT)
    return "".join(out)


def truncate(value: str, limit: int) -> str:
    """At most `limit` characters (code points), never separating a base from its accents."""
    if limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    if len(value) <= limit:
        return value
    end = limit
    while end > 0 and unicodedata.combining(value[end]):
        end -= 1
    return value[:end]


def sage_text(value: str, limit: int) -> str:
    """`value` as Sage text, cut to `limit` characters, without surrounding spaces."""
    return truncate(to_sage_text(value).strip(), limit).rstrip()


def sage_reference(value: str) -> str:
    """A journal reference: Sage text of 1 to 30 characters; empty is a ValueError."""
    reference = sage_text(value, REFERENCE_MAX)
    if not reference:
        raise ValueError(f"reference {value!r} is empty once reduced to Sage text")
    return reference
