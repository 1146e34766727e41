"""The one HTTP layer under both Sage 100 transports: client setup, capped and bounded reads.

An answer is read incrementally: it stops at the answer-size cap (SAGE_MAX_ANSWER_BYTES) and
when the whole call outlives its deadline, so neither a huge nor a trickling answer can hold a
worker's memory or a write slot without bound. httpx's own errors pass through unchanged: each
transport classifies them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from connector.sage100.gateway import SageSettings


class AnswerTooLarge(Exception):
    """The answer grew past the cap; reading stopped."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class AnswerTooSlow(Exception):
    """The answer was still arriving when the call's deadline passed; reading stopped."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


@dataclass(frozen=True)
class Answer:
    status: int
    headers: httpx.Headers
    content: bytes
    elapsed: float
    path: str
    encoding: str | None


def make_client(settings: SageSettings, *, base_url: str = "", headers: dict[str, str]) -> httpx.Client:
    """An httpx.Client with the company's (clamped) timeouts; no redirects followed."""
    timeout = httpx.Timeout(
        connect=settings.connect_timeout,
        read=settings.read_timeout,
        write=settings.read_timeout,
        pool=settings.connect_timeout,
    )
    # identity: a compressed answer could expand far past the cap within one network read.
    headers = {"Accept-Encoding": "identity", **headers}
    return httpx.Client(base_url=base_url, timeout=timeout, follow_redirects=False, headers=headers)


def too_large_message(limit: int, what: str) -> str:
    """The operator's sentence for an answer over the cap (names the setting)."""
    return (
        f"{what} was larger than SAGE_MAX_ANSWER_BYTES ({limit} bytes); reading stopped. "
        "If such an answer is expected, raise SAGE_MAX_ANSWER_BYTES."
    )


def post(
    client: httpx.Client,
    url: str,
    *,
    settings: SageSettings,
    headers: dict[str, str] | None = None,
    json: Any = None,
    content: bytes | str | None = None,
) -> Answer:
    """POST and read the whole answer within the size cap and the call's deadline."""
    limit = settings.answer_limit
    started = time.monotonic()
    # Checked between chunks: a last read may still take up to one read timeout.
    deadline = started + settings.connect_timeout + settings.read_timeout
    with client.stream("POST", url, headers=headers, json=json, content=content) as response:
        declared = response.headers.get("Content-Length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise AnswerTooLarge(limit)
        parts: list[bytes] = []
        size = 0
        # No chunk size: each piece is counted (and the deadline checked) as soon as it arrives.
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise AnswerTooLarge(limit)
            parts.append(chunk)
            if time.monotonic() > deadline:
                raise AnswerTooSlow(time.monotonic() - started)
        return Answer(
            status=response.status_code,
            headers=response.headers,
            content=b"".join(parts),
            elapsed=time.monotonic() - started,
            path=response.request.url.path,
            encoding=response.encoding,
        )
