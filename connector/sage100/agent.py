"""The agent transport: the customer's Windows agent wrapping BOI, over HTTPS and JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import date
from typing import Any

from connector.sage100 import http
from connector.sage100 import parsing as p
from connector.sage100.base import (
    HttpGateway,
    check_idempotency_key,
    entry_order,
    lookup_criteria,
    search_criteria,
)
from connector.sage100.errors import LISTED_CODES
from connector.sage100.gateway import SageSettings
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

logger = logging.getLogger(__name__)
POST_PATH = "/v1/gl/journal-entries"
PAGE_LIMIT = 1000
SEARCH_LIMIT = 500
# A chart of accounts never needs more pages than this; more means a looping cursor.
MAX_PAGES = 10_000


class AgentGateway(HttpGateway):
    """`SageGateway` over the agent API; one httpx.Client for the gateway's life."""

    def __init__(self, settings: SageSettings) -> None:
        super().__init__(
            settings,
            peer_name="The Sage 100 agent",
            proof="an agent error code",
            fix="Check the company's base URL and the agent version.",
            base_url=settings.base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {settings.agent_api_key}",
                "Accept": "application/json",
            },
        )

    def _call(
        self, path: str, payload: dict[str, Any], *, idempotency_key: str | None = None
    ) -> Any:
        """POST one call; returns the decoded answer or raises the classified SageError."""
        s = self.settings
        is_post = path == POST_PATH
        body = {
            "logon": {"username": s.username, "password": s.password},
            "companyCode": s.company_code,
            **payload,
        }
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        answer = http.send(
            self._http, path, peer=self._peer, operation=path, is_post=is_post, json=body, headers=headers
        )
        logger.debug(
            "Sage 100 agent %s for company %s: HTTP %s in %.3f s",
            path,
            s.company_code,
            answer.status,
            answer.elapsed,
        )
        return self._answer(answer, is_post)

    def _answer(self, answer: http.Answer, is_post: bool) -> Any:
        """The agent's protocol: a listed code in the error envelope is Sage's word; 2xx is JSON."""
        status = answer.status
        data: Any = None
        if answer.content:
            try:
                data = json.loads(answer.content)
            except (ValueError, UnicodeDecodeError):
                data = None
        error = data.get("error") if isinstance(data, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        code = code if isinstance(code, str) else None  # a code of any other JSON type is no code
        if isinstance(error, dict) and code in LISTED_CODES and status >= 400:
            raw = error.get("message")
            raw = raw if isinstance(raw, str) else ""
            raise self._coded(str(code), raw, retry_after=answer.retry_after, is_post=is_post)
        if 200 <= status < 300:
            if data is None:
                raise self._malformed("the answer is not JSON", is_post)
            return data
        raise http.without_proof(
            self._peer, status, is_post=is_post, path=answer.path, retry_after=answer.retry_after
        )

    # -- the operations --------------------------------------------------------------------
    def ping(self) -> PingInfo:
        """Checks key, logon, company and read rights; returns versions and the write limit."""
        data = self._call("/v1/ping", {})
        try:
            limit = p.member(data, "maxConcurrentWrites") if isinstance(data, dict) else None
            if limit is not None and (type(limit) is not int or limit < 1):
                raise p.Malformed(f"'maxConcurrentWrites' must be a whole number >= 1, got {limit!r}")
            return PingInfo(
                agent_version=p.text(data, "agentVersion"),
                sage_version=p.text(data, "sageVersion"),
                max_concurrent_writes=limit,
            )
        except p.Malformed as exc:
            raise self._malformed(str(exc), False) from None

    def account_structure(self) -> AccountStructure:
        """The company's account mask, separator and segments."""
        data = self._call("/v1/gl/account-structure", {})
        try:
            raw_segments = p.member(data, "segments")
            if not isinstance(raw_segments, list) or not raw_segments:
                raise p.Malformed("'segments' must be a non-empty list")
            segments = []
            for seg in raw_segments:
                kind = p.text(seg, "type")
                if kind not in ("numeric", "alphanumeric"):
                    raise p.Malformed(f"segment type must be numeric or alphanumeric, got {kind!r}")
                segments.append(
                    StructureSegment(name=p.text(seg, "name"), length=p.whole(seg, "length"), type=kind)
                )
            return AccountStructure(
                mask=p.text(data, "mask"),
                separator=p.text(data, "separator"),
                segments=tuple(segments),
            )
        except p.Malformed as exc:
            raise self._malformed(str(exc), False) from None

    def accounts(self, status: str | None = None) -> Iterator[GLAccountInfo]:
        """Every account (of one status, or all), paging until nextCursor is null."""
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            payload: dict[str, Any] = {"cursor": cursor, "limit": PAGE_LIMIT}
            if status is not None:
                payload["status"] = status
            data = self._call("/v1/gl/accounts", payload)
            try:
                rows = p.member(data, "accounts")
                if not isinstance(rows, list):
                    raise p.Malformed("'accounts' must be a list")
                page = [
                    GLAccountInfo(
                        account=p.text(r, "account", allow_empty=False),
                        account_key=p.text(r, "accountKey"),
                        description=p.text(r, "description"),
                        main_account_code=p.text(r, "mainAccountCode"),
                        status=p.text(r, "status"),
                    )
                    for r in rows
                ]
                cursor = p.member(data, "nextCursor")
                if cursor is not None and (not isinstance(cursor, str) or cursor in seen):
                    raise p.Malformed(f"'nextCursor' {cursor!r} is not a new cursor")
            except p.Malformed as exc:
                raise self._malformed(str(exc), False) from None
            yield from page
            if cursor is None:
                return
            seen.add(cursor)
        raise self._malformed("the accounts never end (too many pages)", False)

    def periods(self, fiscal_year: int) -> list[FiscalPeriod]:
        """The fiscal year's periods ([] when the year is not set up)."""
        data = self._call("/v1/gl/periods", {"fiscalYear": fiscal_year})
        try:
            rows = p.member(data, "periods")
            if not isinstance(rows, list):
                raise p.Malformed("'periods' must be a list")
            return [
                FiscalPeriod(
                    period=p.whole(r, "period"),
                    start=p.day(p.member(r, "start"), "start"),
                    end=p.day(p.member(r, "end"), "end"),
                    status=p.text(r, "status"),
                )
                for r in rows
            ]
        except p.Malformed as exc:
            raise self._malformed(str(exc), False) from None

    def post_entry(self, entry: JournalEntryPayload, *, idempotency_key: str) -> PostResult:
        """Post one journal entry under the key (201 new, 200 replay of the first answer)."""
        check_idempotency_key(idempotency_key)
        data = self._call(POST_PATH, {"entry": entry.to_json()}, idempotency_key=idempotency_key)
        try:
            return _result(data)
        except p.Malformed as exc:
            raise self._malformed(str(exc), True) from None

    def lookup(
        self, *, idempotency_key: str | None = None, reference: str | None = None
    ) -> FoundEntry | None:
        """The entry posted under a key (or the newest with a reference), or None."""
        payload = lookup_criteria(idempotency_key, reference)
        data = self._call("/v1/gl/journal-entries/lookup", payload)
        try:
            if not p.flag(data, "found"):
                return None
            return _found(p.member(data, "entry"))
        except p.Malformed as exc:
            raise self._malformed(str(exc), False) from None

    def search(
        self,
        *,
        reference: str | None = None,
        reference_prefix: str | None = None,
        posting_date_from: date | None = None,
        posting_date_to: date | None = None,
    ) -> list[FoundEntry]:
        """Every entry with the reference (or prefix and posting dates), by entryNo ascending."""
        criteria = {
            name: value.isoformat() if isinstance(value, date) else value
            for name, value in search_criteria(
                reference, reference_prefix, posting_date_from, posting_date_to
            ).items()
        }
        found: dict[str, FoundEntry] = {}
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            data = self._call(
                "/v1/gl/journal-entries/search", {**criteria, "cursor": cursor, "limit": SEARCH_LIMIT}
            )
            try:
                rows = p.member(data, "entries")
                if not isinstance(rows, list):
                    raise p.Malformed("'entries' must be a list")
                for row in rows:
                    entry = _found(row)
                    found[entry.entry_no] = entry
                cursor = p.member(data, "nextCursor")
                if cursor is not None and (not isinstance(cursor, str) or cursor in seen):
                    raise p.Malformed(f"'nextCursor' {cursor!r} is not a new cursor")
            except p.Malformed as exc:
                raise self._malformed(str(exc), False) from None
            if cursor is None:
                return [found[no] for no in sorted(found, key=entry_order)]
            seen.add(cursor)
        raise self._malformed("the search never ends (too many pages)", False)


def _found(raw: Any) -> FoundEntry:
    """An entry of a lookup or search answer, lines included."""
    if not isinstance(raw, dict):
        raise p.Malformed("'entry' must be an object")
    base = _result(dict(raw, replayed=raw.get("replayed", False)))
    lines = p.member(raw, "lines")
    if not isinstance(lines, list):
        raise p.Malformed("'lines' must be a list")
    comment = raw.get("comment")
    return FoundEntry(
        entry_no=base.entry_no,
        batch_no=base.batch_no,
        posting_date=base.posting_date,
        reference=base.reference,
        replayed=base.replayed,
        source_journal=p.text(raw, "sourceJournal"),
        comment=comment if isinstance(comment, str) else "",
        idempotency_key=p.text(raw, "idempotencyKey"),
        lines=tuple(
            JournalLinePayload(
                account=p.text(line, "account"),
                debit_cents=p.cents(p.member(line, "debit"), "debit"),
                credit_cents=p.cents(p.member(line, "credit"), "credit"),
                comment=(line.get("comment") or "") if isinstance(line.get("comment"), str) else "",
            )
            for line in lines
        ),
    )


def _result(data: Any) -> PostResult:
    return PostResult(
        entry_no=p.text(data, "entryNo", allow_empty=False),
        batch_no=p.text(data, "batchNo"),
        posting_date=p.day(p.member(data, "postingDate"), "postingDate"),
        reference=p.text(data, "reference"),
        replayed=p.flag(data, "replayed"),
    )
