"""Run the benchmarks, print the figures with their targets, and write them into docs/performance.md.

    python -m bench                  # everything (SQLite temp file, or PostgreSQL via DATABASE_URL)
    python -m bench --quick          # smaller N: a smoke run in under two minutes
    python -m bench --only posting   # one benchmark (expensify, posting, overhead, memory, admin, dashboard)
    python -m bench --no-write       # print only; leave docs/performance.md alone

The table goes between the markers of the section for this database (SQLite or PostgreSQL);
the hand-written text around the markers stays as it is. A --quick or --only run never writes
the document (its figures are not the ones the document stands for) unless --write is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shlex
import sys
import time

from bench.harness import ROOT, Row, configure

BENCHES = ("expensify", "posting", "overhead", "memory", "admin", "dashboard")
DOC = ROOT / "docs" / "performance.md"


def render(rows: list[Row], *, vendor: str, command: str, seconds: float) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cpus = os.cpu_count()
    lines = [
        f"`{command}` on {vendor}, {when}, {cpus} cores ({platform.python_implementation()} "
        f"{platform.python_version()}), {seconds:.0f} s. Met: {sum(1 for r in rows if r.ok)}, "
        f"missed: {sum(1 for r in rows if r.ok is False)}.",
        "",
        "| bench | figure | measured | target | met |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        met = {True: "yes", False: "**no**", None: "-"}[r.ok]
        value = r.value + (f" ({r.note})" if r.note else "")
        lines.append(f"| {r.bench} | {r.figure} | {value} | {r.target} | {met} |")
    return "\n".join(lines) + "\n"


def write_doc(section: str, table: str, profile: str | None) -> None:
    text = DOC.read_text(encoding="utf-8")
    text = _replace(text, f"figures:{section}", table)
    if profile is not None:
        text = _replace(text, f"profile:{section}", "```\n" + profile.strip() + "\n```\n")
    DOC.write_text(text, encoding="utf-8")


def _replace(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        return text.rstrip("\n") + f"\n\n{begin}\n{body}{end}\n"
    return pattern.sub(lambda _: f"{begin}\n{body}{end}", text)


def trim_profile(text: str) -> str:
    """The pstats listing with paths shortened to the project or site-packages."""
    text = text.replace(str(ROOT) + "/", "")
    text = re.sub(r"\S*/site-packages/", "", text)
    return re.sub(r"\n{3,}", "\n\n", text)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller N (a smoke run)")
    parser.add_argument("--only", choices=BENCHES, action="append", help="run only this benchmark")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/performance.md")
    parser.add_argument("--write", action="store_true", help="update the document even for --quick/--only")
    parser.add_argument(
        "--sqlite-wal",
        action="store_true",
        help="what if SQLite ran in WAL mode with synchronous=NORMAL (never writes the document)",
    )
    args = parser.parse_args()
    if args.sqlite_wal:
        os.environ["BENCH_SQLITE_WAL"] = "1"
        args.no_write = True
    chosen = args.only or list(BENCHES)
    vendor = configure()
    print(f"bench on {vendor}: {', '.join(chosen)}{' (quick)' if args.quick else ''}", flush=True)
    started = time.perf_counter()
    rows: list[Row] = []
    profile: str | None = None
    for name in chosen:
        print(f"[{name}]", flush=True)
        if name == "expensify":
            from bench import expensify_calls

            rows += expensify_calls.run(args.quick)
        elif name == "posting":
            from bench import posting

            rows += posting.run(args.quick, vendor)
        elif name == "overhead":
            from bench import overhead

            rows += overhead.run(args.quick)
            profile = trim_profile(overhead.PROFILE_TEXT[0]) if overhead.PROFILE_TEXT else None
        elif name == "memory":
            from bench import memory

            rows += memory.run(args.quick)
        elif name == "admin":
            from bench import admin_pages

            rows += admin_pages.run(args.quick, vendor)
        elif name == "dashboard":
            from bench import dashboard

            rows += dashboard.run(args.quick, vendor)
    seconds = time.perf_counter() - started
    command = "python -m bench " + shlex.join(sys.argv[1:])
    table = render(
        rows,
        vendor="PostgreSQL" if vendor == "postgresql" else "SQLite",
        command=command.strip(),
        seconds=seconds,
    )
    print()
    print(table)
    if profile:
        print(profile)
    full = not args.quick and args.only is None
    if not args.no_write and (full or args.write):
        write_doc("postgresql" if vendor == "postgresql" else "sqlite", table, profile)
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
