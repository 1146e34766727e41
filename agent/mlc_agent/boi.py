"""The one seam between the agent and BOI: real COM on Windows, the fake everywhere else.

A provider hands out `ProvideX.Script` objects and says which exceptions mean the session is
dead. Everything above this module calls BOI only through objects a provider created.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Protocol


class Provider(Protocol):
    """Where ProvideX.Script objects come from, and what a dead session raises."""

    fatal_errors: tuple[type[BaseException], ...]
    test_mode: bool

    def create_script(self) -> Any: ...

    def thread_init(self) -> None: ...

    def thread_done(self) -> None: ...

    def sage_version(self) -> str: ...


class FakeProvider:
    """The fake BOI of mlc_agent.fakeboi over one data file (tests, demos)."""

    test_mode = True

    def __init__(self, data_file: str) -> None:
        from mlc_agent.fakeboi import FakeComError, FakeSage, FakeScript

        self._script_class = FakeScript
        self.sage = FakeSage(Path(data_file))
        self.fatal_errors: tuple[type[BaseException], ...] = (FakeComError,)

    def create_script(self) -> Any:
        return self._script_class(self.sage)

    def thread_init(self) -> None:
        return None

    def thread_done(self) -> None:
        return None

    def sage_version(self) -> str:
        return self.sage.sage_version


def load_provider(mode: str, *, fake_data: str = "") -> Provider:
    """`com` (Windows, pywin32) or `fake` (a data file); refuses COM where it cannot exist."""
    if mode == "fake":
        if not fake_data:
            raise ValueError("sage.fake_data must name the fake BOI data file")
        return FakeProvider(fake_data)
    if mode == "com":
        if sys.platform != "win32":
            raise RuntimeError("BOI over COM needs Windows with the Sage 100 workstation components")
        from mlc_agent.com import ComProvider

        return ComProvider()
    raise ValueError(f"sage.mode must be 'com' or 'fake', not {mode!r}")
