"""Exports: render reports with the template, download the file, and cover a date range.

An export is a render (Expensify writes a file with our FreeMarker template and answers its
name) and a download of that file, streamed into the parser. A range longer than a year is
asked in windows of at most a year; a window that comes back full may have been cut short, so
it is split and asked again (`plan_windows`, `split_window`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from importlib import resources
from typing import IO, Any

from connector.expensify.calls import ExpensifyCalls
from connector.expensify.errors import (
    ExpensifyPermanentError,
    ExpensifyProtocolError,
    ExpensifyTransientError,
)
from connector.expensify.parsing import parse_export
from connector.expensify.types import ExpensifyReport, ExportStats, RejectedReport

TEMPLATE = resources.files("connector.expensify").joinpath("template.ftl").read_text("utf-8")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,250}$")
MAX_WINDOW_DAYS = 365  # inclusive days per render: Expensify refuses windows over a year
# approvedAfter alone (no endDate) only while it is safely under a year old: time zones differ.
RECENT_DAYS = MAX_WINDOW_DAYS - 7
SPLIT_LIMIT_CAP = 50_000

Item = ExpensifyReport | RejectedReport
Window = tuple[date, date, int]  # first day, last day, the render's limit


@dataclass
class _Counter:
    reports: int = 0


Read = Callable[[dict[str, str], int, _Counter], Iterator[Item]]


def plan_windows(start: date, end: date, limit: int) -> list[Window]:
    """Windows of at most a year from `start` to `end`, as a stack: the oldest on top."""
    windows: list[Window] = []
    cursor = start
    while cursor <= end:
        stop = min(end, cursor + timedelta(days=MAX_WINDOW_DAYS - 1))
        windows.append((cursor, stop, limit))
        cursor = stop + timedelta(days=1)
    windows.reverse()
    return windows


def split_window(first: date, last: date, window_limit: int) -> list[Window]:
    """A full window in two halves (pushed so the older half comes first), or one day asked larger."""
    if first < last:
        middle = first + (last - first) // 2
        return [(middle + timedelta(days=1), last, window_limit), (first, middle, window_limit)]
    if window_limit < SPLIT_LIMIT_CAP:
        # One day holds `limit` reports or more: ask for that day with a larger limit.
        return [(first, last, min(window_limit * 10, SPLIT_LIMIT_CAP))]
    raise ExpensifyPermanentError(
        f"Expensify holds {window_limit} or more approved reports dated {first}; "
        "the connector cannot page further within one day."
    )


class ExportCalls(ExpensifyCalls):
    """The render → download → parse steps and the windows that cover an export's dates."""

    def _render(
        self,
        *,
        filters: dict[str, str],
        limit: int,
        report_state: str,
        on_finish: list[dict[str, str]] | None,
        test: bool,
    ) -> str:
        job: dict[str, Any] = {
            "type": "file",
            "onReceive": {"immediateResponse": ["returnRandomFileName"]},
            "inputSettings": {
                "type": "combinedReportData",
                "reportState": report_state,
                "limit": str(limit),
                "filters": filters,
            },
            "outputSettings": {"fileExtension": "json", "fileBasename": "mlc"},
        }
        if on_finish:
            job["onFinish"] = on_finish
        if test:
            job["test"] = "true"

        def step() -> str:
            answer = self._send_once(job, TEMPLATE)
            try:
                data = self._json_answer(answer)
                if data is not None:
                    self._raise_if_error(data)
                    raise ExpensifyProtocolError(
                        f"Expensify answered JSON instead of a file name: {self._snippet(answer)}"
                    )
                name = answer.head(300).decode("utf-8", "replace").strip()
                if answer.size > 300 or not _FILE_NAME.match(name):
                    raise ExpensifyProtocolError(
                        f"Expensify answered neither a file name nor JSON: {self._snippet(answer)}"
                    )
                return name
            finally:
                answer.body.close()

        self.last_export.renders += 1
        return self._call(step)

    def _download_once(self, file_name: str) -> IO[bytes] | None:
        """The rendered file's body, or None while Expensify is still rendering it."""
        job = {"type": "download", "fileName": file_name, "fileSystem": "integrationServer"}
        answer = self._send_once(job, None)
        if answer.size == 0 or not answer.head(64).strip():
            answer.body.close()
            return None
        data = self._json_answer(answer)
        if isinstance(data, dict) and "reports" not in data:
            answer.body.close()
            message = str(data.get("responseMessage", ""))
            if "file not found" in message.lower() or "not ready" in message.lower():
                return None
            self._raise_if_error(data)
            raise ExpensifyProtocolError(
                f"Expensify answered JSON without reports for file {file_name}: "
                f"{self._clean(json.dumps(data))[:200]!r}"
            )
        return answer.body

    def _download(self, file_name: str) -> IO[bytes]:
        """Fetch a rendered file, waiting (bounded) while Expensify is still rendering it."""
        deadline = time.monotonic() + self.download_wait_seconds
        pause = min(1.0, self.download_poll_seconds)
        # Rendering always takes a moment: asking at once would only spend the rate budget.
        self._sleep(pause)
        while True:
            self.last_export.downloads += 1
            body = self._call(partial(self._download_once, file_name))
            if body is not None:
                return body
            if time.monotonic() + pause > deadline:
                raise ExpensifyTransientError(
                    f"Expensify did not finish rendering file {file_name} within "
                    f"{self.download_wait_seconds:g} s; the next run will try again."
                )
            self._sleep(pause)
            pause = min(pause * 2, self.download_poll_seconds)

    def _render_and_read(
        self,
        filters: dict[str, str],
        limit: int,
        counter: _Counter,
        *,
        seen: set[str],
        report_state: str,
    ) -> Iterator[Item]:
        name = self._render(
            filters=filters, limit=limit, report_state=report_state, on_finish=None, test=True
        )
        body = self._download(name)
        try:
            for item in parse_export(body):
                counter.reports += 1
                if item.report_id in seen:
                    self.last_export.duplicates += 1
                    continue
                seen.add(item.report_id)
                self.last_export.reports += 1
                yield item
        finally:
            body.close()

    def _export(
        self,
        *,
        base: dict[str, str],
        report_state: str,
        approved_since: date | None,
        report_ids: list[str],
        limit: int,
        start_date: date | None,
        end_date: date | None,
    ) -> Iterator[Item]:
        self.last_export = ExportStats()
        if not base.get("markedAsExported"):
            base = {k: v for k, v in base.items() if k != "markedAsExported"}
        read: Read = partial(self._render_and_read, seen=set(), report_state=report_state)
        if report_ids:
            for offset in range(0, len(report_ids), limit):
                batch = report_ids[offset : offset + limit]
                yield from read({**base, "reportIDList": ",".join(batch)}, limit, _Counter())
            return
        today = date.today()
        # A day of slack: Expensify dates follow the submitter's time zone, which may be ahead.
        end = end_date or today + timedelta(days=1)
        # approvedAfter keeps reports approved strictly after its date: one day before "since".
        after = approved_since - timedelta(days=1) if approved_since is not None else None
        if after is not None and start_date is None and after >= today - timedelta(days=RECENT_DAYS):
            # Usually one render answers it all; windows only when it comes back full.
            counter = _Counter()
            filters = {**base, "approvedAfter": after.isoformat()}
            if end_date is not None:
                filters["endDate"] = end_date.isoformat()
            yield from read(filters, limit, counter)
            if counter.reports < limit:
                return
        # A report approved after `after` was submitted before its approval: look a year further back.
        start = start_date or (after or end) - timedelta(days=MAX_WINDOW_DAYS - 1)
        yield from self._export_windows(read, base, plan_windows(start, end, limit), after)

    def _export_windows(
        self, read: Read, base: dict[str, str], windows: list[Window], after: date | None
    ) -> Iterator[Item]:
        """Ask each window; a full one is split and its halves asked again."""
        while windows:
            first, last, window_limit = windows.pop()
            counter = _Counter()
            filters = {**base, "startDate": first.isoformat(), "endDate": last.isoformat()}
            if after is not None and first <= after:
                # Submitted on or before `after`: only those approved since count.
                filters["approvedAfter"] = after.isoformat()
            yield from read(filters, window_limit, counter)
            if counter.reports < window_limit:
                continue
            self.last_export.windows_split += 1
            windows.extend(split_window(first, last, window_limit))


__all__ = ["MAX_WINDOW_DAYS", "TEMPLATE", "ExportCalls", "plan_windows", "split_window"]
