"""The SOAP transport: zeep over one httpx.Client, with the project's own WSDL.

zeep loads `masservice.wsdl` from this package and never fetches anything over the network;
the service endpoint is the company's base URL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx
import requests
import zeep
import zeep.exceptions
from lxml import etree

from connector.money import cents_to_decimal
from connector.sage100 import http
from connector.sage100 import parsing as p
from connector.sage100.agent import check_idempotency_key
from connector.sage100.errors import (
    LISTED_CODES,
    SageError,
    SageReportError,
    describe,
    error_for_code,
)
from connector.sage100.gateway import SageSettings, check_search
from connector.sage100.types import (
    AccountStructure,
    FiscalPeriod,
    FoundEntry,
    GLAccountInfo,
    JournalEntryPayload,
    JournalLinePayload,
    PingInfo,
    PostResult,
    StructureSegment,
)

NS = "urn:ml-connector:sage100:gl:v1"
WSDL_PATH = Path(__file__).with_name("masservice.wsdl")
BINDING = f"{{{NS}}}BasicHttpBinding_IMasService"
CENT = Decimal("0.01")
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
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


class UnsafeAnswer(Exception):
    """The service answered with a DTD or an entity declaration."""


class HttpxTransport(zeep.Transport):
    """zeep's Transport on one httpx.Client; loads only local files, never the network."""

    def __init__(self, client: httpx.Client, peer: http.Peer) -> None:
        # zeep's own __init__ would open a requests.Session we never use.
        self.cache = None
        self.load_timeout = peer.settings.read_timeout
        self.operation_timeout = peer.settings.read_timeout
        self.logger = logging.getLogger(__name__)
        self._close_session = False
        self.client = client
        self.peer = peer
        self.sent = False
        self.operation = ""
        self.is_post = False

    def load(self, url: str) -> bytes:
        """Only the packaged WSDL may be read: zeep must not fetch anything remote."""
        path = Path(url[7:] if url.startswith("file://") else url).resolve()
        if path != WSDL_PATH.resolve():
            raise zeep.exceptions.TransportError(  # type: ignore[no-untyped-call]
                f"Refusing to load {url!r}: only the packaged WSDL."
            )
        return path.read_bytes()

    def get(self, address: str, params: Any, headers: Any) -> requests.Response:
        raise zeep.exceptions.TransportError(  # type: ignore[no-untyped-call]
            "The Sage 100 SOAP transport sends no GET requests."
        )

    def post(self, address: str, message: bytes | str, headers: dict[str, str]) -> requests.Response:
        """POST the envelope; bodies are not logged (they hold the Sage password)."""
        self.sent = True
        answer = http.send(
            self.client,
            address,
            peer=self.peer,
            operation=self.operation,
            is_post=self.is_post,
            content=message,
            headers=headers,
        )
        self.logger.debug(
            "Sage 100 SOAP %s: HTTP %s in %.3f s",
            headers.get("SOAPAction", "?"),
            answer.status,
            answer.elapsed,
        )
        content = answer.content
        if _DTD.search(content[:4096]):
            raise UnsafeAnswer
        looks_soap = b"Envelope" in content[:2048]
        if not looks_soap and answer.status != 200:
            raise http.without_proof(
                self.peer,
                answer.status,
                is_post=self.is_post,
                path=answer.path,
                retry_after=answer.retry_after,
            )
        converted = requests.Response()
        converted._content = content
        converted.status_code = answer.status
        converted.headers = requests.structures.CaseInsensitiveDict(answer.headers)
        converted.encoding = answer.encoding
        return converted

    def __del__(self) -> None:
        return


class SoapGateway:
    """`SageGateway` over the SOAP service (no ping: the company's own write limit applies)."""

    def __init__(self, settings: SageSettings) -> None:
        self.settings = settings
        self._peer = http.Peer(
            name="The Sage 100 SOAP service",
            proof="a SOAP envelope",
            fix="Check the company's service URL.",
            settings=settings,
        )
        self._http = http.make_client(settings, headers={"Content-Type": "text/xml; charset=utf-8"})
        zeep_settings = zeep.Settings(
            strict=True,
            xml_huge_tree=False,
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        )
        self._client = zeep.Client(  # type: ignore[no-untyped-call]
            wsdl=str(WSDL_PATH),
            transport=HttpxTransport(self._http, self._peer),
            settings=zeep_settings,
        )
        self._transport: HttpxTransport = self._client.transport
        self._service = self._client.create_service(  # type: ignore[no-untyped-call]
            BINDING, settings.base_url
        )

    # -- plumbing --------------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def __enter__(self) -> SoapGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _logon(self) -> dict[str, str]:
        return {"Username": self.settings.username, "Password": self.settings.password}

    def _call(self, operation: str, **params: Any) -> Any:
        """Call one operation; every failure comes back as a classified SageError."""
        is_post = operation == "CreateGLJournalEntry"
        method = getattr(self._service, operation)
        self._transport.sent = False
        self._transport.operation = operation
        self._transport.is_post = is_post
        try:
            return method(logon=self._logon(), companyCode=self.settings.company_code, **params)
        except SageError:
            raise  # classified by the HTTP layer (no whole answer, or no SOAP envelope)
        except zeep.exceptions.Fault as fault:
            raise self._from_fault(fault, is_post) from None
        except (UnsafeAnswer, zeep.exceptions.DTDForbidden, zeep.exceptions.EntitiesForbidden):
            raise self._unreadable("it carries a DTD or entity declaration, refused", is_post) from None
        except (zeep.exceptions.Error, etree.LxmlError, ValueError, TypeError) as exc:
            if not self._transport.sent:
                # zeep refused to build the request: nothing reached Sage.
                raise SageReportError(
                    "VALIDATION",
                    f"The SOAP request for {operation} could not be built ({self._peer.where}): "
                    f"{self.settings.scrub(str(exc))}",
                ) from None
            raise self._unreadable(type(exc).__name__, is_post) from None

    def _unreadable(self, what: str, is_post: bool) -> SageError:
        return http.unreadable(self._peer, what, is_post)

    def _from_fault(self, fault: zeep.exceptions.Fault, is_post: bool) -> SageError:
        """Classify by detail/MASFault/Code; without one, by the words of the fault."""
        code = message = None
        retry_after: float | None = None
        # zeep's "Unknown fault" (an envelope without a Fault) carries the document as bytes.
        if fault.code is None and not isinstance(fault.detail, etree._Element):
            return self._unreadable("an envelope without a body or fault", is_post)
        detail = fault.detail if isinstance(fault.detail, etree._Element) else None
        if detail is not None:
            mas = detail.find(f"{{{NS}}}MASFault")
            if mas is None:
                mas = detail.find("MASFault")
            if mas is not None:
                code = (mas.findtext(f"{{{NS}}}Code") or mas.findtext("Code") or "").strip() or None
                if code not in LISTED_CODES:
                    code = None
                message = mas.findtext(f"{{{NS}}}Message") or mas.findtext("Message")
                raw_retry = mas.findtext(f"{{{NS}}}RetryAfter") or mas.findtext("RetryAfter")
                retry_after = p.retry_after(raw_retry)
        words = " ".join(
            part for part in [
                fault.message or "",
                message or "",
                " ".join(detail.itertext()) if detail is not None else "",
            ] if part
        )
        if code is None:
            lowered = words.lower()
            code = next(
                (c for keys, c in TEXT_RULES if any(k in lowered for k in keys)), "VALIDATION"
            )
        text = describe(
            code,
            self.settings.scrub(message or fault.message or ""),
            username=self.settings.username,
            company_code=self.settings.company_code,
        )
        return error_for_code(code, text, retry_after=retry_after, post=is_post)

    def _malformed(self, exc: Exception, is_post: bool) -> SageError:
        return self._unreadable(str(exc), is_post)

    # -- the operations --------------------------------------------------------------------
    def ping(self) -> PingInfo:
        """No ping over SOAP: the structure call checks logon, company and rights instead."""
        self.account_structure()
        return PingInfo(agent_version="", sage_version="SOAP service", max_concurrent_writes=None)

    def account_structure(self) -> AccountStructure:
        """The company's account mask, separator and segments."""
        answer = self._call("GetGLAccountStructure")
        try:
            segments = tuple(
                StructureSegment(name=s.Name or "", length=int(s.Length), type=s.Type or "")
                for s in (answer.Segments.Segment if answer.Segments is not None else [])
            )
            if not segments or any(s.type not in ("numeric", "alphanumeric") for s in segments):
                raise p.Malformed("segments missing or of an unknown type")
            return AccountStructure(
                mask=answer.Mask or "", separator=answer.Separator or "", segments=segments
            )
        except (p.Malformed, AttributeError, TypeError, ValueError) as exc:
            raise self._malformed(exc, False) from None

    def accounts(self, status: str | None = None) -> Iterator[GLAccountInfo]:
        """Every account (of one status, or all); the SOAP service does not page."""
        answer = self._call("GetGLAccounts", status=status)
        try:
            rows = _items(answer, "GLAccount")
            accounts = [
                GLAccountInfo(
                    account=_required(r.Account, "Account"),
                    account_key=r.AccountKey or "",
                    description=r.AccountDesc or "",
                    main_account_code=r.MainAccountCode or "",
                    status=_required(r.Status, "Status"),
                )
                for r in rows
            ]
        except (p.Malformed, AttributeError, TypeError) as exc:
            raise self._malformed(exc, False) from None
        yield from accounts

    def periods(self, fiscal_year: int) -> list[FiscalPeriod]:
        """The fiscal year's periods ([] when the year is not set up)."""
        answer = self._call("GetGLPeriods", fiscalYear=fiscal_year)
        try:
            rows = _items(answer, "Period")
            return [
                FiscalPeriod(
                    period=int(r.Period),
                    start=p.day(r.Start, "Start"),
                    end=p.day(r.End, "End"),
                    status=_required(r.Status, "Status"),
                )
                for r in rows
            ]
        except (p.Malformed, AttributeError, TypeError, ValueError) as exc:
            raise self._malformed(exc, False) from None

    def post_entry(self, entry: JournalEntryPayload, *, idempotency_key: str) -> PostResult:
        """Post one journal entry under the key; a replay answers with Replayed true."""
        check_idempotency_key(idempotency_key)
        journal_entry = {
            "SourceJournal": entry.source_journal,
            "PostingDate": entry.posting_date,
            "Reference": entry.reference,
            "Comment": entry.comment,
            "Lines": {
                "Line": [
                    {
                        "Account": line.account,
                        # zeep writes Decimal("125.4") as 125.4; the service wants 2 places.
                        "Debit": _amount(line.debit_cents),
                        "Credit": _amount(line.credit_cents),
                        "Comment": line.comment,
                    }
                    for line in entry.lines
                ]
            },
        }
        answer = self._call(
            "CreateGLJournalEntry", idempotencyKey=idempotency_key, journalEntry=journal_entry
        )
        try:
            if answer is None:
                raise p.Malformed("no JournalEntryResult")
            return _result(answer)
        except (p.Malformed, AttributeError, TypeError) as exc:
            raise self._malformed(exc, True) from None

    def lookup(
        self, *, idempotency_key: str | None = None, reference: str | None = None
    ) -> FoundEntry | None:
        """The entry posted under a key (or the newest with a reference), or None."""
        if (idempotency_key is None) == (reference is None):
            raise ValueError("lookup takes exactly one of idempotency_key and reference")
        params = (
            {"idempotencyKey": idempotency_key} if idempotency_key is not None
            else {"reference": reference}
        )
        answer = self._call("FindGLJournalEntry", **params)
        if answer is None:
            return None
        try:
            return _found(answer)
        except (p.Malformed, AttributeError, TypeError, ValueError) as exc:
            raise self._malformed(exc, False) from None

    def search(
        self,
        *,
        reference: str | None = None,
        reference_prefix: str | None = None,
        posting_date_from: date | None = None,
        posting_date_to: date | None = None,
    ) -> list[FoundEntry]:
        """Every entry with the reference (or prefix and posting dates), by EntryNo ascending."""
        check_search(reference, reference_prefix, posting_date_from, posting_date_to)
        params: dict[str, Any] = (
            {"reference": reference}
            if reference is not None
            else {
                "referencePrefix": reference_prefix,
                "postingDateFrom": posting_date_from,
                "postingDateTo": posting_date_to,
            }
        )
        answer = self._call("SearchGLJournalEntries", **params)
        try:
            entries = [_found(row) for row in _items(answer, "JournalEntryResult")]
        except (p.Malformed, AttributeError, TypeError, ValueError) as exc:
            raise self._malformed(exc, False) from None
        by_number = {entry.entry_no: entry for entry in entries}
        return [by_number[no] for no in sorted(by_number, key=_entry_order)]


def _entry_order(entry_no: str) -> tuple[int, str]:
    """EntryNo order: numerically when it is a number (Sage zero-fills), else as text."""
    return (int(entry_no), entry_no) if entry_no.isdigit() else (-1, entry_no)


def _cents(value: Any, name: str) -> int:
    if not isinstance(value, Decimal):
        raise p.Malformed(f"{name!r} must be an amount")
    try:
        cents = value.quantize(CENT) * 100
    except InvalidOperation:
        raise p.Malformed(f"{name!r} must be an amount") from None
    if value != value.quantize(CENT) or cents < 0:
        raise p.Malformed(f"{name!r} must be an amount with 2 places, got {value}")
    return int(cents)


def _found(answer: Any) -> FoundEntry:
    """A Find or Search result: the post result, then source journal, comment, key and lines."""
    base = _result(answer)
    return FoundEntry(
        entry_no=base.entry_no,
        batch_no=base.batch_no,
        posting_date=base.posting_date,
        reference=base.reference,
        replayed=False,
        source_journal=_required(answer.SourceJournal, "SourceJournal"),
        comment=answer.Comment or "",
        idempotency_key=_required(answer.IdempotencyKey, "IdempotencyKey"),
        lines=tuple(
            JournalLinePayload(
                account=_required(line.Account, "Account"),
                debit_cents=_cents(line.Debit, "Debit"),
                credit_cents=_cents(line.Credit, "Credit"),
                comment=line.Comment or "",
            )
            for line in _items(answer.Lines, "Line")
        ),
    )


def _items(answer: Any, name: str) -> list[Any]:
    """zeep hands back the inner list itself when a response holds one array element."""
    if answer is None:
        return []
    if isinstance(answer, list):
        return answer
    return list(getattr(answer, name) or [])


def _amount(cents: int) -> Decimal:
    if cents < 0:
        raise SageReportError("VALIDATION", "Sage 100 amounts are never negative.")
    return cents_to_decimal(cents).quantize(CENT)


def _required(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise p.Malformed(f"{name!r} is missing")
    return value


def _result(answer: Any) -> PostResult:
    if not isinstance(answer.Replayed, bool):
        raise p.Malformed("'Replayed' must be true or false")
    return PostResult(
        entry_no=_required(answer.EntryNo, "EntryNo"),
        batch_no=answer.BatchNo or "",
        posting_date=p.day(answer.PostingDate, "PostingDate"),
        reference=answer.Reference or "",
        replayed=answer.Replayed,
    )
