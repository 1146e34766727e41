"""A stand-in for BOI (ProvideX.Script, SY_Session, GL business objects) for tests and demos.

It behaves as docs/agent.md describes real BOI: methods answer 1 (ok), 0 (failure) or -1
(warning) with the reason in `sLastErrorMsg`; by-reference results come back as a tuple
(return value, out value), the way pywin32 hands them over; a dead session raises
`FakeComError`. Its "Sage files" live in one JSON file that every write rewrites atomically, so
a killed agent process leaves exactly what Sage would hold. Faults (locks held by another user,
hangs, a failure after committing, a dying session) exist only here, for the test mode.
"""

from __future__ import annotations

import contextvars
import copy
import json
import os
import random
import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from mlc_agent.names import NAMES


class FakeComError(Exception):
    """What pywintypes.com_error is on Windows: the COM server or the session is gone."""


# The fault armed for one HTTP request by the test-mode control surface (mlc_agent.simcontrol):
# {"fault": NAME, "op": OPERATION, "latency": s, "hang": s, "entered": bool}. The session pool
# runs each job in its caller's context, so only that request's BOI calls see it.
ARMED: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("mlc_fake_fault", default=None)
LOCK_MESSAGE = "The batch is in use by another user (user KAREN on workstation FIN-07)."


class FakeSage:
    """The Sage 100 data of every company, shared by all fake sessions of one process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.wake = threading.Condition(self.lock)
        self.generation = 0  # bumped by reset(): sessions of an older generation are dead
        data = json.loads(path.read_text(encoding="utf-8"))
        self.initial = copy.deepcopy(data)  # what reset() goes back to (test mode)
        self.page_size: int | None = int(data["pageSize"]) if data.get("pageSize") else None
        self._load(data)

    def _load(self, data: dict[str, Any]) -> None:
        self.users: dict[str, Any] = data.get("users", {})
        self.sage_version: str = data.get("sageVersion", "Sage 100 (fake BOI)")
        self.companies: dict[str, Any] = {c["code"]: c for c in data.get("companies", [])}
        self.journal: dict[str, Any] = data.get("journal", {})
        for code in self.companies:
            self.journal.setdefault(code, {"entries": [], "nextEntry": {}, "nextBatch": 1})
        self.faults: list[dict[str, Any]] = []
        self.stats: dict[str, int] = {"sessions": 0, "writes": 0, "inWrite": 0, "maxInWrite": 0, "locked": 0}
        self.locked_accounts: set[tuple[str, str]] = set()
        # Test-mode switches: a share of writes meets a lock ("lock storm"), every write is slow.
        self.storm_fraction = 0.0
        self.storm_rng = random.Random(0)
        self.write_latency = 0.0

    def interrupt(self) -> None:
        """Every session opened so far is dead and every fake hang ends now (test mode)."""
        with self.lock:
            self.generation += 1
            self.wake.notify_all()

    def reset(self) -> None:
        """Back to the data the process started with: journal, numbering, switches (test mode)."""
        with self.lock:
            self.interrupt()
            self._load(copy.deepcopy(self.initial))
            self.save()

    def sleep(self, seconds: float) -> bool:
        """A fake hang of BOI: True when cut short by interrupt()."""
        end = time.monotonic() + max(0.0, seconds)
        with self.lock:
            start = self.generation
            while self.generation == start:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.wake.wait(left)
        return True

    # -- persistence -----------------------------------------------------------------------
    def save(self) -> None:
        """Rewrite the data file atomically (what a committed Sage write leaves on disk)."""
        with self.lock:
            data = {
                "users": self.users,
                "sageVersion": self.sage_version,
                "companies": list(self.companies.values()),
                "journal": self.journal,
            }
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)

    # -- test-mode faults --------------------------------------------------------------------
    def set_faults(self, faults: list[dict[str, Any]]) -> None:
        """Replace the fault list: [{"fault": NAME, "times": 1, "company": "ABC", "seconds": 5}]."""
        with self.lock:
            self.faults = [dict(f) for f in faults]

    def take_fault(self, where: str, company: str) -> dict[str, Any] | None:
        """The first fault for this place and company, used up once (times null: for ever)."""
        with self.lock:
            for fault in self.faults:
                if fault.get("company") not in (None, company):
                    continue
                if FAULT_PLACE.get(fault["fault"]) != where:
                    continue
                times = fault.get("times", 1)
                if times is not None:
                    if times <= 0:
                        continue
                    fault["times"] = times - 1
                return fault
        return None

    def snapshot(self) -> dict[str, Any]:
        """Counters and the number of journal entries per company (for tests)."""
        with self.lock:
            return {
                **self.stats,
                "entries": {c: len(j["entries"]) for c, j in self.journal.items()},
            }


FAULT_PLACE = {
    "unavailable": "init",
    "session_dies": "call",
    "record_locked": "write",
    "hang_before_commit": "write",
    "hang_after_commit": "write",
    "fail_after_commit": "write",
}


class FakeScript:
    """ProvideX.Script: Init(home) then NewObject(name[, session])."""

    def __init__(self, sage: FakeSage) -> None:
        self._sage = sage
        self._ready = False

    def Init(self, home: str) -> None:
        armed = _armed_call(self._sage, None)
        if self._sage.take_fault("init", "*") is not None or (armed and armed["fault"] == "unavailable"):
            raise FakeComError("Cannot create ProvideX.Script: the Sage 100 server is not reachable.")
        self._ready = True

    def NewObject(self, name: str, session: FakeSession | None = None) -> Any:
        if not self._ready:
            raise FakeComError("ProvideX.Script.Init was not called.")
        if name == NAMES.session_class:
            with self._sage.lock:
                self._sage.stats["sessions"] += 1
            return FakeSession(self._sage)
        if session is None or not session.ready_for(name):
            raise FakeComError(f"NewObject({name}): no session, or the program is not set.")
        if name == NAMES.journal_bus:
            return FakeJournal(self._sage, session)
        if name in (NAMES.account_svc, NAMES.structure_svc, NAMES.fiscal_svc):
            return FakeTable(_rows(self._sage, session.company, name))
        raise FakeComError(f"NewObject({name}): no such object.")


TASKS = {NAMES.read_task: 101, NAMES.post_task: 202}


class FakeSession:
    """SY_Session: user, company, date, module and program, each method answering 1 or 0."""

    def __init__(self, sage: FakeSage) -> None:
        self._sage = sage
        self.generation = sage.generation
        self.sLastErrorMsg = ""
        self.user = ""
        self.company = ""
        self.program = 0
        self.module = ""
        self.dead = False

    def _call(self) -> None:
        if self.dead or self.generation != self._sage.generation:
            self.dead = True
            raise FakeComError("The remote procedure call failed.")
        if self._sage.take_fault("call", self.company or "*") is not None:
            self.dead = True
            raise FakeComError("The remote procedure call failed.")
        _armed_call(self._sage, self)

    def _fail(self, message: str) -> int:
        self.sLastErrorMsg = message
        return 0

    def nSetUser(self, user: str, password: str) -> int:
        self._call()
        record = self._sage.users.get(user)
        armed = ARMED.get()
        if record is None or record.get("password") != password or (armed and armed["fault"] == "auth"):
            return self._fail("Invalid user logon or password.")
        self.user = user
        return 1

    def nSetCompany(self, code: str) -> int:
        self._call()
        if code not in self._sage.companies:
            return self._fail(f"Company {code} does not exist.")
        rights = self._sage.users.get(self.user, {}).get("companies", {})
        if code not in rights:
            return self._fail(f"No access to company {code}.")
        self.company = code
        return 1

    def nSetDate(self, module: str, yyyymmdd: str) -> int:
        self._call()
        return 1 if len(yyyymmdd) == 8 and yyyymmdd.isdigit() else self._fail("Invalid date.")

    def nSetModule(self, module: str) -> int:
        self._call()
        self.module = module
        return 1

    def nLookupTask(self, task: str) -> int:
        self._call()
        return TASKS.get(task, 0)

    def nSetProgram(self, task_id: int) -> int:
        self._call()
        right = self._sage.users.get(self.user, {}).get("companies", {}).get(self.company)
        if task_id == TASKS[NAMES.post_task] and right != "post":
            return self._fail("No access to this task for the current user.")
        if task_id not in TASKS.values() or right not in ("read", "post"):
            return self._fail("No access to this task for the current user.")
        self.program = task_id
        return 1

    def ready_for(self, name: str) -> bool:
        if self.dead or not self.company or not self.program:
            return False
        return name != NAMES.journal_bus or self.program in TASKS.values()

    def nCleanup(self) -> int:
        return 1

    def DropObject(self) -> None:
        self.dead = True


def _rows(sage: FakeSage, code: str, name: str) -> list[dict[str, Any]]:
    n = NAMES
    company = sage.companies[code]
    if name == n.account_svc:
        return [
            {
                n.a_key: a["accountKey"],
                n.a_account: a["account"],
                n.a_desc: a["description"],
                n.a_main: a["mainAccountCode"],
                n.a_status: a["status"],
            }
            for a in sorted(company["accounts"], key=lambda a: a["account"])
        ]
    if name == n.structure_svc:
        sep = company.get("separator", "-")
        return [
            {
                n.s_name: s["name"],
                n.s_length: int(s["length"]),
                n.s_type: "N" if s["type"] == "numeric" else "A",
                n.s_separator: sep,
            }
            for s in company["segments"]
        ]
    rows = []
    for year, periods in sorted(company.get("periods", {}).items()):
        for p in periods:
            rows.append(
                {
                    n.f_year: str(year),
                    n.f_period: f"{int(p['period']):02d}",
                    n.f_start: p["start"].replace("-", ""),
                    n.f_end: p["end"].replace("-", ""),
                    n.f_status: "O" if p["status"] == "open" else "C",
                }
            )
    return rows


class FakeTable:
    """A read-only service object: nMoveFirst / nMoveNext / nEOF / nGetValue."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self._rows = rows
        self._at = 0
        self.sLastErrorMsg = ""

    @property
    def nEOF(self) -> int:
        return 1 if self._at >= len(self._rows) else 0

    def nMoveFirst(self) -> int:
        self._at = 0
        return 1 if self._rows else 0

    def nMoveNext(self) -> int:
        self._at += 1
        return 0 if self.nEOF else 1

    def nGetValue(self, field: str) -> tuple[int, Any]:
        if self.nEOF or field not in self._rows[self._at]:
            self.sLastErrorMsg = f"Column {field} not found."
            return 0, ""
        return 1, self._rows[self._at][field]

    def DropObject(self) -> None:
        self._rows = []


class FakeLines:
    """The header's oLines: nAddLine, nSetValue, nWrite for new lines; a browse for stored ones."""

    def __init__(self, journal: FakeJournal) -> None:
        self._journal = journal
        self.rows: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None
        self._at = 0
        self.sLastErrorMsg = ""

    def nAddLine(self) -> int:
        self._current = {NAMES.l_debit: "0.00", NAMES.l_credit: "0.00", NAMES.l_comment: ""}
        return 1

    def nSetValue(self, field: str, value: Any) -> int:
        if self._current is None:
            self.sLastErrorMsg = "No line added."
            return 0
        if field == NAMES.l_account:
            account = self._journal.account(str(value))
            if account is None:
                self.sLastErrorMsg = f"Account {value} is not on file."
                return 0
            if account["status"] != "A":
                word = "deleted" if account["status"] == "D" else "inactive"
                self.sLastErrorMsg = f"Account {value} is {word}."
                return 0
        self._current[field] = value
        return 1

    def nWrite(self) -> int:
        if self._current is None or NAMES.l_account not in self._current:
            self.sLastErrorMsg = "The line has no account."
            return 0
        self.rows.append(self._current)
        self._current = None
        return 1

    # browse of a stored entry's lines
    @property
    def nEOF(self) -> int:
        return 1 if self._at >= len(self.rows) else 0

    def nMoveFirst(self) -> int:
        self._at = 0
        return 0 if self.nEOF else 1

    def nMoveNext(self) -> int:
        self._at += 1
        return 0 if self.nEOF else 1

    def nGetValue(self, field: str) -> tuple[int, Any]:
        if self.nEOF:
            return 0, ""
        return 1, self.rows[self._at].get(field, "")


class FakeJournal:
    """GL_GeneralJournal_bus: batch, header key, header values, oLines, nWrite; also a browse."""

    def __init__(self, sage: FakeSage, session: FakeSession) -> None:
        self._sage = sage
        self._session = session
        self.code = session.company
        self.sLastErrorMsg = ""
        self.oLines = FakeLines(self)
        self._header: dict[str, Any] = {}
        self._key: dict[str, str] = {}
        self._browse: list[dict[str, Any]] = []
        self._at = 0

    def _fail(self, message: str) -> int:
        self.sLastErrorMsg = message
        return 0

    def account(self, account: str) -> dict[str, Any] | None:
        for a in self._sage.companies[self.code]["accounts"]:
            if a["account"] == account:
                return dict(a)
        return None

    def nSelectNewBatch(self, batch_no: str, private: str, comment: str) -> tuple[int, str]:
        self._session._call()
        with self._sage.lock:
            book = self._sage.journal[self.code]
            batch = f"{book['nextBatch']:05d}"
            book["nextBatch"] += 1
        self._header[NAMES.h_batch_no] = batch
        return 1, batch

    def nGetNextEntryNo(self, source_journal: str) -> tuple[int, str]:
        self._session._call()
        with self._sage.lock:
            book = self._sage.journal[self.code]
            number = int(book["nextEntry"].get(source_journal, 1))
            book["nextEntry"][source_journal] = number + 1
        return 1, f"{number:06d}"

    def nSetKeyValue(self, field: str, value: str) -> int:
        self._key[field] = value
        return 1

    def nSetKey(self) -> int:
        """2 = a new record, 1 = an existing one (its lines can then be browsed)."""
        self._session._call()
        sj, no = self._key.get(NAMES.h_source_journal, ""), self._key.get(NAMES.h_entry_no, "")
        with self._sage.lock:
            for e in self._sage.journal[self.code]["entries"]:
                if e["header"][NAMES.h_source_journal] == sj and e["header"][NAMES.h_entry_no] == no:
                    self._header = dict(e["header"])
                    self.oLines.rows = copy.deepcopy(e["lines"])
                    return 1
        self._header.update({NAMES.h_source_journal: sj, NAMES.h_entry_no: no})
        return 2

    def nSetValue(self, field: str, value: Any) -> int:
        if field == NAMES.h_posting_date and not _open(self._sage, self.code, str(value)):
            return self._fail("The posting date falls in a closed period.")
        if field == NAMES.h_comment and len(str(value)) > 2048:
            return self._fail("Journal comment is too long.")
        self._header[field] = value
        return 1

    def nWrite(self) -> int:
        self._session._call()
        fault = self._sage.take_fault("write", self.code)
        kind = fault["fault"] if fault else ""
        armed = ARMED.get() or {}
        sage = self._sage
        if sage.write_latency and sage.sleep(sage.write_latency):
            raise FakeComError("The remote procedure call failed.")
        with sage.lock:
            storm = sage.storm_fraction > 0 and sage.storm_rng.random() < sage.storm_fraction
        if kind == "record_locked" or storm or armed.get("fault") == "record_locked":
            with sage.lock:
                sage.stats["locked"] += 1
            return self._fail(LOCK_MESSAGE)
        if kind == "hang_before_commit" and sage.sleep(float(fault.get("seconds", 3600))):  # type: ignore[union-attr]
            raise FakeComError("The remote procedure call failed.")
        lines = self.oLines.rows
        debit = sum(_cents(x[NAMES.l_debit]) for x in lines)
        credit = sum(_cents(x[NAMES.l_credit]) for x in lines)
        if len(lines) < 2 or debit != credit:
            return self._fail("The journal entry is out of balance.")
        with self._sage.lock:
            self._sage.stats["inWrite"] += 1
            self._sage.stats["maxInWrite"] = max(self._sage.stats["maxInWrite"], self._sage.stats["inWrite"])
        try:
            with self._sage.lock:
                entry = {"header": dict(self._header), "lines": copy.deepcopy(lines)}
                self._sage.journal[self.code]["entries"].append(entry)
                self._sage.stats["writes"] += 1
                self._sage.save()
        finally:
            with self._sage.lock:
                self._sage.stats["inWrite"] -= 1
        if kind == "hang_after_commit":
            sage.sleep(float(fault.get("seconds", 3600)))  # type: ignore[union-attr]
        if armed.get("fault") == "timeout_after":
            # Committed; BOI then does not answer for longer than the agent waits.
            sage.sleep(float(armed["hang"]))
        if kind == "fail_after_commit":
            return self._fail("Connection to the data server was lost.")
        self.oLines.rows = []
        return 1

    def nClear(self) -> int:
        self._header, self._key = {}, {}
        self.oLines.rows = []
        return 1

    # browse of the journal's headers
    @property
    def nEOF(self) -> int:
        return 1 if self._at >= len(self._browse) else 0

    def nMoveFirst(self) -> int:
        self._session._call()
        with self._sage.lock:
            self._browse = [dict(e["header"]) for e in self._sage.journal[self.code]["entries"]]
        self._at = 0
        return 0 if self.nEOF else 1

    def nMoveNext(self) -> int:
        self._at += 1
        return 0 if self.nEOF else 1

    def nGetValue(self, field: str) -> tuple[int, Any]:
        if self.nEOF:
            return 0, ""
        return 1, self._browse[self._at].get(field, "")

    def DropObject(self) -> None:
        self._browse = []


def _armed_call(sage: FakeSage, session: FakeSession | None) -> dict[str, Any] | None:
    """Where a request's armed fault acts on the first BOI call of that request.

    `slow`: BOI answers late. `timeout_before`: BOI hangs before anything is written (the agent
    gives up after boi_timeout; reads of `timeout_after` too). `unavailable`: the session dies and
    ProvideX.Script cannot start. `auth`: the session dies and the logon is refused.
    """
    armed = ARMED.get()
    if armed is None or armed["entered"]:
        return armed
    armed["entered"] = True
    kind = armed["fault"]
    if armed.get("latency"):
        sage.sleep(float(armed["latency"]))
    if kind == "timeout_before" or (kind == "timeout_after" and armed["op"] != "post"):
        if sage.sleep(float(armed["hang"])):
            raise FakeComError("The remote procedure call failed.")
    if kind in ("unavailable", "auth") and session is not None:
        session.dead = True
        raise FakeComError("The remote procedure call failed.")
    return armed


def _cents(value: Any) -> int:
    return int(Decimal(str(value)) * 100)


def _open(sage: FakeSage, code: str, yyyymmdd: str) -> bool:
    try:
        day = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    for periods in sage.companies[code].get("periods", {}).values():
        for p in periods:
            if date.fromisoformat(p["start"]) <= day <= date.fromisoformat(p["end"]):
                return bool(p["status"] == "open")
    return False


def fake_provider(data_file: str | os.PathLike[str]) -> FakeSage:
    """The shared fake Sage for one agent process."""
    return FakeSage(Path(data_file))
