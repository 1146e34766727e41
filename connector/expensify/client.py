"""The Expensify Integration Server client: what the connector asks of Expensify.

`ExpensifyClient` exports reports (exports.py: render, download, windows), marks them exported
and confirms the marks by reading back, reads policies, and tests the connection. The call
protocol (one form POST; the body decides) is calls.py; HTTP, pacing and retries transport.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, timedelta
from typing import Any

from connector.expensify.errors import ExpensifyConfigError, ExpensifyProtocolError
from connector.expensify.exports import TEMPLATE, ExportCalls
from connector.expensify.parsing import policy_from_json, rendered_report_ids
from connector.expensify.transport import DEFAULT_MAX_ANSWER_BYTES, check_base_url
from connector.expensify.types import ExpensifyReport, ExportStats, PolicyData, RejectedReport

logger = logging.getLogger(__name__)

MARK_BATCH = 500
REPORT_STATES = ("OPEN", "SUBMITTED", "APPROVED", "REIMBURSED", "ARCHIVED")
ELIGIBLE_STATES = ("APPROVED", "REIMBURSED")


class ExpensifyClient(ExportCalls):
    """Talks to one Expensify partner user's Integration Server account."""

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
                rendered = rendered_report_ids(body)
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
