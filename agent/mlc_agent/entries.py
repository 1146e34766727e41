"""Journal entries as the contract shows them, and the checks an entry passes before its write.

An entry is answered from the store when the store knows its key (the comment uncut, the key
with it) and from Sage's journal otherwise. Checks: period, then accounts, then balance.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from mlc_agent.errors import AgentError
from mlc_agent.sage import BoiSession, marker_for
from mlc_agent.store import KeyRecord, Store


def body_hash(entry: dict[str, Any]) -> str:
    """Hash of the normalized entry: member order ignored (keys sorted), absent comment = ""."""
    return hashlib.sha256(json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def from_store(record: KeyRecord) -> dict[str, Any]:
    """A committed key's entry as the contract shows it."""
    answer = record.answer or {}
    return {
        "entryNo": answer["entryNo"],
        "batchNo": answer["batchNo"],
        "postingDate": answer["postingDate"],
        "reference": answer["reference"],
        "sourceJournal": record.entry["sourceJournal"],
        "comment": record.entry["comment"],
        "idempotencyKey": record.key,
        "lines": record.entry["lines"],
        "replayed": False,
    }


def _merge(found: dict[str, Any], record: KeyRecord | None) -> dict[str, Any]:
    if record is not None:
        # The store has the comment uncut and the key; Sage confirms the entry exists.
        return from_store(record)
    entry = {k: v for k, v in found.items() if k != "marker"}
    entry.update(idempotencyKey="", replayed=False)
    return entry


def journal_entries(session: BoiSession, store: Store, code: str) -> list[dict[str, Any]]:
    """Every entry Sage's journal holds, plus those of the store no longer in the journal."""
    journal = session.journal()
    keyed = {marker_for(code, r.key): r for r in store.committed(code)}
    seen = set()
    entries = []
    for e in journal:
        record = keyed.get(e["marker"]) if e["marker"] else None
        entries.append(_merge(e, record))
        seen.add((e["sourceJournal"], e["entryNo"]))
    for record in keyed.values():
        answer = record.answer or {}
        if (record.entry["sourceJournal"], answer.get("entryNo")) not in seen:
            # Updated to history by the journal update: the store still knows it.
            entries.append(from_store(record))
    return sorted(entries, key=lambda e: (e["entryNo"], e["sourceJournal"]))


def check_entry(session: BoiSession, entry: dict[str, Any]) -> None:
    """Period, then accounts (the order of checks), from Sage's own calendar and chart."""
    day = entry["postingDate"]
    periods = session.periods()
    state = next((p["status"] for p in periods if p["start"] <= day <= p["end"]), None)
    if state != "open":
        raise AgentError("PERIOD_CLOSED", f"Posting date {day} is in a closed or unset period.")
    chart = {a["account"]: a for a in session.accounts()}
    for line in entry["lines"]:
        account = chart.get(line["account"])
        if account is None:
            raise AgentError("INVALID_ACCOUNT", f"Account {line['account']} is not in the chart.")
        if account["status"] != "A":
            raise AgentError(
                "ACCOUNT_INACTIVE",
                f"Account {line['account']} has status {account['status']} (not active).",
            )


def check_balance(entry: dict[str, Any]) -> None:
    """Total debits equal total credits, to the cent."""
    debit = sum(Decimal(line["debit"]) for line in entry["lines"])
    credit = sum(Decimal(line["credit"]) for line in entry["lines"])
    if debit != credit:
        raise AgentError("UNBALANCED", f"Debits {debit} and credits {credit} are not equal.")
