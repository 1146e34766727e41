"""An account mask that formats each distinct account once: a run formats the same few accounts
(categories, offsets, tag segments) for every expense of every report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from connector.mask import AccountMask

T = TypeVar("T")


class RememberingMask(AccountMask):
    """`mask`'s formatting, remembered per value (only results: a value that does not fit is
    checked again each time, so its error names the account it came from)."""

    def __init__(self, mask: AccountMask) -> None:
        super().__init__(segments=mask.segments, separator=mask.separator)
        object.__setattr__(self, "_memo", {})

    def _remember(self, key: tuple[Any, ...], make: Callable[[], T]) -> T:
        memo: dict[tuple[Any, ...], Any] = self._memo  # type: ignore[attr-defined]
        if key not in memo:
            memo[key] = make()
        return memo[key]  # type: ignore[no-any-return]

    def format(self, account: str) -> str:
        return self._remember(("format", account), lambda: super(RememberingMask, self).format(account))

    def format_leading(self, account: str) -> str:
        return self._remember(
            ("leading", account), lambda: super(RememberingMask, self).format_leading(account)
        )

    def format_segment(self, index: int, value: str, *, account: str = "") -> str:
        return self._remember(
            ("segment", index, value),
            lambda: super(RememberingMask, self).format_segment(index, value, account=account),
        )

    def replace_segment(self, account: str, index: int, code: str) -> str:
        return self._remember(
            ("replace", account, index, code),
            lambda: super(RememberingMask, self).replace_segment(account, index, code),
        )

    def segment_index(self, name_or_number: str) -> int:
        return self._remember(
            ("index", name_or_number), lambda: super(RememberingMask, self).segment_index(name_or_number)
        )
