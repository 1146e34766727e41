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
_STRUCTURAL = re.compile(r'["{}\[\]]')
_IN_STRING = re.compile(r'["\\]')
_SCALAR_END = re.compile(r"[,\]}\s]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def _loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


class Scanner:
    """A forward-only reader over JSON text that can cut out one complete value at a time."""

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
        parts: list[str] = []
        start = index = self._pos
        if first not in '{["':
            while True:
                match = _SCALAR_END.search(self._buf, index)
                if match:
                    parts.append(self._buf[start : match.start()])
                    self._pos = match.start()
                    return "".join(parts)
                parts.append(self._buf[start:])
                if not self._read():
                    return "".join(parts)
                start = index = 0
        depth = 0
        in_string = False
        while True:
            match = (_IN_STRING if in_string else _STRUCTURAL).search(self._buf, index)
            if match is None:
                parts.append(self._buf[start:])
                if not self._read():
                    raise ExpensifyProtocolError(f"Expensify export ends inside a value {where}.")
                start = index = 0
                continue
            char = match.group()
            index = match.end()
            if in_string:
                if char == "\\":
                    if index >= len(self._buf):
                        # The escaped character starts the next chunk: keep it out of the scan.
                        parts.append(self._buf[start:])
                        if not self._read():
                            raise ExpensifyProtocolError(f"Expensify export ends inside a string {where}.")
                        start, index = 0, 1
                    else:
                        index += 1
                    continue
                in_string = False
                if depth == 0:
                    parts.append(self._buf[start:index])
                    self._pos = index
                    return "".join(parts)
            elif char == '"':
                in_string = True
            elif char in "{[":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    parts.append(self._buf[start:index])
                    self._pos = index
                    return "".join(parts)


def decode(text: str, where: str) -> Any:
    try:
        return _loads(text)
    except (ValueError, RecursionError) as exc:
        raise ExpensifyProtocolError(
            f"Expensify export is not valid JSON {where}: {exc}; starts with {text[:200]!r}."
        ) from None


__all__ = ["CHUNK_CHARS", "Scanner", "decode"]
