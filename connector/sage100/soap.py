"""The SOAP transport: the Sage 100 SOAP service through zeep, over one httpx.Client.

zeep loads the project's own WSDL (soap_transport.py) and never fetches anything over the
network; the service endpoint is the company's base URL. Faults are read by soap_faults.py and
answers by soap_answers.py; this module says which operation each gateway call is.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import zeep.exceptions
from lxml import etree

from connector.sage100 import parsing as p
from connector.sage100 import soap_answers as a
from connector.sage100.base import (
    HttpGateway,
    check_idempotency_key,
    entry_order,
    lookup_criteria,
    search_criteria,
)
from connector.sage100.errors import SageError, SageReportError
from connector.sage100.gateway import SageSettings
from connector.sage100.soap_faults import read_fault
from connector.sage100.soap_transport import BINDING, HttpxTransport, UnsafeAnswer, zeep_client
from connector.sage100.types import (
    AccountStructure,
    FiscalPeriod,
    FoundEntry,
    GLAccountInfo,
    JournalEntryPayload,
    PingInfo,
    PostResult,
    StructureSegment,
)


class SoapGateway(HttpGateway):
    """`SageGateway` over the SOAP service (no ping: the company's own write limit applies)."""

    def __init__(self, settings: SageSettings) -> None:
        super().__init__(
            settings,
            peer_name="The Sage 100 SOAP service",
            proof="a SOAP envelope",
            fix="Check the company's service URL.",
            headers={"Content-Type": "text/xml; charset=utf-8"},
        )
        self._client = zeep_client(self._http, self._peer)
        self._transport: HttpxTransport = self._client.transport
        self._service = self._client.create_service(  # type: ignore[no-untyped-call]
            BINDING, settings.base_url
        )

    # -- plumbing --------------------------------------------------------------------------
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
            raise self._malformed("it carries a DTD or entity declaration, refused", is_post) from None
        except (zeep.exceptions.Error, etree.LxmlError, ValueError, TypeError) as exc:
            if not self._transport.sent:
                # zeep refused to build the request: nothing reached Sage.
                raise SageReportError(
                    "VALIDATION",
                    f"The SOAP request for {operation} could not be built ({self._peer.where}): "
                    f"{self.settings.scrub(str(exc))}",
                ) from None
            raise self._malformed(type(exc).__name__, is_post) from None

    def _from_fault(self, fault: zeep.exceptions.Fault, is_post: bool) -> SageError:
        """Classify by detail/MASFault/Code; without one, by the words of the fault."""
        word = read_fault(fault)
        if word is None:
            return self._malformed("an envelope without a body or fault", is_post)
        return self._coded(word.code, word.message, retry_after=word.retry_after, is_post=is_post)

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
            raise self._malformed(str(exc), False) from None

    def accounts(self, status: str | None = None) -> Iterator[GLAccountInfo]:
        """Every account (of one status, or all); the SOAP service does not page."""
        answer = self._call("GetGLAccounts", status=status)
        try:
            rows = a.items(answer, "GLAccount")
            accounts = [
                GLAccountInfo(
                    account=a.required(r.Account, "Account"),
                    account_key=r.AccountKey or "",
                    description=r.AccountDesc or "",
                    main_account_code=r.MainAccountCode or "",
                    status=a.required(r.Status, "Status"),
                )
                for r in rows
            ]
        except (p.Malformed, AttributeError, TypeError) as exc:
            raise self._malformed(str(exc), False) from None
        yield from accounts

    def periods(self, fiscal_year: int) -> list[FiscalPeriod]:
        """The fiscal year's periods ([] when the year is not set up)."""
        answer = self._call("GetGLPeriods", fiscalYear=fiscal_year)
        try:
            rows = a.items(answer, "Period")
            return [
                FiscalPeriod(
                    period=int(r.Period),
                    start=p.day(r.Start, "Start"),
                    end=p.day(r.End, "End"),
                    status=a.required(r.Status, "Status"),
                )
                for r in rows
            ]
        except (p.Malformed, AttributeError, TypeError, ValueError) as exc:
            raise self._malformed(str(exc), False) from None

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
                        "Debit": a.amount(line.debit_cents),
                        "Credit": a.amount(line.credit_cents),
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
            return a.post_result(answer)
        except (p.Malformed, AttributeError, TypeError) as exc:
            raise self._malformed(str(exc), True) from None

    def lookup(
        self, *, idempotency_key: str | None = None, reference: str | None = None
    ) -> FoundEntry | None:
        """The entry posted under a key (or the newest with a reference), or None."""
        answer = self._call("FindGLJournalEntry", **lookup_criteria(idempotency_key, reference))
        if answer is None:
            return None
        try:
            return a.found_entry(answer)
        except (p.Malformed, AttributeError, TypeError, ValueError) as exc:
            raise self._malformed(str(exc), False) from None

    def search(
        self,
        *,
        reference: str | None = None,
        reference_prefix: str | None = None,
        posting_date_from: date | None = None,
        posting_date_to: date | None = None,
    ) -> list[FoundEntry]:
        """Every entry with the reference (or prefix and posting dates), by EntryNo ascending."""
        params = search_criteria(reference, reference_prefix, posting_date_from, posting_date_to)
        answer = self._call("SearchGLJournalEntries", **params)
        try:
            entries = [a.found_entry(row) for row in a.items(answer, "JournalEntryResult")]
        except (p.Malformed, AttributeError, TypeError, ValueError) as exc:
            raise self._malformed(str(exc), False) from None
        by_number = {entry.entry_no: entry for entry in entries}
        return [by_number[no] for no in sorted(by_number, key=entry_order)]


__all__ = ["SoapGateway"]
