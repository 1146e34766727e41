"""SOAP request parsing (strict: namespace, order, SOAPAction) and response bodies."""

from __future__ import annotations

from datetime import date
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from simulators.sage100.core import COMPANY_CODE, IDEMPOTENCY_KEY, Company, Fault, SageBook, SimError
from simulators.sage100.core import validate_entry as _validate_entry

NS = "urn:ml-connector:sage100:gl:v1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
KIND = {
    "GetGLAccountStructure": "structure",
    "GetGLAccounts": "accounts",
    "GetGLPeriods": "periods",
    "CreateGLJournalEntry": "post",
    "FindGLJournalEntry": "lookup",
    "SearchGLJournalEntries": "search",
}


def _bad(message: str) -> SimError:
    return SimError("VALIDATION", message)


def _elements(el: Any) -> list[Any]:
    return [c for c in el if isinstance(c.tag, str)]


def _seq(el: Any, spec: list[tuple[str, bool]]) -> dict[str, Any]:
    """Children of `el` in exactly this order, in the service namespace; optional ones may lack."""
    children = _elements(el)
    found: dict[str, Any] = {}
    i = 0
    for name, required in spec:
        if i < len(children) and children[i].tag == f"{{{NS}}}{name}":
            found[name] = children[i]
            i += 1
        elif required:
            raise _bad(f"<{name}> is required here, in namespace {NS}, in order.")
    if i < len(children):
        raise _bad(f"Unexpected element {children[i].tag} in <{etree.QName(el).localname}>.")
    return found


def _text(el: Any) -> str:
    if _elements(el):
        raise _bad(f"<{etree.QName(el).localname}> must hold text only.")
    return el.text or ""


def parse_request(root: Any, soap_action: str) -> tuple[str, dict[str, Any]]:
    """The operation name and its request as plain values; VALIDATION on any deviation."""
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise _bad("The root element must be a SOAP 1.1 Envelope.")
    body = next((c for c in _elements(root) if c.tag == f"{{{SOAP_ENV}}}Body"), None)
    if body is None or len(_elements(body)) != 1:
        raise _bad("The SOAP Body must hold exactly one operation element.")
    call = _elements(body)[0]
    qname = etree.QName(call)
    if qname.namespace != NS or qname.localname not in KIND:
        raise _bad(f"Unknown operation {call.tag}.")
    op = qname.localname
    if soap_action != f'"{NS}/{op}"':
        raise _bad(f"SOAPAction must be \"{NS}/{op}\".")
    spec: list[tuple[str, bool]] = [("logon", True), ("companyCode", True)]
    extra = {
        "GetGLAccountStructure": [],
        "GetGLAccounts": [("status", False)],
        "GetGLPeriods": [("fiscalYear", True)],
        "CreateGLJournalEntry": [("idempotencyKey", True), ("journalEntry", True)],
        "FindGLJournalEntry": [("idempotencyKey", False), ("reference", False)],
        "SearchGLJournalEntries": [
            ("reference", False),
            ("referencePrefix", False),
            ("postingDateFrom", False),
            ("postingDateTo", False),
        ],
    }[op]
    parts = _seq(call, spec + extra)
    logon_parts = _seq(parts["logon"], [("Username", True), ("Password", True)])
    request: dict[str, Any] = {
        "logon": {k: _text(v) for k, v in logon_parts.items()},
        "companyCode": _text(parts["companyCode"]),
    }
    if not COMPANY_CODE.match(request["companyCode"]):
        raise _bad("companyCode must be 3 uppercase letters or digits.")
    if op == "GetGLAccounts":
        status = _text(parts["status"]) if "status" in parts else ""
        if status not in ("", "A", "I", "D"):
            raise _bad("status must be A, I, D or empty.")
        request["status"] = status or None
    elif op == "GetGLPeriods":
        try:
            request["fiscalYear"] = int(_text(parts["fiscalYear"]))
        except ValueError:
            raise _bad("fiscalYear must be a whole number.") from None
    elif op == "FindGLJournalEntry":
        if ("idempotencyKey" in parts) == ("reference" in parts):
            raise _bad("Give exactly one of idempotencyKey and reference.")
        request["idempotencyKey"] = _text(parts["idempotencyKey"]) if "idempotencyKey" in parts else None
        request["reference"] = _text(parts["reference"]) if "reference" in parts else None
    elif op == "SearchGLJournalEntries":
        request.update(_search(parts))
    elif op == "CreateGLJournalEntry":
        key = _text(parts["idempotencyKey"])
        if not IDEMPOTENCY_KEY.match(key):
            raise _bad("idempotencyKey must be 1-255 visible ASCII characters.")
        request["idempotencyKey"] = key
        request["entry"] = _validate_entry(_entry(parts["journalEntry"]))
    return op, request


def _search(parts: dict[str, Any]) -> dict[str, Any]:
    """The choice of SearchGLJournalEntries: a reference, or a prefix with both dates."""
    ranged = ("referencePrefix", "postingDateFrom", "postingDateTo")
    if "reference" in parts:
        if any(name in parts for name in ranged):
            raise _bad("Give reference, or referencePrefix with both dates, not both.")
        return {"reference": _text(parts["reference"]), "referencePrefix": None,
                "postingDateFrom": None, "postingDateTo": None}
    if any(name not in parts for name in ranged):
        raise _bad("Give reference, or referencePrefix, postingDateFrom and postingDateTo.")
    found: dict[str, Any] = {"reference": None, "referencePrefix": _text(parts["referencePrefix"])}
    for name in ranged[1:]:
        value = _text(parts[name])
        try:
            date.fromisoformat(value)
        except ValueError:
            raise _bad(f"{name} must be an xs:date.") from None
        if len(value) != 10:
            raise _bad(f"{name} must be an xs:date.")
        found[name] = value
    return found


def _entry(el: Any) -> dict[str, Any]:
    head = _seq(
        el,
        [
            ("SourceJournal", True),
            ("PostingDate", True),
            ("Reference", True),
            ("Comment", False),
            ("Lines", True),
        ],
    )
    lines = []
    for line_el in _elements(head["Lines"]):
        if line_el.tag != f"{{{NS}}}Line":
            raise _bad("<Lines> holds only <Line> elements.")
        parts = _seq(
            line_el, [("Account", True), ("Debit", True), ("Credit", True), ("Comment", False)]
        )
        lines.append(
            {
                "account": _text(parts["Account"]),
                "debit": _text(parts["Debit"]),
                "credit": _text(parts["Credit"]),
                "comment": _text(parts["Comment"]) if "Comment" in parts else "",
            }
        )
    return {
        "sourceJournal": _text(head["SourceJournal"]),
        "postingDate": _text(head["PostingDate"]),
        "reference": _text(head["Reference"]),
        "comment": _text(head["Comment"]) if "Comment" in head else "",
        "lines": lines,
    }


def _el(name: str, value: Any) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def result_xml(answer: dict[str, Any]) -> str:
    """<JournalEntryResult> for a post or a find."""
    return (
        "<JournalEntryResult>"
        + _el("EntryNo", answer["entryNo"])
        + _el("BatchNo", answer["batchNo"])
        + _el("PostingDate", answer["postingDate"])
        + _el("Reference", answer["reference"])
        + _el("Replayed", "true" if answer.get("replayed") else "false")
        + "</JournalEntryResult>"
    )


def found_xml(found: dict[str, Any]) -> str:
    """<JournalEntryResult> of Find and Search: the result, then journal, comment, key, lines."""
    lines = "".join(
        "<Line>"
        + _el("Account", line["account"])
        + _el("Debit", line["debit"])
        + _el("Credit", line["credit"])
        + (_el("Comment", line["comment"]) if line.get("comment") else "")
        + "</Line>"
        for line in found["lines"]
    )
    return (
        "<JournalEntryResult>"
        + _el("EntryNo", found["entryNo"])
        + _el("BatchNo", found["batchNo"])
        + _el("PostingDate", found["postingDate"])
        + _el("Reference", found["reference"])
        + _el("Replayed", "false")
        + _el("SourceJournal", found["sourceJournal"])
        + (_el("Comment", found["comment"]) if found.get("comment") else "")
        + _el("IdempotencyKey", found["idempotencyKey"])
        + f"<Lines>{lines}</Lines>"
        + "</JournalEntryResult>"
    )


def read_response(
    book: SageBook, op: str, company: Company, request: dict[str, Any], fault: Fault | None
) -> str:
    """The inner XML of <OpResponse> for the read operations."""
    if op == "GetGLAccountStructure":
        s = book.structure(company, fault)
        segments = "".join(
            "<Segment>"
            + _el("Name", seg["name"])
            + _el("Length", seg["length"])
            + _el("Type", seg["type"])
            + "</Segment>"
            for seg in s["segments"]
        )
        return _el("Mask", s["mask"]) + _el("Separator", s["separator"]) + f"<Segments>{segments}</Segments>"
    if op == "GetGLAccounts":
        accounts = "".join(
            "<GLAccount>"
            + _el("Account", a["account"])
            + _el("AccountKey", a["accountKey"])
            + _el("AccountDesc", a["description"])
            + _el("MainAccountCode", a["mainAccountCode"])
            + _el("Status", a["status"])
            + "</GLAccount>"
            for a in book.accounts(company, request["status"], fault)
        )
        return f"<Accounts>{accounts}</Accounts>"
    if op == "GetGLPeriods":
        periods = "".join(
            "<Period>"
            + _el("Period", p["period"])
            + _el("Start", p["start"])
            + _el("End", p["end"])
            + _el("Status", p["status"])
            + "</Period>"
            for p in book.periods(company, request["fiscalYear"], fault)
        )
        return f"<Periods>{periods}</Periods>"
    if op == "SearchGLJournalEntries":
        entries = book.search(
            company,
            request["reference"],
            request["referencePrefix"],
            request["postingDateFrom"],
            request["postingDateTo"],
            fault,
        )
        return "<Entries>" + "".join(found_xml(e) for e in entries) + "</Entries>"
    found = book.lookup(company, request["idempotencyKey"], request["reference"], fault)
    return found_xml(found) if found else ""
