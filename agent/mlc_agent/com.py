"""BOI over COM with pywin32: Windows only, imported only by `boi.load_provider("com")`.

Deliberately thin: it creates ProvideX.Script and says what a dead COM server raises. Every
BOI call itself goes through the same code as the fake (mlc_agent.sage).
"""

from __future__ import annotations

from typing import Any

import pythoncom  # type: ignore[import-not-found]
import pywintypes  # type: ignore[import-not-found]
import win32com.client  # type: ignore[import-not-found]

from mlc_agent.names import NAMES


class ComProvider:
    """ProvideX.Script objects from the registered Sage 100 workstation components."""

    test_mode = False
    fatal_errors: tuple[type[BaseException], ...] = (pywintypes.com_error,)

    def create_script(self) -> Any:
        # Late binding: ProvideX publishes no type library worth generating.
        return win32com.client.dynamic.Dispatch(NAMES.script_progid)

    def thread_init(self) -> None:
        # Each session's thread is its own single-threaded apartment.
        pythoncom.CoInitialize()

    def thread_done(self) -> None:
        pythoncom.CoUninitialize()

    def sage_version(self) -> str:
        return "Sage 100 (BOI over COM)"
