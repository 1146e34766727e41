"""Logging to a rotating file, secrets redacted (the Windows event log gets start/stop/fatal)."""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from pathlib import Path

HIDDEN = "********"
# Bearer tokens, "password": "..." members and key=value pairs that name a secret.
PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[^\s\"',]+"),
    re.compile(r"(?i)(\"?(?:password|api_key|apikey|secret)\"?\s*[:=]\s*\"?)[^\"\s,}]+"),
)


def redact(text: str) -> str:
    """`text` with bearer tokens and password/key values blanked."""
    for pattern in PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + HIDDEN, text)
    return text


class RedactingFormatter(logging.Formatter):
    """Formats, then blanks anything that looks like a secret (a careless message included)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup(log_path: Path, *, level: int = logging.INFO, console: bool = False) -> None:
    """Rotating file (10 MB x 5), redacted; optionally also to stderr."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    formatter = RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s")
    handlers: list[logging.Handler] = [
        logging.handlers.RotatingFileHandler(log_path, maxBytes=10_000_000, backupCount=5, encoding="utf-8")
    ]
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
    # cheroot logs each failed TLS handshake; keep those at warning level.
    logging.getLogger("cheroot").setLevel(logging.WARNING)


def event_log(message: str, *, error: bool = False) -> None:
    """Start, stop and fatal errors also go to the Windows event log (nothing elsewhere)."""
    logging.getLogger("mlc_agent").log(logging.ERROR if error else logging.INFO, message)
    if sys.platform != "win32":
        return
    try:
        import servicemanager  # type: ignore[import-not-found]

        (servicemanager.LogErrorMsg if error else servicemanager.LogInfoMsg)(redact(message))
    except Exception:  # noqa: S110 - the event log is a courtesy; the file log has it
        pass
