"""Telling a company's contacts what needs a person (issue 12 builds the messages)."""

from __future__ import annotations

import logging

from sync.models import SyncRun

log = logging.getLogger(__name__)


def notify_after_run(run: SyncRun) -> None:
    """Called once at the end of every stored run; must never raise into the engine."""
    return None
