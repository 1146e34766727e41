"""The HTTP side (WSGI): routes, API key, size limit, request schema, the error envelope.

Order of checks: API key → size → request schema (VALIDATION) → then mlc_agent.service.
A path outside the contract answers a bare 404/405 (no envelope), as the contract wants.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import TYPE_CHECKING, Any

from mlc_agent.errors import AgentError
from mlc_agent.security import check_api_key
from mlc_agent.service import Agent

if TYPE_CHECKING:
    from mlc_agent.simcontrol import SimControl

log = logging.getLogger("mlc_agent.api")
COMPANY = re.compile(r"^[A-Z0-9]{3}$")
KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
AMOUNT = re.compile(r"^\d{1,12}\.\d{2}$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ROUTES = {
    "/v1/ping": "ping",
    "/v1/gl/account-structure": "structure",
    "/v1/gl/accounts": "accounts",
    "/v1/gl/periods": "periods",
    "/v1/gl/journal-entries": "post",
    "/v1/gl/journal-entries/lookup": "lookup",
    "/v1/gl/journal-entries/search": "search",
}
HEALTH = "/v1/health"
TEST_FAULTS = "/_test/faults"
TEST_STATS = "/_test/stats"

StartResponse = Callable[..., Any]


def bad(message: str) -> AgentError:
    return AgentError("VALIDATION", message)


def _date(value: Any, name: str) -> str:
    if not isinstance(value, str) or not DAY.match(value):
        raise bad(f"{name} must be a date YYYY-MM-DD.")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise bad(f"{name} is not a calendar date.") from None
    return value


def _text(value: Any, name: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise bad(f"{name} must be text of at most {limit} characters.")
    return value


def _cents(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int(frac)


def normalize_entry(entry: Any) -> dict[str, Any]:
    """The schema checks of a journal entry; returns it normalized (absent comments = "")."""
    if not isinstance(entry, dict):
        raise bad("entry must be an object.")
    for name in ("sourceJournal", "postingDate", "reference", "lines"):
        if name not in entry:
            raise bad(f"entry.{name} is required.")
    sj = entry["sourceJournal"]
    if not isinstance(sj, str) or len(sj) != 2 or CONTROL.search(sj):
        raise bad("entry.sourceJournal must be 2 characters.")
    ref = entry["reference"]
    if not isinstance(ref, str) or not 1 <= len(ref) <= 30 or CONTROL.search(ref):
        raise bad("entry.reference must be 1-30 characters without control characters.")
    lines = entry["lines"]
    if not isinstance(lines, list) or len(lines) < 2:
        raise bad("entry.lines must hold at least 2 lines.")
    out_lines = []
    for i, line in enumerate(lines):
        where = f"entry.lines[{i}]"
        if not isinstance(line, dict):
            raise bad(f"{where} must be an object.")
        for name in ("account", "debit", "credit"):
            if name not in line:
                raise bad(f"{where}.{name} is required.")
        if not isinstance(line["account"], str) or not line["account"] or len(line["account"]) > 41:
            raise bad(f"{where}.account must be text of 1-41 characters.")
        for name in ("debit", "credit"):
            if not isinstance(line[name], str) or not AMOUNT.match(line[name]):
                raise bad(f"{where}.{name} must be a string like 125.40.")
        if (_cents(line["debit"]) == 0) == (_cents(line["credit"]) == 0):
            raise bad(f"{where} must have exactly one non-zero side.")
        out_lines.append(
            {
                "account": line["account"],
                "debit": line["debit"],
                "credit": line["credit"],
                "comment": _text(line.get("comment"), f"{where}.comment", 60),
            }
        )
    return {
        "sourceJournal": sj,
        "postingDate": _date(entry["postingDate"], "entry.postingDate"),
        "reference": ref,
        "comment": _text(entry.get("comment"), "entry.comment", 2048),
        "lines": out_lines,
    }


def _cursor_and_limit(request: dict[str, Any], default: int) -> None:
    cursor = request.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise bad("cursor must be text or null.")
    limit = request.setdefault("limit", default)
    if type(limit) is not int or not 1 <= limit <= 1000:
        raise bad("limit must be a whole number 1-1000.")


def check_schema(op: str, body: bytes, key: str | None) -> dict[str, Any]:
    """The request-schema step: bad JSON, wrong types, missing members, bad companyCode, no key."""
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise bad("The body is not valid JSON.") from None
    if not isinstance(request, dict):
        raise bad("The body must be a JSON object.")
    logon = request.get("logon")
    if (
        not isinstance(logon, dict)
        or not isinstance(logon.get("username"), str)
        or not isinstance(logon.get("password"), str)
        or not logon["username"]
    ):
        raise bad("logon.username and logon.password are required text.")
    code = request.get("companyCode")
    if not isinstance(code, str) or not COMPANY.match(code):
        raise bad("companyCode must be 3 uppercase letters or digits.")
    if op == "accounts":
        if request.get("status") not in (None, "A", "I", "D"):
            raise bad("status must be A, I, D or absent.")
        _cursor_and_limit(request, 1000)
    elif op == "periods":
        if type(request.get("fiscalYear")) is not int:
            raise bad("fiscalYear must be a whole number.")
    elif op == "lookup":
        key_, ref = request.get("idempotencyKey"), request.get("reference")
        if (key_ is None) == (ref is None):
            raise bad("Give exactly one of idempotencyKey and reference.")
        if not isinstance(key_ if key_ is not None else ref, str):
            raise bad("idempotencyKey / reference must be text.")
        if key_ is not None and not KEY.match(key_):
            raise bad("idempotencyKey must be 1-255 visible ASCII characters.")
    elif op == "search":
        if "reference" in request:
            if not isinstance(request["reference"], str) or "referencePrefix" in request:
                raise bad("reference must be text, without referencePrefix.")
        else:
            if not isinstance(request.get("referencePrefix"), str):
                raise bad("Give reference, or referencePrefix with postingDateFrom and postingDateTo.")
            _date(request.get("postingDateFrom"), "postingDateFrom")
            _date(request.get("postingDateTo"), "postingDateTo")
        _cursor_and_limit(request, 500)
    elif op == "post":
        if key is None or not KEY.match(key):
            raise bad("The Idempotency-Key header is required (1-255 visible ASCII characters).")
        request["entry"] = normalize_entry(request.get("entry"))
    return request


class Closing:
    """A response body whose close() runs a callback once the server has written it."""

    def __init__(self, body: bytes, on_close: Callable[[], None]) -> None:
        self._body = body
        self._on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        yield self._body

    def close(self) -> None:
        self._on_close()


class App:
    """The WSGI application around one Agent."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.config = agent.config
        # The simulator-shaped controls (/_sim/...): only in test mode, which needs the fake BOI.
        self.control: SimControl | None = None
        sage = getattr(agent.provider, "sage", None)
        if self.config.test_mode and sage is not None:
            from mlc_agent.simcontrol import SimControl

            self.control = SimControl(agent, sage)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            return self._route(environ, path, method, start_response)
        except AgentError as err:
            return self._error(err, start_response)
        except Exception:
            log.exception("unexpected error answering %s", path)
            return self._error(
                AgentError("SAGE_UNAVAILABLE", "The agent failed; see its log."), start_response
            )

    def _route(
        self, environ: dict[str, Any], path: str, method: str, start_response: StartResponse
    ) -> Iterable[bytes]:
        op = ROUTES.get(path)
        control = self.control
        testing = self.config.test_mode and path in (TEST_FAULTS, TEST_STATS)
        simulated = control is not None and control.handles(path)
        if op is None and path != HEALTH and not testing and not simulated:
            return self._bare(404, start_response)
        if control is not None and op is not None:
            control.count(path)
        if simulated and control is not None:
            expected = control.method(path)
        else:
            expected = "GET" if path in (HEALTH, TEST_STATS) else "POST"
        if method != expected:
            return self._bare(405, start_response)
        self._authorize(environ)
        if path == HEALTH:
            return self._json(200, {"status": "ok"}, start_response)
        body = self._read_body(environ)
        if testing:
            return self._test_control(path, body, start_response)
        if simulated and control is not None:
            return self._sim_control(control, path, body, start_response)
        key = environ.get("HTTP_IDEMPOTENCY_KEY")
        request = check_schema(op or "", body, key)
        if control is None:
            return self._operation(op or "", request, key, start_response)
        with control.armed(op or "", request["companyCode"]) as armed:
            answer = self._operation(op or "", request, key, start_response)
        if armed is not None and armed["fault"] == "drop_after" and isinstance(answer, Closing):
            return Dropped(answer)
        return answer

    def _operation(
        self, op: str, request: dict[str, Any], key: str | None, start_response: StartResponse
    ) -> Iterable[bytes]:
        if op == "post":
            status, answer, release = self.agent.post(request, key or "")
            try:
                payload = json.dumps(answer).encode()
                start_response(f"{status} {'OK' if status == 200 else 'Created'}", self._headers(payload))
            except BaseException:
                release()
                raise
            return Closing(payload, release)
        handler = getattr(self.agent, op)
        return self._json(200, handler(request), start_response)

    def _sim_control(
        self, control: SimControl, path: str, body: bytes, start_response: StartResponse
    ) -> Iterable[bytes]:
        from mlc_agent.simcontrol import ENTRIES, ControlError

        try:
            if path == "/_sim/stats":
                return self._json(200, control.stats(), start_response)
            if path.startswith(ENTRIES):
                entries = control.entries(path[len(ENTRIES) :])
                if entries is None:
                    return self._bare(404, start_response)
                return self._json(200, entries, start_response)
            if path == "/_sim/faults":
                control.set_faults(json.loads(body or b"{}"))
            elif path == "/_sim/reset":
                control.reset()
            else:
                return self._bare(404, start_response)
        except (ControlError, ValueError, TypeError, AttributeError) as exc:
            raise bad(f"Control request refused: {exc}") from None
        return self._json(200, {"ok": True}, start_response)

    def _authorize(self, environ: dict[str, Any]) -> None:
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, presented = header.partition(" ")
        if (
            scheme.lower() != "bearer"
            or not presented
            or not check_api_key(presented.strip(), self.config.api_key_hash)
        ):
            raise AgentError("AUTH_AGENT", "The agent API key is missing or wrong.")

    def _read_body(self, environ: dict[str, Any]) -> bytes:
        limit = self.config.max_body_bytes
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise bad("Content-Length is not a number.") from None
        if length > limit:
            raise RequestTooLarge(limit)
        data = environ["wsgi.input"].read(length) if length else environ["wsgi.input"].read(limit + 1)
        if len(data) > limit:
            raise RequestTooLarge(limit)
        return bytes(data)

    def _test_control(self, path: str, body: bytes, start_response: StartResponse) -> Iterable[bytes]:
        sage = getattr(self.agent.provider, "sage", None)
        if sage is None:
            return self._bare(404, start_response)
        if path == TEST_FAULTS:
            sage.set_faults(json.loads(body or b"{}").get("faults", []))
            return self._json(200, {"ok": True}, start_response)
        stats = sage.snapshot()
        stats.update(
            sessionsOpened=self.agent.pool.opened,
            writePeak=dict(self.agent.slots.peak),
            store=self.agent.store.counts(),
        )
        return self._json(200, stats, start_response)

    @staticmethod
    def _headers(payload: bytes, extra: dict[str, str] | None = None) -> list[tuple[str, str]]:
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        headers += list((extra or {}).items())
        return headers

    def _json(self, status: int, body: Any, start_response: StartResponse) -> list[bytes]:
        payload = json.dumps(body).encode()
        start_response(f"{status} OK", self._headers(payload))
        return [payload]

    def _error(self, err: AgentError, start_response: StartResponse) -> list[bytes]:
        payload = json.dumps(err.body()).encode()
        extra = {"Retry-After": str(err.retry_after)} if err.retry_after is not None else {}
        if isinstance(err, RequestTooLarge):
            extra["Connection"] = "close"
        start_response(f"{err.status} Error", self._headers(payload, extra))
        return [payload]

    @staticmethod
    def _bare(status: int, start_response: StartResponse) -> list[bytes]:
        payload = b"Not Found" if status == 404 else b"Method Not Allowed"
        start_response(
            f"{status} {payload.decode()}",
            [("Content-Type", "text/plain"), ("Content-Length", str(len(payload)))],
        )
        return [payload]


class Dropped:
    """Test mode's `drop_after`: the post ran (and committed); its connection closes unanswered."""

    def __init__(self, answer: Closing) -> None:
        self._answer = answer

    def __iter__(self) -> Iterator[bytes]:
        raise ConnectionAbortedError("test mode: drop_after")

    def close(self) -> None:
        self._answer.close()


class RequestTooLarge(AgentError):
    """A body over `max_body_bytes`: 413 with a VALIDATION envelope, connection closed."""

    def __init__(self, limit: int) -> None:
        super().__init__("VALIDATION", f"The request is larger than {limit} bytes.")

    @property
    def status(self) -> int:
        return 413
