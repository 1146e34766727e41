"""A simulator's state kept in a file across restarts (the demo's `--state`), shared by both."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step: a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def keep_state(snapshot: Callable[[], str], path: Path, stop: threading.Event) -> None:
    """Write `snapshot()` to `path` whenever it changed, checking every second until `stop`."""
    last = path.read_text(encoding="utf-8") if path.exists() else ""
    while not stop.wait(1.0):
        text = snapshot()
        if text != last:
            write_atomically(path, text)
            last = text
