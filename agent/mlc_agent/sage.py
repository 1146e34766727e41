"""What the agent does with BOI: log on, read the chart, periods and journal, write an entry.

Every call here runs on the thread that owns the session (mlc_agent.pool). The same code drives
real COM objects and the fake ones; only `boi.Provider.create_script` differs.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from datetime import date
from decimal import Decimal
from typing import Any

from mlc_agent.boi import Provider
from mlc_agent.errors import AgentError
from mlc_agent.names import NAMES, code_for_message

MARKER = re.compile(r"\[mlc:([a-z2-7]{16})\]")
COMMENT_LIMIT = 2048
CENT = Decimal("0.01")


def marker_for(company: str, key: str) -> str:
    """The short tag derived from (company, key) that the entry's journal comment carries."""
    digest = hashlib.sha256(f"{company}\x00{key}".encode()).digest()
    return "[mlc:" + base64.b32encode(digest).decode().lower()[:16] + "]"


def compose_comment(reference: str, marker: str, comment: str) -> str:
    """Reference and marker on the first line (never cut), the entry's comment after it."""
    first = f"{reference} {marker}"
    return (first + ("\n" + comment if comment else ""))[:COMMENT_LIMIT]


def parse_comment(text: str) -> tuple[str, str, str]:
    """(reference, marker or "", comment) from a journal comment this agent or a person wrote."""
    first, _, rest = text.partition("\n")
    found = MARKER.search(first)
    marker = found.group(0) if found else ""
    reference = MARKER.sub("", first).strip()
    return reference, marker, rest


def _ret(value: Any) -> int:
    """BOI's return code; pywin32 gives (code, out values...) for by-reference arguments."""
    return int(value[0] if isinstance(value, tuple) else value)


def _out(value: Any) -> Any:
    return value[1] if isinstance(value, tuple) and len(value) > 1 else None


def _get(obj: Any, field: str) -> Any:
    return _out(obj.nGetValue(field))


def _yyyymmdd(day: str) -> str:
    return day.replace("-", "")


def _iso(yyyymmdd: str) -> str:
    text = str(yyyymmdd).replace("-", "")
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}"


def _amount(value: Any) -> str:
    return str(Decimal(str(value or "0")).quantize(CENT))


def _scrub(message: str, secret: str) -> str:
    return message.replace(secret, "********") if secret else message


class BoiSession:
    """One logged-on SY_Session for (user, company); used only by the thread that opened it."""

    def __init__(self, provider: Provider, home: str, user: str, password: str, company: str) -> None:
        self.created = time.monotonic()
        self.company = company
        self.user = user
        self._program = ""
        self._script = provider.create_script()
        self._script.Init(home)
        self.oss = self._script.NewObject(NAMES.session_class)
        if _ret(self.oss.nSetUser(user, password)) != 1:
            why = _scrub(str(self.oss.sLastErrorMsg), password)
            self.close()
            raise AgentError("AUTH_SAGE", f"Sage 100 refused the logon of user {user}: {why}")
        if _ret(self.oss.nSetCompany(company)) != 1:
            why = _scrub(str(self.oss.sLastErrorMsg), password)
            self.close()
            code = "NO_ACCESS" if code_for_message(why) == "NO_ACCESS" else "COMPANY_NOT_FOUND"
            raise AgentError(code, f"Company {company} for user {user}: {why}")
        self.set_date(date.today().isoformat())
        self.oss.nSetModule(NAMES.module_gl)

    def close(self) -> None:
        """Drop the session (errors ignored: it may be dead already)."""
        try:
            self.oss.nCleanup()
            self.oss.DropObject()
        except Exception:  # noqa: S110 - a dead COM object cannot be dropped twice
            pass

    def refresh_date(self) -> None:
        """Before each reuse: the session's date is today (a session may outlive midnight).

        It is also the cheapest call that proves the session is alive: a dead one raises the
        provider's fatal error here, before the job has done anything.
        """
        self.set_date(date.today().isoformat())

    def set_date(self, day: str) -> None:
        """The G/L accounting date of the session (the posting date before a write)."""
        if _ret(self.oss.nSetDate(NAMES.module_gl, _yyyymmdd(day))) != 1:
            raise AgentError("VALIDATION", f"Sage 100 refused the date {day}: {self.oss.sLastErrorMsg}")

    def use(self, task: str) -> None:
        """nSetProgram(nLookupTask(task)): the rights check for reads or posts."""
        if self._program == task:
            return
        task_id = self.oss.nLookupTask(task)
        if not task_id or _ret(self.oss.nSetProgram(task_id)) != 1:
            why = str(self.oss.sLastErrorMsg)
            self._program = ""
            raise AgentError(
                "NO_ACCESS", f"Sage user {self.user} has no access to {task} in company {self.company}: {why}"
            )
        self._program = task

    def _new(self, name: str) -> Any:
        return self._script.NewObject(name, self.oss)

    # -- reads ---------------------------------------------------------------------------------
    def _rows(self, name: str, fields: list[str]) -> list[dict[str, Any]]:
        self.use(NAMES.read_task)
        table = self._new(name)
        rows: list[dict[str, Any]] = []
        try:
            table.nMoveFirst()
            while not table.nEOF:
                rows.append({f: _get(table, f) for f in fields})
                table.nMoveNext()
        finally:
            table.DropObject()
        return rows

    def structure(self) -> dict[str, Any]:
        """The account structure as the contract has it."""
        n = NAMES
        rows = self._rows(n.structure_svc, [n.s_name, n.s_length, n.s_type, n.s_separator])
        segments = [
            {
                "name": str(r[n.s_name]),
                "length": int(r[n.s_length]),
                "type": "numeric" if str(r[n.s_type]).upper().startswith("N") else "alphanumeric",
            }
            for r in rows
        ]
        separator = str(rows[0][n.s_separator]) if len(rows) > 1 else ""
        mask = separator.join(("#" if s["type"] == "numeric" else "A") * int(s["length"]) for s in segments)
        return {"mask": mask, "separator": separator, "segments": segments}

    def accounts(self) -> list[dict[str, str]]:
        """Every account, ordered by formatted account."""
        n = NAMES
        rows = self._rows(n.account_svc, [n.a_key, n.a_account, n.a_desc, n.a_main, n.a_status])
        accounts = [
            {
                "account": str(r[n.a_account]),
                "accountKey": str(r[n.a_key]),
                "description": str(r[n.a_desc]),
                "mainAccountCode": str(r[n.a_main]),
                "status": str(r[n.a_status]).upper(),
            }
            for r in rows
        ]
        return sorted(accounts, key=lambda a: a["account"])

    def periods(self) -> list[dict[str, Any]]:
        """Every set-up period of every fiscal year: year, period, start, end, open/closed."""
        n = NAMES
        rows = self._rows(n.fiscal_svc, [n.f_year, n.f_period, n.f_start, n.f_end, n.f_status])
        return [
            {
                "fiscalYear": int(r[n.f_year]),
                "period": int(r[n.f_period]),
                "start": _iso(r[n.f_start]),
                "end": _iso(r[n.f_end]),
                "status": "open" if str(r[n.f_status]).upper() == "O" else "closed",
            }
            for r in rows
        ]

    def journal(self, *, with_lines: bool = True) -> list[dict[str, Any]]:
        """Every entry still in the general journal (not yet updated to history)."""
        n = NAMES
        self.use(NAMES.read_task)
        bus = self._new(n.journal_bus)
        entries: list[dict[str, Any]] = []
        try:
            bus.nMoveFirst()
            while not bus.nEOF:
                comment = str(_get(bus, n.h_comment) or "")
                reference, marker, rest = parse_comment(comment)
                entries.append(
                    {
                        "entryNo": str(_get(bus, n.h_entry_no)),
                        "batchNo": str(_get(bus, n.h_batch_no) or ""),
                        "postingDate": _iso(_get(bus, n.h_posting_date)),
                        "reference": reference,
                        "sourceJournal": str(_get(bus, n.h_source_journal)),
                        "comment": rest,
                        "marker": marker,
                    }
                )
                bus.nMoveNext()
            if with_lines:
                for entry in entries:
                    entry["lines"] = self._lines(bus, entry["sourceJournal"], entry["entryNo"])
        finally:
            bus.DropObject()
        return entries

    def _lines(self, bus: Any, source_journal: str, entry_no: str) -> list[dict[str, str]]:
        n = NAMES
        bus.nSetKeyValue(n.h_source_journal, source_journal)
        bus.nSetKeyValue(n.h_entry_no, entry_no)
        if _ret(bus.nSetKey()) != 1:
            return []
        lines = bus.oLines
        found = []
        lines.nMoveFirst()
        while not lines.nEOF:
            found.append(
                {
                    "account": str(_get(lines, n.l_account)),
                    "debit": _amount(_get(lines, n.l_debit)),
                    "credit": _amount(_get(lines, n.l_credit)),
                    "comment": str(_get(lines, n.l_comment) or ""),
                }
            )
            lines.nMoveNext()
        bus.nClear()
        return found

    def find_marker(self, marker: str) -> dict[str, Any] | None:
        """The journal entry whose comment carries the marker, or None."""
        for entry in self.journal(with_lines=False):
            if entry["marker"] == marker:
                return entry
        return None

    # -- the write -----------------------------------------------------------------------------
    def write(self, entry: dict[str, Any], marker: str, *, batch_entry: bool) -> tuple[str, str]:
        """Write one balanced entry; returns (entryNo, batchNo). Raises AgentError or WriteUnknown."""
        n = NAMES
        self.use(n.post_task)
        self.set_date(entry["postingDate"])
        bus = self._new(n.journal_bus)
        try:
            batch = ""
            if batch_entry:
                result = bus.nSelectNewBatch("", n.new_batch_private, entry["reference"])
                self._check(bus, result, "nSelectNewBatch")
                batch = str(_out(result) or _get(bus, n.h_batch_no) or "")
            result = bus.nGetNextEntryNo(entry["sourceJournal"])
            self._check(bus, result, "nGetNextEntryNo")
            entry_no = str(_out(result))
            bus.nSetKeyValue(n.h_source_journal, entry["sourceJournal"])
            bus.nSetKeyValue(n.h_entry_no, entry_no)
            if _ret(bus.nSetKey()) != 2:
                raise AgentError(
                    "RECORD_LOCKED",
                    f"Entry {entry_no} already exists; another user is posting.",
                    retry_after=1,
                )
            self._check(bus, bus.nSetValue(n.h_posting_date, _yyyymmdd(entry["postingDate"])), "PostingDate")
            self._check(
                bus,
                bus.nSetValue(n.h_comment, compose_comment(entry["reference"], marker, entry["comment"])),
                "JournalComment",
            )
            lines = bus.oLines
            for line in entry["lines"]:
                self._check(lines, lines.nAddLine(), "nAddLine")
                self._check(lines, lines.nSetValue(n.l_account, line["account"]), "Account")
                self._check(lines, lines.nSetValue(n.l_debit, line["debit"]), "DebitAmount")
                self._check(lines, lines.nSetValue(n.l_credit, line["credit"]), "CreditAmount")
                if line["comment"]:
                    self._check(lines, lines.nSetValue(n.l_comment, line["comment"]), "PostingComment")
                self._check(lines, lines.nWrite(), "line nWrite")
            code = _ret(bus.nWrite())
            if code == 1 or code == -1:
                # -1 is a warning: the entry is written.
                return entry_no, batch
            message = str(bus.sLastErrorMsg)
            known = code_for_message(message)
            if known is None:
                raise WriteUnknown(message)
            raise AgentError(
                known,
                f"Sage 100 refused the entry: {message}",
                retry_after=1 if known == "RECORD_LOCKED" else None,
            )
        finally:
            bus.DropObject()

    @staticmethod
    def _check(obj: Any, result: Any, what: str) -> None:
        if _ret(result) in (1, 2, -1):
            return
        message = str(obj.sLastErrorMsg)
        code = code_for_message(message) or "VALIDATION"
        raise AgentError(
            code, f"Sage 100 refused {what}: {message}", retry_after=1 if code == "RECORD_LOCKED" else None
        )


class WriteUnknown(Exception):
    """nWrite failed for a reason we do not recognise: whether it wrote must be checked."""
