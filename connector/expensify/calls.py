"""One Expensify call: the form POST with the partner's credentials, and what its answer says.

Every call is one POST of a form with `requestJobDescription` (JSON, credentials inside) and,
for exports, `template`. Answers come as text/plain whatever they hold, so the body decides:
a JSON answer with responseCode/responseMessage is classified here into ExpensifyError types.
`ExpensifyCalls` is the base of `ExpensifyClient` (construction, transport, retry); the
operations live in exports.py and client.py.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any, Self, TypeVar

from connector.expensify.errors import (
    ExpensifyAuthError,
    ExpensifyError,
    ExpensifyPermanentError,
    ExpensifyProtocolError,
    ExpensifyTransientError,
)
from connector.expensify.pacing import RateLimiter, shared_limiter
from connector.expensify.transport import (
    SMALL_ANSWER,
    Answer,
    ExpensifyTransport,
    RetryPolicy,
    check_base_url,
)
from connector.expensify.types import ExportStats
from connector.logs import register_secret

T = TypeVar("T")
_AUTH_WORDS = re.compile(
    r"authenticat|not authori[sz]ed|credential|partnerusersecret|partneruserid|password|"
    r"unauthori[sz]ed|invalid partner",
    re.IGNORECASE,
)


class ExpensifyCalls:
    """One Expensify partner user's connection: its transport, retry policy and call protocol."""

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
        return f"{type(self).__name__}(base_url={self.base_url!r}, partner_user_id={self.partner_user_id!r})"

    def close(self) -> None:
        """Close the HTTP connection pool (also done by `with ExpensifyClient(...)`)."""
        self.transport.close()

    def __enter__(self) -> Self:
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


__all__ = ["ExpensifyCalls"]
