"""Run the Expensify simulator in the foreground: python -m simulators.expensify --port 8765 --demo.

With --state FILE the reports, policies and export marks are kept in FILE (written within a second
of a change and on exit, read at start), so a restarted demo sees what it saw before: a report
marked exported stays marked and its dates do not move, and `reconcile` stays clean.
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

from simulators.expensify.demo import DEMO_PARTNER_USER_ID, demo_data
from simulators.expensify.server import ExpensifySimulator, SimulatorState
from simulators.statefile import keep_state, write_atomically

KEPT = ("reports", "policies", "marks")  # never the credentials


def snapshot(state: SimulatorState) -> str:
    state.finish_due_renders()
    with state.lock:
        return json.dumps({name: getattr(state, name) for name in KEPT}, sort_keys=True, default=str)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Expensify Integration Server simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--demo", action="store_true", help="load the demo company's data")
    parser.add_argument("--render-delay", type=float, default=1.0, help="seconds until a file is ready")
    parser.add_argument("--rates", default="5/10,20/60", help="rate limits as N/SECONDS,... (e.g. 5/1,20/6)")
    parser.add_argument("--state", help="keep reports, policies and marks in this JSON file across restarts")
    args = parser.parse_args(argv)
    rates = [(int(n), float(w)) for n, w in (r.split("/") for r in args.rates.split(",") if r)]
    simulator = ExpensifySimulator(
        data=demo_data() if args.demo else None,
        rates=rates,
        render_delay=args.render_delay,
        host=args.host,
        port=args.port,
    )
    stop = threading.Event()
    path = Path(args.state) if args.state else None
    if path is not None and path.exists():
        saved: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        simulator.state.load({name: saved[name] for name in KEPT if name in saved})
        print(f"Expensify simulator state read from {path}", flush=True)
    if path is not None:
        threading.Thread(
            target=keep_state, args=(lambda: snapshot(simulator.state), path, stop), daemon=True
        ).start()

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    print(f"Expensify simulator on {simulator.base_url}", flush=True)
    if args.demo:
        print(f"Demo partner user ID: {DEMO_PARTNER_USER_ID}", flush=True)
    try:
        simulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        if path is not None:
            write_atomically(path, snapshot(simulator.state))
    return 0


if __name__ == "__main__":
    sys.exit(main())
