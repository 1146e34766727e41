"""The simulated Sage 100 behind both front ends: companies, charts, periods, users, entries.

Both the agent (JSON) and the SOAP front end turn a request into calls on `SageBook`, so the
two transports meet the same rules, the same idempotency store and the same faults.
"""

from __future__ import annotations

import copy
import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

AMOUNT = re.compile(r"^\d{1,12}\.\d{2}$")
COMPANY_CODE = re.compile(r"^[A-Z0-9]{3}$")
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
STATUS_BY_CODE = {
    "AUTH_AGENT": 401,
    "AUTH_SAGE": 401,
    "NO_ACCESS": 403,
    "COMPANY_NOT_FOUND": 404,
    "IDEMPOTENCY_MISMATCH": 409,
    "INVALID_ACCOUNT": 422,
    "ACCOUNT_INACTIVE": 422,
    "PERIOD_CLOSED": 422,
    "UNBALANCED": 422,
    "VALIDATION": 422,
    "RECORD_LOCKED": 423,
    "TOO_MANY_WRITES": 429,
    "SAGE_UNAVAILABLE": 503,
    "SAGE_TIMEOUT": 504,
}
RETRYABLE = {"RECORD_LOCKED", "TOO_MANY_WRITES", "SAGE_UNAVAILABLE", "SAGE_TIMEOUT"}
READ_OPS = {"ping", "structure", "accounts", "periods", "lookup", "search"}
# Faults that shape how the answer is written (after the operation ran; for posts, after commit).
SHAPED_FAULTS = {"trickle", "huge"}
AFTER_COMMIT_FAULTS = {"timeout_after", "drop_after", "answer_after"} | SHAPED_FAULTS


class SimError(Exception):
    """A contract error the front end renders (JSON error or SOAP fault)."""

    def __init__(self, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return STATUS_BY_CODE.get(self.code, 422)


class DropConnection(Exception):
    """Close the connection without answering (after the write committed)."""


class HtmlError(Exception):
    """Answer with an IIS-style HTML page and this HTTP status (no contract envelope)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class RawAnswer(Exception):
    """Fault "answer"/"answer_after": a proxy's answer of this status and body kind."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.status)
        self.fault = fault


@dataclass
class Fault:
    fault: str
    ops: str = "post"  # "post", "read", "all", or one operation ("lookup", "search", "ping", ...)
    times: int | None = 1  # None: for ever
    company: str | None = None
    retry_after: int | None = None
    latency: float = 0.0
    html: bool = False
    # "answer"/"answer_after": status, and body "html", "empty", "text", "json" (with `code`),
    # "cut" (promises more bytes than it sends, then closes).
    status: int = 502
    body: str = "html"
    code: str = ""
    # "trickle": `chunk` bytes every `every` seconds, for at most `seconds` (then the connection
    # closes, cut off); "huge": `size` bytes (Content-Length sent unless `length` is false).
    chunk: int = 1
    every: float = 1.0
    seconds: float = 60.0
    duration: float = 0.0  # "trickle": when set, pieces sized so the whole answer takes this long
    size: int = 400 * 1024 * 1024
    length: bool = True

    def matches(self, op: str, company: str) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.company and self.company != company:
            return False
        if self.ops == "all":
            return True
        if self.ops == "read":
            return op in READ_OPS
        return op == self.ops  # "post", or one named operation ("lookup", "search", ...)


@dataclass
class Company:
    code: str
    name: str
    separator: str
    segments: list[dict[str, Any]]
    accounts: list[dict[str, str]]
    periods: dict[int, list[dict[str, Any]]]
    max_concurrent_writes: int
    entries: list[dict[str, Any]] = field(default_factory=list)
    by_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending_keys: set[str] = field(default_factory=set)
    next_entry: int = 1
    in_flight: int = 0

    @property
    def mask(self) -> str:
        return self.separator.join(
            ("#" if s["type"] == "numeric" else "A") * int(s["length"]) for s in self.segments
        )


def normalize_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry as compared for idempotency: absent comments are ""."""
    return {
        "sourceJournal": entry["sourceJournal"],
        "postingDate": entry["postingDate"],
        "reference": entry["reference"],
        "comment": entry.get("comment") or "",
        "lines": [
            {
                "account": line["account"],
                "debit": line["debit"],
                "credit": line["credit"],
                "comment": line.get("comment") or "",
            }
            for line in entry["lines"]
        ],
    }


def _cents(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int(frac)


def validate_entry(entry: Any) -> dict[str, Any]:
    """Schema checks of a journal entry (the `VALIDATION` step); returns the normalized entry."""

    def bad(message: str) -> SimError:
        return SimError("VALIDATION", message)

    if not isinstance(entry, dict):
        raise bad("entry must be an object")
    for name in ("sourceJournal", "postingDate", "reference", "lines"):
        if name not in entry:
            raise bad(f"entry.{name} is required")
    sj = entry["sourceJournal"]
    if not isinstance(sj, str) or len(sj) != 2:
        raise bad("entry.sourceJournal must be 2 characters")
    pd = entry["postingDate"]
    if not isinstance(pd, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", pd):
        raise bad("entry.postingDate must be a date YYYY-MM-DD")
    try:
        date.fromisoformat(pd)
    except ValueError:
        raise bad("entry.postingDate is not a calendar date") from None
    ref = entry["reference"]
    if not isinstance(ref, str) or not 1 <= len(ref) <= 30 or CONTROL.search(ref):
        raise bad("entry.reference must be 1-30 characters without control characters")
    comment = entry.get("comment", "")
    if comment is not None and (not isinstance(comment, str) or len(comment) > 2048):
        raise bad("entry.comment must be text of at most 2048 characters")
    lines = entry["lines"]
    if not isinstance(lines, list) or len(lines) < 2:
        raise bad("entry.lines must hold at least 2 lines")
    for i, line in enumerate(lines):
        where = f"entry.lines[{i}]"
        if not isinstance(line, dict):
            raise bad(f"{where} must be an object")
        for name in ("account", "debit", "credit"):
            if name not in line:
                raise bad(f"{where}.{name} is required")
        if not isinstance(line["account"], str) or not line["account"]:
            raise bad(f"{where}.account must be text")
        for name in ("debit", "credit"):
            if not isinstance(line[name], str) or not AMOUNT.match(line[name]):
                raise bad(f"{where}.{name} must be a string like 125.40")
        if (_cents(line["debit"]) == 0) == (_cents(line["credit"]) == 0):
            raise bad(f"{where} must have exactly one non-zero side")
        lc = line.get("comment", "")
        if lc is not None and (not isinstance(lc, str) or len(lc) > 60):
            raise bad(f"{where}.comment must be text of at most 60 characters")
    return normalize_entry(entry)


class SageBook:
    """All simulated state, guarded by one lock; faults and statistics for the tests."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.cond = threading.Condition()
        self.load(config)

    def load(self, config: dict[str, Any]) -> None:
        """Replace the whole state with a configuration (see demo.demo())."""
        with self.cond:
            self.config = copy.deepcopy(config)
            self.agent_api_key: str = config.get("agentApiKey", "")
            self.agent_version: str = config.get("agentVersion", "sim")
            self.sage_version: str = config.get("sageVersion", "Sage 100 (simulated)")
            self.page_size: int = int(config.get("pageSize", 1000))
            self.users: dict[str, dict[str, Any]] = copy.deepcopy(config.get("users", {}))
            self.companies: dict[str, Company] = {}
            for c in config.get("companies", []):
                self.companies[c["code"]] = Company(
                    code=c["code"],
                    name=c.get("name", c["code"]),
                    separator=c.get("separator", "-"),
                    segments=copy.deepcopy(c["segments"]),
                    accounts=copy.deepcopy(c["accounts"]),
                    periods={int(y): copy.deepcopy(p) for y, p in c.get("periods", {}).items()},
                    max_concurrent_writes=int(c.get("maxConcurrentWrites", 2)),
                )
            self.faults: list[Fault] = []
            self.write_latency = float(config.get("writeLatency", 0.0))
            self.storm_fraction = 0.0
            self.storm_rng = random.Random(0)
            self.max_in_flight: dict[str, int] = {}
            self.over_limit = 0
            self.counts: dict[str, int] = {}
            self.huge_sent: list[int] = []

    def reset(self) -> None:
        """Back to the configuration last loaded (entries, faults and counters cleared)."""
        self.load(self.config)

    # -- faults and statistics -------------------------------------------------------------
    def set_faults(self, spec: dict[str, Any]) -> None:
        """Install faults: {"faults": [...], "lockStorm": {...}, "writeLatency": s}."""
        with self.cond:
            if "faults" in spec:
                self.faults = [
                    Fault(
                        fault=f["fault"],
                        ops=f.get("ops", "post"),
                        times=f.get("times", 1),
                        company=f.get("company"),
                        retry_after=f.get("retryAfter"),
                        latency=float(f.get("latency", 0.0)),
                        html=bool(f.get("html", False)),
                        status=int(f.get("status", 502)),
                        body=str(f.get("body", "html")),
                        code=str(f.get("code", "")),
                        chunk=max(1, int(f.get("chunk", 1))),
                        every=max(0.0, float(f.get("every", 1.0))),
                        seconds=min(600.0, float(f.get("seconds", 60.0))),
                        duration=min(600.0, float(f.get("duration", 0.0))),
                        size=max(0, int(f.get("size", 400 * 1024 * 1024))),
                        length=bool(f.get("length", True)),
                    )
                    for f in spec["faults"]
                ]
            storm = spec.get("lockStorm")
            if storm is not None:
                self.storm_fraction = float(storm.get("fraction", 0.0))
                self.storm_rng = random.Random(storm.get("seed", 0))
            if "writeLatency" in spec:
                self.write_latency = float(spec["writeLatency"])
            if "maxConcurrentWrites" in spec:
                for code, limit in spec["maxConcurrentWrites"].items():
                    self.companies[code].max_concurrent_writes = int(limit)

    def note_sent(self, size: int) -> None:
        """How many bytes a "huge" answer got out before the client hung up."""
        with self.cond:
            self.huge_sent.append(size)

    def count(self, name: str) -> None:
        with self.cond:
            self.counts[name] = self.counts.get(name, 0) + 1

    def take_fault(self, op: str, company: str) -> Fault | None:
        """The first matching fault, used up once."""
        with self.cond:
            for fault in self.faults:
                if fault.matches(op, company):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def stats(self) -> dict[str, Any]:
        with self.cond:
            refs: dict[str, dict[str, int]] = {}
            for code, company in self.companies.items():
                per: dict[str, int] = {}
                for e in company.entries:
                    per[e["reference"]] = per.get(e["reference"], 0) + 1
                refs[code] = per
            return {
                "maxInFlight": dict(self.max_in_flight),
                "inFlight": {c: co.in_flight for c, co in self.companies.items()},
                "overLimit": self.over_limit,
                "entries": {c: len(co.entries) for c, co in self.companies.items()},
                "referenceCounts": refs,
                "counts": dict(self.counts),
                "hugeSent": list(self.huge_sent),
            }

    def entries(self, code: str) -> list[dict[str, Any]]:
        with self.cond:
            return copy.deepcopy(self.companies[code].entries)

    # -- the order of checks ---------------------------------------------------------------
    def check_api_key(self, header: str | None) -> None:
        if not header or header != f"Bearer {self.agent_api_key}":
            raise SimError("AUTH_AGENT", "The agent API key is missing or wrong.")

    def logon(
        self, username: str, password: str, code: str, op: str
    ) -> tuple[Company, Fault | None]:
        """Sage logon → company → rights; then any injected fault for this operation."""
        fault = self.take_fault(op, code)
        if fault and fault.latency:
            time.sleep(fault.latency)
        if fault and fault.fault == "answer":
            raise RawAnswer(fault)
        if fault and fault.fault == "unavailable":
            if fault.html:
                raise HtmlError(503)
            raise SimError("SAGE_UNAVAILABLE", "Sage 100 is not reachable.", fault.retry_after)
        user = self.users.get(username)
        if user is None or user.get("password") != password or (fault and fault.fault == "auth"):
            raise SimError("AUTH_SAGE", "Logon failed: invalid username or password.")
        company = self.companies.get(code)
        if company is None:
            raise SimError("COMPANY_NOT_FOUND", f"Company {code} does not exist.")
        right = user.get("companies", {}).get(code)
        if right not in ("read", "post") or (op == "post" and right != "post"):
            raise SimError("NO_ACCESS", f"No Access to General Ledger for {username}.")
        return company, fault

    # -- reads -----------------------------------------------------------------------------
    def _read_fault(self, fault: Fault | None) -> None:
        if fault is None:
            return
        if fault.fault == "record_locked":
            raise SimError("RECORD_LOCKED", "Record is locked by another user.", fault.retry_after)
        if fault.fault in ("timeout_before", "timeout_after"):
            if fault.html:
                raise HtmlError(504)
            raise SimError("SAGE_TIMEOUT", "BOI did not answer in time.")

    def ping(self, company: Company, fault: Fault | None) -> dict[str, Any]:
        self._read_fault(fault)
        return {
            "agentVersion": self.agent_version,
            "sageVersion": self.sage_version,
            "maxConcurrentWrites": company.max_concurrent_writes,
        }

    def structure(self, company: Company, fault: Fault | None) -> dict[str, Any]:
        self._read_fault(fault)
        return {
            "mask": company.mask,
            "separator": company.separator if len(company.segments) > 1 else "",
            "segments": copy.deepcopy(company.segments),
        }

    def accounts(self, company: Company, status: str | None, fault: Fault | None) -> list[dict[str, str]]:
        self._read_fault(fault)
        return [
            dict(a) for a in company.accounts if not status or a["status"] == status
        ]

    def periods(self, company: Company, year: int, fault: Fault | None) -> list[dict[str, Any]]:
        self._read_fault(fault)
        return copy.deepcopy(company.periods.get(year, []))

    def lookup(
        self, company: Company, key: str | None, reference: str | None, fault: Fault | None
    ) -> dict[str, Any] | None:
        self._read_fault(fault)
        with self.cond:
            if key is not None:
                found = company.by_key.get(key)
            else:
                matches = [e for e in company.entries if e["reference"] == reference]
                # Several entries for one reference: the newest (highest entryNo).
                found = max(matches, key=lambda e: e["entryNo"]) if matches else None
            if found is None:
                return None
            return _public(found)

    def search(
        self,
        company: Company,
        reference: str | None,
        prefix: str | None,
        date_from: str | None,
        date_to: str | None,
        fault: Fault | None,
    ) -> list[dict[str, Any]]:
        """Every entry with the reference, or with the prefix in the date range, by entryNo."""
        self._read_fault(fault)
        with self.cond:
            if reference is not None:
                matches = [e for e in company.entries if e["reference"] == reference]
            else:
                assert prefix is not None and date_from is not None and date_to is not None
                start, end = date.fromisoformat(date_from), date.fromisoformat(date_to)
                matches = [
                    e
                    for e in company.entries
                    if e["reference"].startswith(prefix)
                    and start <= date.fromisoformat(e["postingDate"]) <= end
                ]
            return [_public(e) for e in sorted(matches, key=lambda e: e["entryNo"])]

    # -- the write -------------------------------------------------------------------------
    def end_write(self, company: Company) -> None:
        """The post's answer has been written (or its connection closed): no longer in flight."""
        with self.cond:
            company.in_flight -= 1

    def post(
        self, company: Company, key: str, entry: dict[str, Any], fault: Fault | None
    ) -> tuple[int, dict[str, Any], Fault | None]:
        """Post an entry; returns (HTTP status, answer, fault to apply after commit).

        The write counts as in flight from here until the front end calls end_write() once the
        answer is on the wire, whatever this raises or returns.
        """
        with self.cond:
            company.in_flight += 1
            seen = self.max_in_flight.get(company.code, 0)
            self.max_in_flight[company.code] = max(seen, company.in_flight)
            self.counts["post"] = self.counts.get("post", 0) + 1
        with self.cond:
            if company.in_flight > company.max_concurrent_writes:
                self.over_limit += 1
                raise SimError(
                    "TOO_MANY_WRITES",
                    f"More than {company.max_concurrent_writes} concurrent writes.",
                    1,
                )
            # One key at a time: a second post with the key waits for the first.
            while key in company.pending_keys:
                self.cond.wait(5)
            existing = company.by_key.get(key)
            if existing is not None:
                if existing["body"] != entry:
                    raise SimError(
                        "IDEMPOTENCY_MISMATCH",
                        "This idempotency key was used with another entry.",
                    )
                self.counts["replay"] = self.counts.get("replay", 0) + 1
                return 200, dict(existing["answer"], replayed=True), None
            company.pending_keys.add(key)
        try:
            return self._write(company, key, entry, fault)
        finally:
            with self.cond:
                company.pending_keys.discard(key)
                self.cond.notify_all()

    def _write(
        self, company: Company, key: str, entry: dict[str, Any], fault: Fault | None
    ) -> tuple[int, dict[str, Any], Fault | None]:
        if self.write_latency:
            time.sleep(self.write_latency)
        if fault and fault.fault == "record_locked":
            self.count("locked")
            raise SimError("RECORD_LOCKED", "Batch is in use by another user.", fault.retry_after)
        with self.cond:
            storm = self.storm_fraction and self.storm_rng.random() < self.storm_fraction
        if storm:
            self.count("locked")
            raise SimError("RECORD_LOCKED", "Record is locked by another user.")
        if fault and fault.fault == "timeout_before":
            if fault.html:
                raise HtmlError(504)
            raise SimError("SAGE_TIMEOUT", "BOI did not answer in time.")
        posting = date.fromisoformat(entry["postingDate"])
        if not self._period_open(company, posting):
            raise SimError("PERIOD_CLOSED", f"Posting date {posting} is in a closed period.")
        chart = {a["account"]: a for a in company.accounts}
        for line in entry["lines"]:
            account = chart.get(line["account"])
            if account is None:
                raise SimError("INVALID_ACCOUNT", f"Account {line['account']} is not on file.")
            if account["status"] != "A":
                raise SimError("ACCOUNT_INACTIVE", f"Account {line['account']} is inactive.")
        debits = sum(_cents(line["debit"]) for line in entry["lines"])
        credits = sum(_cents(line["credit"]) for line in entry["lines"])
        if debits != credits:
            raise SimError("UNBALANCED", "Debits and credits are not equal.")
        with self.cond:
            entry_no = f"{company.next_entry:06d}"
            company.next_entry += 1
            answer = {
                "entryNo": entry_no,
                "batchNo": f"{(company.next_entry - 2) // 10 + 1:05d}",
                "postingDate": entry["postingDate"],
                "reference": entry["reference"],
                "replayed": False,
            }
            stored = dict(answer)
            stored.update(
                sourceJournal=entry["sourceJournal"],
                comment=entry["comment"],
                idempotencyKey=key,
                lines=copy.deepcopy(entry["lines"]),
                body=entry,
                answer=answer,
            )
            company.entries.append(stored)
            company.by_key[key] = stored
        after = fault if fault and fault.fault in AFTER_COMMIT_FAULTS else None
        return 201, dict(answer), after

    @staticmethod
    def _period_open(company: Company, posting: date) -> bool:
        for periods in company.periods.values():
            for p in periods:
                if date.fromisoformat(p["start"]) <= posting <= date.fromisoformat(p["end"]):
                    return bool(p["status"] == "open")
        return False


def _public(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored entry as lookup and search show it (no internal body or first answer)."""
    result = {k: v for k, v in stored.items() if k not in ("body", "answer")}
    result["replayed"] = False
    return copy.deepcopy(result)
