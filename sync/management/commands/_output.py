"""Progress for commands: a bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Protocol


class Stream(Protocol):
    """What a command's stdout (Django's OutputWrapper) or a plain text stream offers."""

    def isatty(self) -> bool: ...

    def write(self, msg: str, /) -> Any: ...


def progress_printer(
    stream: Stream, label: str
) -> tuple[Callable[[str, int, int], None], Callable[[], None]]:
    """A progress callback for run_sync and a function that closes it."""
    if stream.isatty():
        from tqdm import tqdm

        bars: dict[str, Any] = {}

        def on_tty(phase: str, done: int, total: int) -> None:
            bar = bars.get(phase)
            if bar is None:
                bar = bars[phase] = tqdm(
                    desc=f"{label} {phase}", total=total or None, file=sys.stderr, leave=True
                )
            if total and bar.total != total:
                bar.total = total
            bar.n = done
            bar.refresh()

        def close_tty() -> None:
            for bar in bars.values():
                bar.close()

        return on_tty, close_tty

    last: dict[str, int] = {}

    def on_plain(phase: str, done: int, total: int) -> None:
        # Every 100 reports and at the end: enough for a log, not a flood.
        if done == total or done - last.get(phase, 0) >= 100:
            last[phase] = done
            stream.write(f"{label} {phase}: {done}" + (f"/{total}" if total else "") + "\n")

    return on_plain, lambda: None
