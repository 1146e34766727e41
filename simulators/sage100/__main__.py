"""`python -m simulators.sage100 --port N [--demo] [--config FILE]`: serve until interrupted."""

from __future__ import annotations

import argparse
import json
import sys

from simulators.sage100.demo import demo
from simulators.sage100.server import SageSimulator


def main(argv: list[str] | None = None) -> int:
    """Run the simulator in the foreground."""
    parser = argparse.ArgumentParser(description="Sage 100 agent + SOAP simulator")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--demo", action="store_true", help="load the demo companies ABC and XYZ")
    parser.add_argument("--config", help="a JSON configuration file instead of the demo")
    args = parser.parse_args(argv)
    config = demo()
    if args.config:
        with open(args.config, encoding="utf-8") as fh:
            config = json.load(fh)
    sim = SageSimulator(config, port=args.port)
    print(f"Sage 100 simulator on {sim.base_url} (SOAP: {sim.soap_url})", flush=True)
    try:
        sim.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
