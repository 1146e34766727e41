"""`python -m simulators.sage100 --port N [--demo] [--config FILE] [--state FILE]`: serve until interrupted.

With --state FILE the journal entries each company holds (and its next entry number) are kept in
FILE (written within a second of a post and on exit, read at start), so a restarted demo's
`reconcile` finds in Sage what the connector posted before.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from simulators.sage100.core import SageBook
from simulators.sage100.demo import demo
from simulators.sage100.server import SageSimulator
from simulators.statefile import keep_state, write_atomically


def snapshot(book: SageBook) -> str:
    with book.cond:
        return json.dumps(
            {
                code: {"entries": company.entries, "next_entry": company.next_entry}
                for code, company in book.companies.items()
            },
            sort_keys=True,
            default=str,
        )


def restore(book: SageBook, saved: dict[str, Any]) -> None:
    with book.cond:
        for code, kept in saved.items():
            company = book.companies.get(code)
            if company is None:
                continue
            company.entries = list(kept.get("entries", []))
            company.by_key = {e["idempotencyKey"]: e for e in company.entries if e.get("idempotencyKey")}
            company.next_entry = int(kept.get("next_entry", len(company.entries) + 1))


def main(argv: list[str] | None = None) -> int:
    """Run the simulator in the foreground."""
    parser = argparse.ArgumentParser(description="Sage 100 agent + SOAP simulator")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--demo", action="store_true", help="load the demo companies ABC and XYZ")
    parser.add_argument("--config", help="a JSON configuration file instead of the demo")
    parser.add_argument("--state", help="keep the posted entries in this JSON file across restarts")
    args = parser.parse_args(argv)
    config = demo()
    if args.config:
        with open(args.config, encoding="utf-8") as fh:
            config = json.load(fh)
    sim = SageSimulator(config, port=args.port)
    stop = threading.Event()
    path = Path(args.state) if args.state else None
    if path is not None and path.exists():
        restore(sim.book, json.loads(path.read_text(encoding="utf-8")))
        print(f"Sage 100 simulator state read from {path}", flush=True)
    if path is not None:
        threading.Thread(
            target=keep_state, args=(lambda: snapshot(sim.book), path, stop), daemon=True
        ).start()

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    print(f"Sage 100 simulator on {sim.base_url} (SOAP: {sim.soap_url})", flush=True)
    try:
        sim.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        sim.server.server_close()
        if path is not None:
            write_atomically(path, snapshot(sim.book))
    return 0


if __name__ == "__main__":
    sys.exit(main())
