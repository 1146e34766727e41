"""Test mode only: the Sage 100 simulator's control surface (`/_sim/...`), acted out by the fake BOI.

The connector's agent-transport and engine tests drive faults through the simulator's
`/_sim/faults`, read `/_sim/stats` and `/_sim/entries/<CODE>`, and start each test from a fresh
book. This module gives the agent the same surface so those tests run unchanged against the real
agent process. Nothing here answers a request itself: a fault is *armed* for the request it
matches (operation, company, times) and the fake BOI acts it out inside that request's own BOI
calls, so the agent's real code paths (session pool, bounded waits, store, settling) meet it:

| simulator fault | what the fake BOI does | what the agent then does |
|---|---|---|
| `record_locked` (posts) | `nWrite` answers 0, "in use by another user" | 423 `RECORD_LOCKED`, key freed |
| `unavailable` | the session dies; `ProvideX.Script.Init` fails | 503 `SAGE_UNAVAILABLE`, session dropped |
| `auth` | the session dies; `nSetUser` refuses the logon | 401 `AUTH_SAGE` |
| `timeout_before` | the first BOI call hangs past `boi_timeout` | 504 `SAGE_TIMEOUT`, nothing written |
| `timeout_after` | posts: `nWrite` commits, then hangs; reads: hang | 504 `SAGE_TIMEOUT` (written) |
| `drop_after` (posts) | `nWrite` commits | the connection is closed without an answer |
| `slow` (`latency`) | the first BOI call answers `latency` s late | the call completes (a late commit) |
| `lockStorm` | a seeded share of `nWrite`s meet a lock | 423 each |
| `writeLatency` | every `nWrite` takes that long | |
| `maxConcurrentWrites` | (agent) the company's write limit | ping advertises it, 429 over it |

`drop_after` is the one network fault: the write goes through BOI and the store, then the agent
closes the connection instead of answering. The simulator's proxy-shaped answers (`answer`,
`answer_after`, `html`), slow or huge bodies (`trickle`, `huge`) and SOAP's `dtd` stay
simulator-only: they describe what sits between the connector and an agent, not the agent. They are
refused here (422) rather than ignored, so a test that needs them cannot pass by accident.
`retryAfter` is ignored: the agent's own `Retry-After` (1 s for a lock) is what it answers.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from mlc_agent.fakeboi import ARMED, FakeSage
from mlc_agent.names import NAMES
from mlc_agent.sage import _amount, _iso, marker_for, parse_comment

if TYPE_CHECKING:
    from mlc_agent.service import Agent

PREFIX = "/_sim/"
ENTRIES = "/_sim/entries/"
READ_OPS = frozenset({"ping", "structure", "accounts", "periods", "lookup", "search"})
SUPPORTED = frozenset(
    {"record_locked", "unavailable", "auth", "timeout_before", "timeout_after", "drop_after", "slow"}
)
POST_ONLY = frozenset({"record_locked", "drop_after"})
SIMULATOR_ONLY = ("answer", "answer_after", "trickle", "huge", "dtd", "html")
RESET_WAIT_SECONDS = 10.0


class ControlError(Exception):
    """A control request this agent cannot act out (answered 422 with the reason)."""


@dataclass
class SimFault:
    """One fault as the simulator's `/_sim/faults` takes it (the fields the agent honours)."""

    fault: str
    ops: str = "post"
    times: int | None = 1
    company: str | None = None
    latency: float = 0.0

    def matches(self, op: str, company: str) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.company and self.company != company:
            return False
        if self.ops == "all":
            return True
        if self.ops == "read":
            return op in READ_OPS
        return op == self.ops

    def public(self) -> dict[str, Any]:
        return {"fault": self.fault, "ops": self.ops, "times": self.times, "company": self.company}


def parse_fault(raw: Any) -> SimFault:
    """A fault of the simulator's spec, or ControlError naming what the agent does not act out."""
    if not isinstance(raw, dict) or not isinstance(raw.get("fault"), str):
        raise ControlError("Each fault is an object with a 'fault' name.")
    name = raw["fault"]
    if name in SIMULATOR_ONLY or raw.get("html"):
        raise ControlError(f"Fault {name!r} (or html) is simulator-only: the agent always answers itself.")
    if name not in SUPPORTED:
        raise ControlError(f"Unknown fault {name!r}.")
    ops = str(raw.get("ops", "post"))
    if name in POST_ONLY and ops != "post":
        raise ControlError(f"Fault {name!r} applies to posts only (BOI reads take no locks).")
    times = raw.get("times", 1)
    if times is not None and type(times) is not int:
        raise ControlError("times must be a whole number or null.")
    company = raw.get("company")
    return SimFault(
        fault=name,
        ops=ops,
        times=times,
        company=str(company) if company else None,
        latency=min(60.0, max(0.0, float(raw.get("latency", 0.0)))),
    )


class SimControl:
    """The `/_sim/` surface of one test-mode agent over its fake BOI."""

    def __init__(self, agent: Agent, sage: FakeSage) -> None:
        self.agent = agent
        self.sage = sage
        self._lock = threading.Lock()
        self.faults: list[SimFault] = []
        self.paths: dict[str, int] = {}
        agent.page_size = sage.page_size

    @staticmethod
    def handles(path: str) -> bool:
        return path.startswith(PREFIX)

    @staticmethod
    def method(path: str) -> str:
        return "GET" if path == "/_sim/stats" or path.startswith(ENTRIES) else "POST"

    # -- per request ----------------------------------------------------------------------------
    def count(self, path: str) -> None:
        """Every contract call, by path, as the simulator counts them."""
        with self._lock:
            self.paths[path] = self.paths.get(path, 0) + 1

    @contextlib.contextmanager
    def armed(self, op: str, company: str) -> Iterator[dict[str, Any] | None]:
        """Take the first matching fault (used up once) and arm it for this request's BOI calls."""
        armed: dict[str, Any] | None = None
        with self._lock:
            for fault in self.faults:
                if fault.matches(op, company):
                    if fault.times is not None:
                        fault.times -= 1
                    armed = {
                        "fault": fault.fault,
                        "op": op,
                        "latency": fault.latency,
                        # Longer than the agent waits for BOI, so the agent answers SAGE_TIMEOUT.
                        "hang": self.agent.config.boi_timeout + 0.5,
                        "entered": False,
                    }
                    break
        token = ARMED.set(armed)
        try:
            yield armed
        finally:
            ARMED.reset(token)

    # -- the control calls ----------------------------------------------------------------------
    def set_faults(self, spec: Any) -> None:
        """`{"faults": [...], "lockStorm": {...}, "writeLatency": s, "maxConcurrentWrites": {...}}`."""
        if not isinstance(spec, dict):
            raise ControlError("The body must be a JSON object.")
        faults = [parse_fault(f) for f in spec.get("faults", [])] if "faults" in spec else None
        limits = spec.get("maxConcurrentWrites", {})
        for code, limit in limits.items():
            if code not in self.agent.config.companies or type(limit) is not int or limit < 0:
                raise ControlError(f"maxConcurrentWrites: {code!r} is no configured company, or bad limit.")
        with self._lock:
            if faults is not None:
                self.faults = faults
        self.agent.limit_override.update(limits)
        with self.sage.lock:
            storm = spec.get("lockStorm")
            if storm is not None:
                self.sage.storm_fraction = float(storm.get("fraction", 0.0))
                self.sage.storm_rng.seed(storm.get("seed", 0))
            if "writeLatency" in spec:
                self.sage.write_latency = min(60.0, max(0.0, float(spec["writeLatency"])))

    def reset(self) -> None:
        """A fresh book: hangs cut short, then (once nothing runs) data, store and counters reset."""
        self.sage.interrupt()
        end = time.monotonic() + RESET_WAIT_SECONDS
        while time.monotonic() < end:
            if self.agent.pool.busy == 0 and not any(self.agent.slots.in_use().values()):
                break
            time.sleep(0.01)
        with self._lock:
            self.faults = []
            self.paths = {}
        self.sage.reset()
        self.agent.store.clear()
        self.agent.forget_keys()
        self.agent.limit_override.clear()
        self.agent.counts.clear()
        self.agent.slots.clear_counts()
        self.agent.page_size = self.sage.page_size

    def stats(self) -> dict[str, Any]:
        """The simulator's statistics, from the fake Sage's journal and the agent's counters."""
        with self.sage.lock:
            journal = {code: list(book["entries"]) for code, book in self.sage.journal.items()}
            locked = self.sage.stats["locked"]
        refs: dict[str, dict[str, int]] = {}
        for code, entries in journal.items():
            per: dict[str, int] = {}
            for e in entries:
                reference = parse_comment(str(e["header"].get(NAMES.h_comment, "")))[0]
                per[reference] = per.get(reference, 0) + 1
            refs[code] = per
        slots = self.agent.slots
        with self._lock:
            counts = dict(self.paths)
            faults = [f.public() for f in self.faults]
        counts.update(self.agent.counts)
        counts["locked"] = locked
        return {
            "maxInFlight": dict(slots.tried_peak),
            "inFlight": {code: slots.in_use().get(code, 0) for code in self.agent.config.companies},
            "overLimit": slots.refused,
            "entries": {code: len(entries) for code, entries in journal.items()},
            "referenceCounts": refs,
            "counts": counts,
            "hugeSent": [],
            "faults": faults,
        }

    def entries(self, code: str) -> list[dict[str, Any]] | None:
        """Every entry of the company's journal, shaped like the simulator's (key from the store)."""
        if code not in self.sage.journal:
            return None
        store = self.agent.store
        keys = {marker_for(code, r.key): r.key for r in store.committed(code) + store.pending(code)}
        n = NAMES
        with self.sage.lock:
            stored: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [
                (dict(e["header"]), list(e["lines"])) for e in self.sage.journal[code]["entries"]
            ]
        out = []
        for header, lines in stored:
            reference, marker, comment = parse_comment(str(header.get(n.h_comment, "")))
            out.append(
                {
                    "entryNo": str(header.get(n.h_entry_no, "")),
                    "batchNo": str(header.get(n.h_batch_no, "")),
                    "postingDate": _iso(str(header.get(n.h_posting_date, date.min.strftime("%Y%m%d")))),
                    "reference": reference,
                    "replayed": False,
                    "sourceJournal": str(header.get(n.h_source_journal, "")),
                    "comment": comment,
                    "idempotencyKey": keys.get(marker, ""),
                    "lines": [
                        {
                            "account": str(line.get(n.l_account, "")),
                            "debit": _amount(line.get(n.l_debit)),
                            "credit": _amount(line.get(n.l_credit)),
                            "comment": str(line.get(n.l_comment, "") or ""),
                        }
                        for line in lines
                    ],
                }
            )
        return out
