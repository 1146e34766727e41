"""What both Sage 100 transports share: the gateway's plumbing and the contract's common rules.

`HttpGateway` holds the company's settings, who answers (`http.Peer`) and the one httpx.Client,
and closes it; the agent and SOAP gateways add only their protocol. Also here: the idempotency
key rule, the lookup and search criteria, Sage's coded word turned into a SageError, and the
order entries come back in.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Self

from connector.sage100 import http
from connector.sage100.errors import SageError, SageReportError, describe, error_for_code
from connector.sage100.gateway import SageSettings, check_search

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class HttpGateway:
    """A gateway's settings, its peer and its one httpx.Client for the gateway's life."""

    def __init__(
        self,
        settings: SageSettings,
        *,
        peer_name: str,
        proof: str,
        fix: str,
        headers: dict[str, str],
        base_url: str = "",
    ) -> None:
        self.settings = settings
        self._peer = http.Peer(name=peer_name, proof=proof, fix=fix, settings=settings)
        self._http = http.make_client(settings, base_url=base_url, headers=headers)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _malformed(self, what: str, is_post: bool) -> SageError:
        """An answer that does not follow the contract (unknown outcome for a post)."""
        return http.unreadable(self._peer, what, is_post)

    def _coded(self, code: str, message: str, *, retry_after: float | None, is_post: bool) -> SageError:
        """Sage's own word: the code's sentence, with Sage's message scrubbed of secrets."""
        s = self.settings
        text = describe(code, s.scrub(message), username=s.username, company_code=s.company_code)
        return error_for_code(code, text, retry_after=retry_after, post=is_post)


def check_idempotency_key(key: str) -> None:
    """Keys are 1-255 visible ASCII characters; anything else is the caller's mistake."""
    if not isinstance(key, str) or not IDEMPOTENCY_KEY.match(key):
        raise SageReportError(
            "VALIDATION", "The idempotency key must be 1-255 visible ASCII characters."
        )


def lookup_criteria(idempotency_key: str | None, reference: str | None) -> dict[str, str]:
    """Exactly one of a key and a reference, as the contract names it (ValueError otherwise)."""
    if idempotency_key is not None and reference is None:
        return {"idempotencyKey": idempotency_key}
    if reference is not None and idempotency_key is None:
        return {"reference": reference}
    raise ValueError("lookup takes exactly one of idempotency_key and reference")


def search_criteria(
    reference: str | None,
    reference_prefix: str | None,
    posting_date_from: date | None,
    posting_date_to: date | None,
) -> dict[str, Any]:
    """A reference, or a prefix with both posting dates (checked by `check_search`)."""
    check_search(reference, reference_prefix, posting_date_from, posting_date_to)
    if reference is not None:
        return {"reference": reference}
    return {
        "referencePrefix": reference_prefix,
        "postingDateFrom": posting_date_from,
        "postingDateTo": posting_date_to,
    }


def entry_order(entry_no: str) -> tuple[int, str]:
    """Entry number order: numerically when it is a number (Sage zero-fills), else as text."""
    return (int(entry_no), entry_no) if entry_no.isdigit() else (-1, entry_no)


__all__ = [
    "HttpGateway",
    "check_idempotency_key",
    "entry_order",
    "lookup_criteria",
    "search_criteria",
]
