"""The Expensify Integration Server client: one httpx.Client, paced, retried, typed errors.

Every call is one POST of a form with `requestJobDescription` (JSON, credentials inside) and,
for exports, `template`. Answers come as text/plain whatever they hold, so the body decides:
a bare file name, a rendered file, or a JSON answer with responseCode/responseMessage.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from typing import IO, Any, TypeVar

from connector.expensify.errors import (
    ExpensifyAuthError,
    ExpensifyConfigError,
    ExpensifyError,
    ExpensifyPermanentError,
    ExpensifyProtocolError,
    ExpensifyTransientError,
)
from connector.expensify.pacing import RateLimiter, shared_limiter
from connector.expensify.parsing import parse_export, policy_from_json
from connector.expensify.transport import (
    DEFAULT_MAX_ANSWER_BYTES,
    SMALL_ANSWER,
    Answer,
    ExpensifyTransport,
    RetryPolicy,
    check_base_url,
)
from connector.expensify.types import ExpensifyReport, PolicyData, RejectedReport
from connector.logs import register_secret

logger = logging.getLogger(__name__)

T = TypeVar("T")
TEMPLATE = resources.files("connector.expensify").joinpath("template.ftl").read_text("utf-8")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,250}$")
_AUTH_WORDS = re.compile(
    r"authenticat|not authori[sz]ed|credential|partnerusersecret|partneruserid|password|"
    r"unauthori[sz]ed|invalid partner",
    re.IGNORECASE,
)
MAX_WINDOW_DAYS = 365  # inclusive days per render: Expensify refuses windows over a year
# approvedAfter alone (no endDate) only while it is safely under a year old: time zones differ.
RECENT_DAYS = MAX_WINDOW_DAYS - 7
MARK_BATCH = 500
SPLIT_LIMIT_CAP = 50_000
REPORT_STATES = ("OPEN", "SUBMITTED", "APPROVED", "REIMBURSED", "ARCHIVED")
ELIGIBLE_STATES = ("APPROVED", "REIMBURSED")


@dataclass
class _Counter:
    reports: int = 0


@dataclass
class ExportStats:
    """What one export_reports call cost (filled in as the iterator runs)."""

    renders: int = 0
    downloads: int = 0
    windows_split: int = 0
    reports: int = 0
    duplicates: int = 0


class ExpensifyClient:
    """Talks to one Expensify partner user's Integration Server account."""

    def __init__(
        self,
        *,
        base_url: str,
        partner_user_id: str,
        partner_user_secret: str,
        timeout: float = 60.0,
        limiter: RateLimiter | None = None,
        max_retry_seconds: float = 120,
        download_wait_seconds: float = 150,
        retry_initial_seconds: float = 1.0,
        download_poll_seconds: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        max_answer_bytes: int | None = None,
    ) -> None:
        if not partner_user_id or not partner_user_secret:
            raise ExpensifyAuthError(
                "Expensify credentials are incomplete: enter the partnerUserID and "
                "partnerUserSecret for this company."
            )
        check_base_url(base_url)
        register_secret(partner_user_secret)
        self.base_url = base_url
        self.partner_user_id = partner_user_id
        self._secret = partner_user_secret
        self.max_retry_seconds = float(max_retry_seconds)
        self.download_wait_seconds = float(download_wait_seconds)
        self.retry_initial_seconds = retry_initial_seconds
        self.download_poll_seconds = download_poll_seconds
        self._sleep = sleep
        self.retry = RetryPolicy(
            max_seconds=self.max_retry_seconds, initial_seconds=retry_initial_seconds, sleep=sleep
        )
        self.transport = ExpensifyTransport(
            base_url=base_url,
            partner_user_id=partner_user_id,
            secret=partner_user_secret,
            timeout=timeout,
            limiter=limiter if limiter is not None else shared_limiter(partner_user_id),
            max_answer_bytes=max_answer_bytes,
        )
        self.last_export = ExportStats()

    @property
    def timeout(self) -> float:
        return self.transport.timeout

    @property
    def limiter(self) -> RateLimiter:
        return self.transport.limiter

    @property
    def max_answer_bytes(self) -> int:
        return self.transport.max_answer_bytes

    @property
    def calls(self) -> int:
        """Requests sent (each paced through the limiter)."""
        return self.transport.calls

    @property
    def rate_wait_seconds(self) -> float:
        """Seconds spent waiting for the shared rate limit."""
        return self.transport.rate_wait_seconds

    def __repr__(self) -> str:
        return f"ExpensifyClient(base_url={self.base_url!r}, partner_user_id={self.partner_user_id!r})"

    def close(self) -> None:
        """Close the HTTP connection pool (also done by `with ExpensifyClient(...)`)."""
        self.transport.close()

    def __enter__(self) -> ExpensifyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- protocol: every call is one form POST; the body decides what came back -----------------

    def _send_once(self, job: dict[str, Any], template: str | None) -> Answer:
        credentials = {"partnerUserID": self.partner_user_id, "partnerUserSecret": self._secret}
        form = {"requestJobDescription": json.dumps({**job, "credentials": credentials})}
        if template is not None:
            form["template"] = template  # httpx encodes '+' and friends; never hand-build it
        return self.transport.send(form)

    def _clean(self, text: str) -> str:
        return self.transport.clean(text)

    def _snippet(self, answer: Answer) -> str:
        return self.transport.snippet(answer)

    def _error_for(self, code: int, message: str) -> ExpensifyError:
        """Classify a JSON error answer ({"responseCode": N, "responseMessage": "..."})."""
        message = self._clean(message)[:300]
        lowered = message.lower()
        if code in (401, 403) or _AUTH_WORDS.search(message):
            return self.transport.auth_error(code, message)
        if code == 429 or "rate-limited" in lowered or "rate limited" in lowered:
            return ExpensifyTransientError(f"Expensify rate-limited this request: {message}")
        if code == 404:
            return ExpensifyPermanentError(f"Expensify could not find it (404): {message}")
        if code == 410:
            return ExpensifyPermanentError(f"Expensify rejected the request (410): {message}")
        if code >= 500:
            return ExpensifyTransientError(f"Expensify answered error {code}: {message}")
        return ExpensifyPermanentError(f"Expensify answered error {code}: {message}")

    def _json_answer(self, answer: Answer) -> Any:
        """The decoded JSON body, or None when it is not small JSON."""
        head = answer.head().lstrip()
        if answer.size > SMALL_ANSWER or head[:1] not in (b"{", b"["):
            return None
        try:
            return json.loads(head)
        except ValueError:
            return None

    def _raise_if_error(self, data: Any) -> None:
        if isinstance(data, dict) and "responseCode" in data:
            try:
                code = int(data["responseCode"])
            except (TypeError, ValueError):
                code = 0
            if code not in (200, 207):
                raise self._error_for(code, str(data.get("responseMessage", "")))

    def _call(self, step: Callable[[], T]) -> T:
        """Run one logical call, retrying transient failures with jittered backoff."""
        return self.retry.call(step)

    def _post_json(self, job: dict[str, Any]) -> Any:
        def step() -> Any:
            answer = self._send_once(job, None)
            try:
                data = self._json_answer(answer)
                if data is None:
                    raise ExpensifyProtocolError(
                        f"Expensify answered something that is not JSON: {self._snippet(answer)}"
                    )
                self._raise_if_error(data)
                return data
            finally:
                answer.body.close()

        return self._call(step)

    # --- export -----------------------------------------------------------------------------

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

    def _download(self, file_name: str) -> IO[bytes]:
        """Fetch a rendered file, waiting (bounded) while Expensify is still rendering it."""
        job = {"type": "download", "fileName": file_name, "fileSystem": "integrationServer"}
        deadline = time.monotonic() + self.download_wait_seconds
        pause = min(1.0, self.download_poll_seconds)

        def step() -> IO[bytes] | None:
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

        # Rendering always takes a moment: asking at once would only spend the rate budget.
        self._sleep(pause)
        while True:
            self.last_export.downloads += 1
            body = self._call(step)
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
        *,
        filters: dict[str, str],
        limit: int,
        counter: _Counter,
        seen: set[str],
        report_state: str,
    ) -> Iterator[ExpensifyReport | RejectedReport]:
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

    def export_reports(
        self,
        *,
        label: str,
        policy_ids: Iterable[str],
        approved_since: date | None = None,
        report_ids: Iterable[str] = (),
        report_states: Sequence[str] = ELIGIBLE_STATES,
        limit: int = 1000,
        start_date: date | None = None,
        end_date: date | None = None,
        approved_after: date | None = None,
    ) -> Iterator[ExpensifyReport | RejectedReport]:
        """Yield every report of these policies in `report_states` not yet marked `label`, each once.

        Test mode: nothing is marked. `approved_since` is inclusive (a company's export start
        date); Expensify's approvedAfter is exclusive, so it is sent one day earlier. A look-back
        of more than a year is asked in windows of at most a year, each with startDate/endDate
        (and approvedAfter on the windows that start on or before it), as Expensify requires.
        A render that returns `limit` reports may have been cut short, so its window is split
        in two and both halves asked again (reports already seen are skipped), until every
        window holds fewer than `limit`. `report_ids` asks for exactly those reports (still
        within the policies, states and label). `start_date`/`end_date` bound the submitted
        date by hand (tests, benchmarks); `approved_after` is the old exclusive form of
        `approved_since`. Raises ExpensifyConfigError when no policy is given.
        """
        policies = [p.strip() for p in policy_ids if p and p.strip()]
        if not policies:
            raise ExpensifyConfigError(
                "No Expensify policy is listed for this company, so nothing is exported: add the "
                "company's policy IDs on its page (a company never exports every policy)."
            )
        states = [s.strip().upper() for s in report_states if s and s.strip()]
        unknown = [s for s in states if s not in REPORT_STATES]
        if not states or unknown:
            raise ExpensifyConfigError(
                f"Report states must be some of {', '.join(REPORT_STATES)}; got {list(report_states)!r}."
            )
        if approved_since is None and approved_after is not None:
            approved_since = approved_after + timedelta(days=1)
        return self._export(
            base={"markedAsExported": label, "policyIDList": ",".join(dict.fromkeys(policies))},
            report_state=",".join(dict.fromkeys(states)),
            approved_since=approved_since,
            report_ids=[str(r) for r in report_ids if str(r).strip()],
            limit=limit,
            start_date=start_date,
            end_date=end_date,
        )

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
    ) -> Iterator[ExpensifyReport | RejectedReport]:
        self.last_export = ExportStats()
        seen: set[str] = set()
        if not base.get("markedAsExported"):
            base = {k: v for k, v in base.items() if k != "markedAsExported"}

        def read(filters: dict[str, str], window_limit: int, counter: _Counter) -> Iterator[Any]:
            return self._render_and_read(
                filters=filters, limit=window_limit, counter=counter, seen=seen, report_state=report_state
            )

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
        if start > end:
            return
        windows: list[tuple[date, date, int]] = []
        cursor = start
        while cursor <= end:
            stop = min(end, cursor + timedelta(days=MAX_WINDOW_DAYS - 1))
            windows.append((cursor, stop, limit))
            cursor = stop + timedelta(days=1)
        windows.reverse()  # a stack, oldest window on top
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
            if first < last:
                middle = first + (last - first) // 2
                windows.append((middle + timedelta(days=1), last, window_limit))
                windows.append((first, middle, window_limit))
            elif window_limit < SPLIT_LIMIT_CAP:
                # One day holds `limit` reports or more: ask for that day with a larger limit.
                windows.append((first, last, min(window_limit * 10, SPLIT_LIMIT_CAP)))
            else:
                raise ExpensifyPermanentError(
                    f"Expensify holds {window_limit} or more approved reports dated {first}; "
                    "the connector cannot page further within one day."
                )

    def mark_exported(self, report_ids: Sequence[str], *, label: str) -> set[str]:
        """Mark these reports exported with `label`; return the IDs Expensify confirms marked.

        markAsExported only exists as an export's onFinish action, so each batch is rendered
        (not in test mode) and its file downloaded: once the file exists, the marks are applied.
        Then a test-mode export of the same IDs with markedAsExported=label returns the reports
        still lacking the label. Confirmed = the reports the marking render held, minus those.
        A report not confirmed (not eligible any more, deleted, or a mark that did not stick)
        stays unconfirmed; the caller marks it again later.
        """
        ids = list(dict.fromkeys(str(r) for r in report_ids if str(r)))
        confirmed: set[str] = set()
        for offset in range(0, len(ids), MARK_BATCH):
            batch = ids[offset : offset + MARK_BATCH]
            name = self._render(
                filters={"reportIDList": ",".join(batch)},
                limit=len(batch),
                # A report reimbursed or closed since we read it must still get its mark.
                report_state="APPROVED,REIMBURSED,ARCHIVED",
                on_finish=[{"actionName": "markAsExported", "label": label}],
                test=False,
            )
            body = self._download(name)
            try:
                rendered = {item.report_id for item in parse_export(body)}
            finally:
                body.close()
            lacking: set[str] = set()
            check = self._export(
                base={"markedAsExported": label},
                # Every state: a report reopened meanwhile must show up as lacking the label.
                report_state=",".join(REPORT_STATES),
                approved_since=None,
                report_ids=batch,
                limit=len(batch),
                start_date=None,
                end_date=None,
            )
            for item in check:
                lacking.add(item.report_id)
            done = (set(batch) & rendered) - lacking
            confirmed |= done
            logger.info(
                "Expensify: marked %d of %d report(s) exported as %r (confirmed by reading back)",
                len(done),
                len(batch),
                label,
            )
        return confirmed

    # --- policies ---------------------------------------------------------------------------

    def get_policy_data(self, policy_ids: Iterable[str]) -> dict[str, PolicyData]:
        """Categories, tags and employees of each policy; policies Expensify skips are left out."""
        ids = [p.strip() for p in policy_ids if p.strip()]
        if not ids:
            return {}
        data = self._post_json(
            {
                "type": "get",
                "inputSettings": {
                    "type": "policy",
                    "fields": ["categories", "tags", "employees"],
                    "policyIDList": ids,
                },
            }
        )
        info = data.get("policyInfo") if isinstance(data, dict) else None
        if not isinstance(info, dict):
            raise ExpensifyProtocolError(
                f"Expensify's policy answer has no policyInfo: {self._clean(json.dumps(data))[:200]!r}"
            )
        for key, value in data.items():
            if "skipped" in key.lower() and value:
                logger.warning("Expensify skipped policies (%s): %s", key, value)
        return {pid: policy_from_json(pid, info[pid]) for pid in ids if pid in info}

    def list_policies(self) -> list[dict[str, Any]]:
        """The policies (workspaces) this partner user can see, as Expensify describes them."""
        data = self._post_json({"type": "get", "inputSettings": {"type": "policyList"}})
        policies = data.get("policyList") if isinstance(data, dict) else None
        if not isinstance(policies, list):
            raise ExpensifyProtocolError(
                f"Expensify's policy list answer has no policyList: {self._clean(json.dumps(data))[:200]!r}"
            )
        return [p for p in policies if isinstance(p, dict)]

    def test_connection(self) -> str:
        """One line for an operator: who we are connected as and what we can see."""
        policies = self.list_policies()
        names = ", ".join(f"{p.get('name', '?')} ({p.get('id', '?')})" for p in policies[:5])
        more = f" and {len(policies) - 5} more" if len(policies) > 5 else ""
        if not policies:
            return (
                f"Connected to Expensify as partner user '{self.partner_user_id}', but it sees no policies."
            )
        return (
            f"Connected to Expensify as partner user '{self.partner_user_id}': "
            f"{len(policies)} polic{'y' if len(policies) == 1 else 'ies'} visible: {names}{more}."
        )


__all__ = [
    "DEFAULT_MAX_ANSWER_BYTES",
    "ELIGIBLE_STATES",
    "REPORT_STATES",
    "TEMPLATE",
    "ExpensifyClient",
    "ExportStats",
    "check_base_url",
]
