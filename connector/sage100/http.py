"""The one HTTP layer under both Sage 100 transports (healthchecks' hc/lib/curl.py, for Sage).

Client set-up (timeouts, no redirects, the company's pinned agent certificate), reading an answer
within the size cap and the call's deadline, the exception ladder (httpx errors → SageError) and
the classification of answers that carry no word from Sage (a proxy page, a wrong URL, a 429).
The agent and SOAP transports only say what their protocol is; both raise only SageError types.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from typing import Any

import httpx

from connector.certificates import CertificateError, trust_exactly
from connector.httpcommon import parse_retry_after
from connector.sage100.errors import (
    WRONG_PATH_STATUSES,
    SageCompanyError,
    SageError,
    SageOutcomeUnknown,
    SageTransientError,
)
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

    @property
    def retry_after(self) -> float | None:
        """The Retry-After header in seconds (whole seconds or an HTTP date), or None."""
        return parse_retry_after(self.headers.get("Retry-After"))


@dataclass(frozen=True)
class Peer:
    """Who answers, in the words the shared sentences use (one per transport)."""

    name: str  # "The Sage 100 agent"
    proof: str  # what only Sage itself sends: "an agent error code", "a SOAP envelope"
    fix: str  # what an operator checks when the answer makes no sense
    settings: SageSettings

    @property
    def where(self) -> str:
        s = self.settings
        return f"company {s.company_code}, {self.name[4:]} {s.base_url}"


def tls_trust(settings: SageSettings) -> ssl.SSLContext | bool:
    """The pinned agent certificate as the only trusted authority; else the system's (True)."""
    if settings.transport != "agent" or not settings.agent_certificate.strip():
        return True
    try:
        return trust_exactly(settings.agent_certificate)
    except (CertificateError, ssl.SSLError) as exc:
        raise SageCompanyError(
            "CONFIG", f"The agent certificate of company {settings.company_code} is not usable: {exc}"
        ) from None


def make_client(settings: SageSettings, *, base_url: str = "", headers: dict[str, str]) -> httpx.Client:
    """An httpx.Client with the company's (clamped) timeouts and TLS trust; no redirects followed."""
    timeout = httpx.Timeout(
        connect=settings.connect_timeout,
        read=settings.read_timeout,
        write=settings.read_timeout,
        pool=settings.connect_timeout,
    )
    # identity: a compressed answer could expand far past the cap within one network read.
    headers = {"Accept-Encoding": "identity", **headers}
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        follow_redirects=False,
        headers=headers,
        verify=tls_trust(settings),
    )


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
    """POST and read the whole answer within the size cap and the call's deadline.

    Raises AnswerTooLarge, AnswerTooSlow or httpx's own errors; `send` classifies them.
    """
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


def send(
    client: httpx.Client,
    url: str,
    *,
    peer: Peer,
    operation: str,
    is_post: bool,
    headers: dict[str, str] | None = None,
    json: Any = None,
    content: bytes | str | None = None,
) -> Answer:
    """`post`, with every failure to get a whole answer turned into the SageError it means."""
    try:
        return post(client, url, settings=peer.settings, headers=headers, json=json, content=content)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        # Nothing reached Sage: safe to retry.
        raise SageTransientError(
            "SAGE_UNAVAILABLE",
            f"{peer.name} could not be reached ({peer.where}): {type(exc).__name__}.",
        ) from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL):
        raise SageCompanyError("CONFIG", f"{peer.name} URL is not usable ({peer.where}).") from None
    except AnswerTooLarge as exc:
        raise too_large(peer, exc.limit, operation, is_post) from None
    except AnswerTooSlow as exc:
        raise lost(
            peer, "SAGE_TIMEOUT", f"the answer was still arriving after {exc.seconds:.0f} s", is_post
        ) from None
    except httpx.TimeoutException as exc:
        raise lost(peer, "SAGE_TIMEOUT", f"no answer in time ({type(exc).__name__})", is_post) from None
    except httpx.TransportError as exc:
        raise lost(peer, "CONNECTION_LOST", f"connection lost ({type(exc).__name__})", is_post) from None


def lost(peer: Peer, code: str, what: str, is_post: bool) -> SageError:
    """No whole answer: a post may have been written (settle it); a read is simply retried."""
    if is_post:
        return SageOutcomeUnknown(
            code,
            f"{peer.name} gave no answer to a journal entry post ({what}, {peer.where}); "
            "the entry may have been written.",
        )
    return SageTransientError("SAGE_UNAVAILABLE", f"{peer.name} gave no answer ({what}, {peer.where}).")


def too_large(peer: Peer, limit: int, operation: str, is_post: bool) -> SageError:
    """An answer over SAGE_MAX_ANSWER_BYTES: unknown for a post, a configuration matter for a read."""
    if is_post:
        return SageOutcomeUnknown(
            "ANSWER_TOO_LARGE",
            too_large_message(limit, f"{peer.name}'s answer to a journal entry post ({peer.where})")
            + " The entry may have been written.",
        )
    return SageCompanyError(
        "ANSWER_TOO_LARGE", too_large_message(limit, f"{peer.name}'s answer to {operation} ({peer.where})")
    )


def unreadable(peer: Peer, what: str, is_post: bool) -> SageError:
    """An answer that does not follow the contract."""
    if is_post:
        # Sage may well have written the entry; settle it under the same key.
        return SageOutcomeUnknown(
            "SAGE_TIMEOUT",
            f"{peer.name}'s answer to a journal entry post could not be read ({what}, {peer.where}); "
            "the entry may have been written.",
        )
    return SageCompanyError(
        "CONFIG", f"{peer.name}'s answer could not be read ({what}, {peer.where}). {peer.fix}"
    )


def without_proof(
    peer: Peer, status: int, *, is_post: bool, path: str, retry_after: float | None
) -> SageError:
    """An HTTP error status without Sage's own word (a proxy, a wrong URL, an overloaded host).

    The same rules on both transports: 404/405/413 mean the URL is wrong; a post learns nothing
    (only Sage's word proves nothing was written); a read meeting 429, 502, 503 or another 5xx is
    retried (Retry-After honoured); any other status is a configuration matter.
    """
    company = peer.settings.company_code
    if status in WRONG_PATH_STATUSES:
        return SageCompanyError(
            "CONFIG",
            f"{peer.name} URL looks wrong for company {company}: {path} answered HTTP {status} "
            f"without {peer.proof}, so the URL or path is wrong ({peer.where}). {peer.fix}",
        )
    if is_post:
        return SageOutcomeUnknown(
            "SAGE_TIMEOUT",
            f"The answer to a journal entry post came without {peer.proof} (HTTP {status}, "
            f"{peer.where}); the entry may have been written.",
        )
    if status == 429:
        return SageTransientError(
            "TOO_MANY_WRITES", f"{peer.name} is busy (HTTP 429, {peer.where}).", retry_after=retry_after
        )
    if status >= 500:
        return SageTransientError(
            "SAGE_UNAVAILABLE",
            f"Sage 100 is not reachable (HTTP {status}, {peer.where}).",
            retry_after=retry_after,
        )
    return SageCompanyError(
        "CONFIG",
        f"{peer.name} URL looks wrong: {path} answered HTTP {status} without {peer.proof} "
        f"({peer.where}). {peer.fix}",
    )
