"""Sage 100 account masks: parse '####-##-###', then format and validate accounts with it.

The one place that formats accounts. `#` marks a numeric position (zero-filled on the left),
`A` an alphanumeric one (uppercased); any other character separates segments, and one
separator serves every segment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_SEGMENTS = 10
MAX_CHARACTERS = 32
MAIN_MIN, MAIN_MAX = 3, 15
_ALNUM = re.compile(r"^[A-Z0-9]+$")
_DIGITS = re.compile(r"^[0-9]+$")


class MaskError(ValueError):
    """The mask itself is not a valid Sage 100 account structure."""


class AccountFormatError(ValueError):
    """An account does not fit the company's mask."""


@dataclass(frozen=True)
class Segment:
    name: str
    length: int
    numeric: bool

    @property
    def kind(self) -> str:
        return "numeric" if self.numeric else "alphanumeric"


@dataclass(frozen=True)
class AccountMask:
    segments: tuple[Segment, ...]
    separator: str

    @property
    def text(self) -> str:
        return self.separator.join(("#" if s.numeric else "A") * s.length for s in self.segments)

    @property
    def formatted_length(self) -> int:
        return sum(s.length for s in self.segments) + len(self.separator) * (len(self.segments) - 1)

    def segment_index(self, name_or_number: str) -> int:
        """A segment by its name ('Department', any case) or 1-based number ('2')."""
        wanted = name_or_number.strip()
        if wanted.isdigit():
            index = int(wanted) - 1
            if 0 <= index < len(self.segments):
                return index
        else:
            for index, segment in enumerate(self.segments):
                if segment.name.lower() == wanted.lower():
                    return index
        names = ", ".join(f"{i + 1} ({s.name})" for i, s in enumerate(self.segments))
        raise AccountFormatError(f"no segment {name_or_number!r} in mask {self.text}; segments: {names}")

    def split(self, account: str) -> list[str]:
        text = account.strip()
        if not text:
            raise AccountFormatError("account is empty")
        if len(self.segments) == 1:
            parts = [text]
        elif self.separator and self.separator in text:
            parts = text.split(self.separator)
        elif len(text) == sum(s.length for s in self.segments):
            parts, start = [], 0
            for segment in self.segments:
                parts.append(text[start : start + segment.length])
                start += segment.length
        else:
            parts = [text]
        if len(parts) != len(self.segments):
            raise AccountFormatError(
                f"account {account!r} has {len(parts)} segment(s); mask {self.text} has "
                f"{len(self.segments)}"
            )
        return parts

    def format_segment(self, index: int, value: str, *, account: str = "") -> str:
        segment = self.segments[index]
        where = f"segment {index + 1} ({segment.name}) of account {account or value!r}"
        part = value.strip().upper()
        if not part:
            raise AccountFormatError(f"{where} is empty")
        if segment.numeric:
            if not _DIGITS.match(part):
                raise AccountFormatError(f"{where} must be digits only, got {value.strip()!r}")
            part = part.zfill(segment.length)
        elif not _ALNUM.match(part):
            raise AccountFormatError(f"{where} must be letters and digits only, got {value.strip()!r}")
        if len(part) > segment.length:
            raise AccountFormatError(
                f"{where} is {len(part)} characters; the mask allows {segment.length}"
            )
        return part

    def format(self, account: str) -> str:
        """The account as Sage writes it, e.g. '6100-1-0' -> '6100-01-000'."""
        parts = self.split(account)
        return self.separator.join(
            self.format_segment(i, part, account=account) for i, part in enumerate(parts)
        )

    def format_leading(self, account: str) -> str:
        """Like `format`, but a code naming only the leading segments ('6110', as Expensify GL
        codes often do) gets the remaining numeric segments zero-filled: '6110-00-000'."""
        try:
            return self.format(account)
        except AccountFormatError:
            text = account.strip()
            parts = text.split(self.separator) if self.separator and self.separator in text else [text]
            rest = self.segments[len(parts) :]
            if not text or not rest or not all(segment.numeric for segment in rest):
                raise
            return self.format(self.separator.join(parts + ["0"] * len(rest)))

    def replace_segment(self, account: str, index: int, code: str) -> str:
        parts = self.format(account).split(self.separator) if self.separator else [self.format(account)]
        parts[index] = self.format_segment(index, code, account=account)
        return self.separator.join(parts)

    def is_valid(self, account: str) -> bool:
        try:
            return self.format(account) == account
        except AccountFormatError:
            return False


def parse_mask(text: str, names: Sequence[str] = ()) -> AccountMask:
    """Parse a mask such as '####-##-###' (optionally naming the segments in order)."""
    if not isinstance(text, str) or not text.strip():
        raise MaskError("account mask is empty")
    mask = text.strip()
    runs: list[str] = []
    separators: set[str] = set()
    current = ""
    for char in mask:
        if char in "#A":
            if current and current[-1] != char and current[-1] in "#A":
                raise MaskError(
                    f"mask {mask!r} mixes '#' and 'A' in one segment; a segment is all '#' "
                    "(numeric) or all 'A' (alphanumeric)"
                )
            current += char
        else:
            if not current:
                raise MaskError(f"mask {mask!r} has a separator {char!r} where a segment should be")
            runs.append(current)
            separators.add(char)
            current = ""
    if not current:
        raise MaskError(f"mask {mask!r} ends with a separator")
    runs.append(current)
    if len(separators) > 1:
        raise MaskError(
            f"mask {mask!r} uses several separators ({''.join(sorted(separators))}); "
            "Sage 100 uses one for all segments"
        )
    if len(runs) > MAX_SEGMENTS:
        raise MaskError(f"mask {mask!r} has {len(runs)} segments; Sage 100 allows {MAX_SEGMENTS}")
    total = sum(len(r) for r in runs)
    if total > MAX_CHARACTERS:
        raise MaskError(
            f"mask {mask!r} has {total} characters without separators; Sage 100 allows {MAX_CHARACTERS}"
        )
    if not MAIN_MIN <= len(runs[0]) <= MAIN_MAX:
        raise MaskError(
            f"mask {mask!r}: the main (first) segment is {len(runs[0])} characters; "
            f"it must be {MAIN_MIN} to {MAIN_MAX}"
        )
    default_names = ["Main"] + [f"Segment {i}" for i in range(2, len(runs) + 1)]
    given = [n.strip() for n in names if n and n.strip()]
    final_names = [given[i] if i < len(given) else default_names[i] for i in range(len(runs))]
    segments = tuple(
        Segment(name=final_names[i], length=len(run), numeric=run[0] == "#")
        for i, run in enumerate(runs)
    )
    return AccountMask(segments=segments, separator=separators.pop() if separators else "")
