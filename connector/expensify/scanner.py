"""A forward-only reader over JSON text that cuts out one complete value at a time.

An export can hold 100,000 expenses, so the document is never loaded whole: the scanner reads
CHUNK_CHARS at a time and hands back the text of one value (a report), which is then decoded
alone with numbers as Decimal, so no float ever touches money.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import IO, Any

from connector.expensify.errors import ExpensifyProtocolError

CHUNK_CHARS = 1 << 20
_NON_WS = re.compile(r"\S")
_SCALAR_END = re.compile(r"[,\]}\s]")
# Everything up to the next bracket, stepping over whole strings (escapes included) in one match:
# the value's text is never walked character by character in Python. Where a string does not
# close inside the buffer, the match stops at its opening quote.
_TO_BRACKET = re.compile(r'[^"{}\[\]]*+(?:"[^"\\]*+(?:\\.[^"\\]*+)*+"[^"{}\[\]]*+)*+', re.DOTALL)
# The rest of a string after its opening quote: stops at the closing quote, at a backslash that is
# the buffer's last character, or at the end of the buffer.
_STRING_REST = re.compile(r'[^"\\]*+(?:\\.[^"\\]*+)*+', re.DOTALL)


def _stop(pattern: re.Pattern[str], buf: str, index: int) -> int:
    """Where `pattern` (it also matches the empty string) stops when matched at `index`."""
    match = pattern.match(buf, index)
    return match.end() if match else index


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def _loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


class Scanner:
    """A forward-only reader over JSON text that can cut out one complete value at a time."""

    __slots__ = ("_buf", "_pos", "_stream")

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._buf = ""
        self._pos = 0

    def _read(self) -> bool:
        data = self._stream.read(CHUNK_CHARS)
        if not data:
            return False
        self._buf = data
        self._pos = 0
        return True

    def peek(self) -> str:
        """The next non-blank character ('' at the end), without consuming it."""
        while True:
            match = _NON_WS.search(self._buf, self._pos)
            if match:
                self._pos = match.start()
                return self._buf[self._pos]
            if not self._read():
                return ""

    def take(self, expected: str, where: str) -> None:
        char = self.peek()
        if char != expected:
            found = repr(char) if char else "the end of the document"
            raise ExpensifyProtocolError(
                f"Expensify export is not valid JSON: expected {expected!r} {where}, found {found}."
            )
        self._pos += 1

    def value_text(self, where: str) -> str:
        """Cut out the next complete JSON value (object, array, string or scalar) as text."""
        first = self.peek()
        if not first:
            raise ExpensifyProtocolError(f"Expensify export ends early {where}.")
        if first == '"':
            return self._string_text(where)
        if first not in "{[":
            return self._scalar_text()
        parts: list[str] = []
        buf, start, index, depth = self._buf, self._pos, self._pos, 0
        while True:
            index = _stop(_TO_BRACKET, buf, index)
            if index == len(buf):
                parts.append(buf[start:])
                if not self._read():
                    raise ExpensifyProtocolError(f"Expensify export ends inside a value {where}.")
                buf, start, index = self._buf, 0, 0
                continue
            char = buf[index]
            index += 1
            if char == '"':
                # A string that goes on in the next chunk.
                start, index = self._string_end(parts, start, index, where)
                buf = self._buf
            elif char in "{[":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    parts.append(buf[start:index])
                    self._pos = index
                    return "".join(parts)

    def _scalar_text(self) -> str:
        parts: list[str] = []
        start = self._pos
        while True:
            match = _SCALAR_END.search(self._buf, start)
            if match:
                parts.append(self._buf[start : match.start()])
                self._pos = match.start()
                return "".join(parts)
            parts.append(self._buf[start:])
            if not self._read():
                return "".join(parts)
            start = 0

    def _string_text(self, where: str) -> str:
        parts: list[str] = []
        start, index = self._string_end(parts, self._pos, self._pos + 1, where)
        parts.append(self._buf[start:index])
        self._pos = index
        return "".join(parts)

    def _string_end(self, parts: list[str], start: int, index: int, where: str) -> tuple[int, int]:
        """Step past the string whose text begins at `index` (just after its opening quote).

        Text read before the current buffer is appended to `parts`; returns the (start, index)
        to go on from in the buffer that holds the closing quote.
        """
        while True:
            buf = self._buf
            index = _stop(_STRING_REST, buf, index)
            if index < len(buf) and buf[index] == '"':
                return start, index + 1
            parts.append(buf[start:])
            if not self._read():
                ends = "inside a string" if index < len(buf) else "inside a value"
                raise ExpensifyProtocolError(f"Expensify export ends {ends} {where}.")
            # After a backslash that ended the last chunk, its escaped character is skipped.
            start, index = 0, (1 if index < len(buf) else 0)

def decode(text: str, where: str) -> Any:
    try:
        return _loads(text)
    except (ValueError, RecursionError) as exc:
        raise ExpensifyProtocolError(
            f"Expensify export is not valid JSON {where}: {exc}; starts with {text[:200]!r}."
        ) from None


__all__ = ["CHUNK_CHARS", "Scanner", "decode"]
