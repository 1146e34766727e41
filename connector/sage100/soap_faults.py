"""What a SOAP fault says: the contract code (detail/MASFault/Code), or one read from its words.

A fault whose MASFault carries a listed code is Sage's word; without one, the fault's words are
matched against TEXT_RULES (first match wins), and anything else is a VALIDATION failure.
"""

from __future__ import annotations

from dataclasses import dataclass

import zeep.exceptions
from lxml import etree

from connector.sage100 import parsing as p
from connector.sage100.errors import LISTED_CODES
from connector.sage100.soap_transport import NS

# The fallback when a fault has no MASFault/Code: (words, code), first match wins.
TEXT_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("locked", "in use"), "RECORD_LOCKED"),
    (("timeout", "timed out"), "SAGE_TIMEOUT"),
    (("too many",), "TOO_MANY_WRITES"),
    (("unavailable", "not available"), "SAGE_UNAVAILABLE"),
    (("logon", "password"), "AUTH_SAGE"),
    (("no access",), "NO_ACCESS"),
    (("company",), "COMPANY_NOT_FOUND"),
)


@dataclass(frozen=True)
class FaultWord:
    """The code a fault carries (or was read from its words), Sage's message and Retry-After."""

    code: str
    message: str
    retry_after: float | None


def _find(element: etree._Element, name: str) -> str | None:
    """A child's text, namespaced or not."""
    text: str | None = element.findtext(f"{{{NS}}}{name}") or element.findtext(name)
    return text


def read_fault(fault: zeep.exceptions.Fault) -> FaultWord | None:
    """The fault's word; None for zeep's "Unknown fault" (an envelope without body or fault)."""
    code = message = None
    retry_after: float | None = None
    # zeep's "Unknown fault" (an envelope without a Fault) carries the document as bytes.
    if fault.code is None and not isinstance(fault.detail, etree._Element):
        return None
    detail = fault.detail if isinstance(fault.detail, etree._Element) else None
    if detail is not None:
        mas = detail.find(f"{{{NS}}}MASFault")
        if mas is None:
            mas = detail.find("MASFault")
        if mas is not None:
            code = (_find(mas, "Code") or "").strip() or None
            if code not in LISTED_CODES:
                code = None
            message = _find(mas, "Message")
            retry_after = p.retry_after(_find(mas, "RetryAfter"))
    if code is None:
        words = " ".join(
            part for part in [
                fault.message or "",
                message or "",
                " ".join(detail.itertext()) if detail is not None else "",
            ] if part
        )
        lowered = words.lower()
        code = next((c for keys, c in TEXT_RULES if any(k in lowered for k in keys)), "VALIDATION")
    return FaultWord(code=code, message=message or fault.message or "", retry_after=retry_after)


__all__ = ["TEXT_RULES", "FaultWord", "read_fault"]
