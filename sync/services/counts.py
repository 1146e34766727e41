"""What one run did, counted across its posting threads."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class RunCounts:
    seen: int = 0
    posted: int = 0
    exported: int = 0
    failed: int = 0
    needs_mapping: int = 0
    retrying: int = 0
    changed: int = 0
    unknown: int = 0
    withdrawn: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)

    def needs_attention(self) -> bool:
        return bool(
            self.failed
            or self.needs_mapping
            or self.retrying
            or self.unknown
            or self.changed
            or self.withdrawn
        )
