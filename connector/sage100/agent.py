"""The agent transport: the customer's Windows agent wrapping BOI, over HTTPS and JSON."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx

from connector.sage100 import parsing as p
from connector.sage100.errors import (
    SageCompanyError,
    SageError,
    SageOutcomeUnknown,
    SageReportError,
    SageTransientError,
    describe,
    error_for_code,
)
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
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
PAGE_LIMIT = 1000
# A chart of accounts never needs more pages than this; more means a looping cursor.
MAX_PAGES = 10_000


def check_idempotency_key(key: str) -> None:
    """Keys are 1-255 visible ASCII characters; anything else is the caller's mistake."""
    if not isinstance(key, str) or not IDEMPOTENCY_KEY.match(key):
        raise SageReportError(
            "VALIDATION", "The idempotency key must be 1-255 visible ASCII characters."
        )


class AgentGateway:
    """`SageGateway` over the agent API; one httpx.Client for the gateway's life."""

    def __init__(self, settings: SageSettings) -> None:
        self.settings = settings
        timeout = httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.read_timeout,
            pool=settings.connect_timeout,
        )
        self._client = httpx.Client(
            base_url=settings.base_url.rstrip("/"),
            timeout=timeout,
            follow_redirects=False,
            headers={
                "Authorization": f"Bearer {settings.agent_api_key}",
                "Accept": "application/json",
            },
        )

    # -- plumbing --------------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def __enter__(self) -> AgentGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _where(self) -> str:
        return f"company {self.settings.company_code}, agent {self.settings.base_url}"

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
        try:
            response = self._client.post(path, json=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing reached the agent: safe to retry.
            raise SageTransientError(
                "SAGE_UNAVAILABLE",
                f"The Sage 100 agent could not be reached ({self._where()}): "
                f"{type(exc).__name__}.",
            ) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL):
            raise SageCompanyError(
                "CONFIG", f"The Sage 100 agent URL is not usable ({self._where()})."
            ) from None
        except httpx.TimeoutException as exc:
            raise self._lost("SAGE_TIMEOUT", f"no answer in time ({type(exc).__name__})", is_post) from None
        except httpx.TransportError as exc:
            raise self._lost("CONNECTION_LOST", f"connection lost ({type(exc).__name__})", is_post) from None
        logger.debug(
            "Sage 100 agent %s for company %s: HTTP %s in %.3f s",
            path,
            s.company_code,
            response.status_code,
            response.elapsed.total_seconds(),
        )
        return self._answer(response, is_post)

    def _lost(self, code: str, what: str, is_post: bool) -> SageError:
        if is_post:
            return SageOutcomeUnknown(
                code,
                f"The Sage 100 agent gave no answer to a journal entry post ({what}, "
                f"{self._where()}); the entry may have been written.",
            )
        return SageTransientError(
            "SAGE_UNAVAILABLE", f"The Sage 100 agent gave no answer ({what}, {self._where()})."
        )

    def _answer(self, response: httpx.Response, is_post: bool) -> Any:
        status = response.status_code
        data: Any = None
        if response.content:
            try:
                data = json.loads(response.content)
            except (ValueError, UnicodeDecodeError):
                data = None
        error = data.get("error") if isinstance(data, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        if isinstance(error, dict) and isinstance(code, str) and code and status >= 400:
            raw = error.get("message")
            raw = raw if isinstance(raw, str) else ""
            message = describe(
                code,
                self.settings.scrub(raw),
                username=self.settings.username,
                company_code=self.settings.company_code,
            )
            return_error = error_for_code(
                code,
                message,
                retry_after=p.retry_after(response.headers.get("Retry-After")),
                post=is_post,
            )
            raise return_error
        if 200 <= status < 300:
            if data is None:
                raise self._malformed("the answer is not JSON", is_post)
            return data
        raise self._status_only(status, is_post, response)

    def _status_only(self, status: int, is_post: bool, response: httpx.Response) -> SageError:
        """An HTTP error without a contract code: a proxy, a wrong URL, or an overloaded host."""
        where = self._where()
        retry = p.retry_after(response.headers.get("Retry-After"))
        if status in (502, 503):
            return SageTransientError(
                "SAGE_UNAVAILABLE", f"Sage 100 is not reachable (HTTP {status}, {where}).",
                retry_after=retry,
            )
        if status == 429:
            return SageTransientError(
                "TOO_MANY_WRITES", f"The Sage 100 agent is busy (HTTP 429, {where}).",
                retry_after=retry,
            )
        if status == 504 or (status >= 500 and is_post):
            return self._lost("SAGE_TIMEOUT", f"HTTP {status} without an error code", is_post)
        if status >= 500:
            return SageTransientError(
                "SAGE_UNAVAILABLE", f"The Sage 100 agent failed (HTTP {status}, {where})."
            )
        return SageCompanyError(
            "CONFIG",
            f"The Sage 100 agent URL looks wrong: {response.request.url.path} answered HTTP "
            f"{status} without an agent error code ({where}). Check the base URL.",
        )

    def _malformed(self, what: str, is_post: bool) -> SageError:
        if is_post:
            # The agent said 2xx: the entry was most likely written; settle it by lookup.
            return SageOutcomeUnknown(
                "SAGE_TIMEOUT",
                f"The Sage 100 agent's answer to a journal entry post could not be read "
                f"({what}, {self._where()}); the entry may have been written.",
            )
        return SageCompanyError(
            "CONFIG",
            f"The Sage 100 agent's answer could not be read ({what}, {self._where()}). "
            "Check the base URL and the agent version.",
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
        if (idempotency_key is None) == (reference is None):
            raise ValueError("lookup takes exactly one of idempotency_key and reference")
        payload = (
            {"idempotencyKey": idempotency_key} if idempotency_key is not None
            else {"reference": reference}
        )
        data = self._call("/v1/gl/journal-entries/lookup", payload)
        try:
            if not p.flag(data, "found"):
                return None
            raw = p.member(data, "entry")
            base = _result(dict(raw, replayed=raw.get("replayed", False)) if isinstance(raw, dict) else raw)
            lines = p.member(raw, "lines")
            if not isinstance(lines, list):
                raise p.Malformed("'lines' must be a list")
            return FoundEntry(
                entry_no=base.entry_no,
                batch_no=base.batch_no,
                posting_date=base.posting_date,
                reference=base.reference,
                replayed=base.replayed,
                source_journal=p.text(raw, "sourceJournal"),
                comment=raw.get("comment") or "",
                idempotency_key=p.text(raw, "idempotencyKey"),
                lines=tuple(
                    JournalLinePayload(
                        account=p.text(line, "account"),
                        debit_cents=p.cents(p.member(line, "debit"), "debit"),
                        credit_cents=p.cents(p.member(line, "credit"), "credit"),
                        comment=line.get("comment") or "",
                    )
                    for line in lines
                ),
            )
        except p.Malformed as exc:
            raise self._malformed(str(exc), False) from None


def _result(data: Any) -> PostResult:
    return PostResult(
        entry_no=p.text(data, "entryNo", allow_empty=False),
        batch_no=p.text(data, "batchNo"),
        posting_date=p.day(p.member(data, "postingDate"), "postingDate"),
        reference=p.text(data, "reference"),
        replayed=p.flag(data, "replayed"),
    )
