"""Run the Expensify simulator in the foreground: python -m simulators.expensify --port 8765 --demo."""

from __future__ import annotations

import argparse
import sys

from simulators.expensify.demo import DEMO_PARTNER_USER_ID, demo_data
from simulators.expensify.server import ExpensifySimulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Expensify Integration Server simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--demo", action="store_true", help="load the demo company's data")
    parser.add_argument("--render-delay", type=float, default=1.0, help="seconds until a file is ready")
    parser.add_argument("--rates", default="5/10,20/60", help="rate limits as N/SECONDS,... (e.g. 5/1,20/6)")
    args = parser.parse_args(argv)
    rates = [(int(n), float(w)) for n, w in (r.split("/") for r in args.rates.split(",") if r)]
    simulator = ExpensifySimulator(
        data=demo_data() if args.demo else None,
        rates=rates,
        render_delay=args.render_delay,
        host=args.host,
        port=args.port,
    )
    print(f"Expensify simulator on {simulator.base_url}", flush=True)
    if args.demo:
        print(f"Demo partner user ID: {DEMO_PARTNER_USER_ID}", flush=True)
    try:
        simulator.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
