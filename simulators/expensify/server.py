"""An Expensify Integration Server simulator: strict about requests, honest about answers.

It speaks the one endpoint (form field `requestJobDescription`, credentials inside), answers
errors the way Expensify does (HTTP 200 + responseCode/responseMessage; HTTP 429 over the rate
limits), renders exports asynchronously (the file appears after `render_delay`), applies
markAsExported labels when a non-test render finishes, and serves policy data. Tests steer it
over HTTP under /_sim/: faults, configuration, data, the request log (never the secrets), marks.

Control endpoints (JSON bodies):
  POST /_sim/reset                      back to the data the simulator started with
  POST /_sim/load    {"reports": [...], "policies": {id: {...}}, "credentials": {id: secret},
                      "marks": {reportID: [label]}}   replaces the parts given
  POST /_sim/faults  {"next": [fault, ...], "clear": bool}   one fault per coming API request
  POST /_sim/config  {"rates": [[5, 10], [20, 60]], "render_delay": s,
                      "not_ready_style": "message"|"empty"|"code", "tag_shape": "levels"|"flat",
                      "unmarkable": [reportID, ...]}
  GET  /_sim/requests                   {"requests": [{"at", "type", "partnerUserID", "status",
                                          "filters", "test", "fileName", ...}]}
  GET  /_sim/marks                      {"marks": {reportID: [label, ...]}}
Faults: {"kind": "429", "retry_after": s}, {"kind": "500"|"502"|"503"|"504"},
{"kind": "http", "status": N}, {"kind": "json_error", "code": N|null, "message": "..."},
{"kind": "garbage", "body": "..."}, {"kind": "slow", "seconds": s} (then answers normally),
{"kind": "drop"} (closes the connection without an answer), {"kind": "huge", "bytes": N,
"declare_length": bool} (an export body of N bytes, sent until the client hangs up). Add
"on": "file"|"download"|"get" to aim a fault at one request type.
Config "unmarkable": [reportID, ...] makes marks on those reports silently never stick.
Filters follow Expensify: approvedAfter is exclusive; endDate is required when startDate or
approvedAfter is over a year ago; a window (startDate or approvedAfter to endDate or today) may
not span over a year; reportState is a comma list of OPEN, SUBMITTED, APPROVED, REIMBURSED,
ARCHIVED and only those states are returned.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from simulators.expensify.render import render_export

API_PATH = "/Integration-Server/ExpensifyIntegrations"
DEFAULT_RATES: list[tuple[int, float]] = [(5, 10.0), (20, 60.0)]
REPORT_STATES = frozenset({"OPEN", "SUBMITTED", "APPROVED", "REIMBURSED", "ARCHIVED"})
STATE_BY_STATUS = {
    "open": "OPEN",
    "processing": "SUBMITTED",
    "submitted": "SUBMITTED",
    "approved": "APPROVED",
    "closed": "ARCHIVED",
    "reimbursed": "REIMBURSED",
    "archived": "ARCHIVED",
}


class _Refusal(Exception):
    """An Expensify-style JSON error answer (HTTP 200 + responseCode)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _File:
    ready_at: float
    content: str
    marks: list[tuple[list[str], str]] = field(default_factory=list)
    finished: bool = False


@dataclass
class SimulatorState:
    """Everything the simulator knows; guarded by `lock` (handler threads run concurrently)."""

    credentials: dict[str, str] = field(default_factory=dict)
    reports: list[dict[str, Any]] = field(default_factory=list)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    marks: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, _File] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    rates: list[tuple[int, float]] = field(default_factory=lambda: list(DEFAULT_RATES))
    render_delay: float = 0.0
    not_ready_style: str = "message"  # "message" | "empty" | "code"
    tag_shape: str = "levels"  # "levels" | "flat" (uses a policy's flatTags when it has them)
    unmarkable: set[str] = field(default_factory=set)  # marks on these reports silently never stick
    requests: list[dict[str, Any]] = field(default_factory=list)
    accepted: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    clock: Callable[[], float] = time.time

    def load(self, data: dict[str, Any]) -> None:
        with self.lock:
            if "credentials" in data:
                self.credentials = dict(data["credentials"])
            if "reports" in data:
                self.reports = list(data["reports"])
            if "policies" in data:
                self.policies = dict(data["policies"])
            if "marks" in data:
                self.marks = {str(k): list(v) for k, v in data["marks"].items()}

    def configure(self, config: dict[str, Any]) -> None:
        with self.lock:
            if "rates" in config:
                self.rates = [(int(n), float(w)) for n, w in config["rates"]]
            if "render_delay" in config:
                self.render_delay = float(config["render_delay"])
            if "not_ready_style" in config:
                self.not_ready_style = str(config["not_ready_style"])
            if "tag_shape" in config:
                self.tag_shape = str(config["tag_shape"])
            if "unmarkable" in config:
                self.unmarkable = {str(r) for r in config["unmarkable"]}

    def finish_due_renders(self) -> None:
        """Apply the marks of every render that has finished by now."""
        now = self.clock()
        with self.lock:
            for file in self.files.values():
                if not file.finished and file.ready_at <= now:
                    file.finished = True
                    for report_ids, label in file.marks:
                        for report_id in report_ids:
                            if report_id in self.unmarkable:
                                continue  # the fault: Expensify accepted the job, the mark never stuck
                            labels = self.marks.setdefault(report_id, [])
                            if label not in labels:
                                labels.append(label)


def _report_state(report: dict[str, Any]) -> str:
    return str(report.get("state") or STATE_BY_STATUS.get(str(report.get("status", "")).lower(), ""))


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _parse_date(filters: dict[str, Any], name: str) -> date | None:
    value = filters.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Refusal(410, f"filters.{name} must be a string (yyyy-MM-dd)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _Refusal(410, f"filters.{name} is not a date: {value}") from None


class ExpensifyApi:
    """The request logic, independent of the HTTP plumbing."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    def handle(self, form: dict[str, list[str]], log: dict[str, Any]) -> tuple[int, str, dict[str, str]]:
        """Answer one API request: (HTTP status, body, extra headers)."""
        state = self.state
        try:
            raw = form.get("requestJobDescription")
            if not raw:
                raise _Refusal(410, "Missing requestJobDescription")
            try:
                job = json.loads(raw[0])
            except ValueError:
                raise _Refusal(410, "requestJobDescription is not valid JSON") from None
            if not isinstance(job, dict):
                raise _Refusal(410, "requestJobDescription must be a JSON object")
            log["type"] = job.get("type")
            credentials = job.get("credentials")
            if not isinstance(credentials, dict):
                raise _Refusal(410, "Missing credentials")
            partner = credentials.get("partnerUserID")
            secret = credentials.get("partnerUserSecret")
            if not isinstance(partner, str) or not isinstance(secret, str):
                raise _Refusal(410, "credentials need partnerUserID and partnerUserSecret")
            log["partnerUserID"] = partner
            if self._over_rate(partner):
                log["rate_limited"] = True
                return 429, "You have been rate-limited. Please try again later.", {}
            with state.lock:
                known = state.credentials.get(partner)
            if known is None or known != secret:
                raise _Refusal(500, f"Not authorized to authenticate as user {partner}")
            kind = job.get("type")
            if kind == "file":
                return 200, self._file(job, form, log), {}
            if kind == "download":
                return 200, self._download(job, log), {}
            if kind == "get":
                return 200, self._get(job, partner, log), {}
            raise _Refusal(410, f"Unsupported type: {kind}")
        except _Refusal as refusal:
            log["responseCode"] = refusal.code
            body = json.dumps({"responseCode": refusal.code, "responseMessage": refusal.message})
            return 200, body, {}

    def _over_rate(self, partner: str) -> bool:
        state = self.state
        now = state.clock()
        with state.lock:
            horizon = max((w for _, w in state.rates), default=0.0)
            times = [t for t in state.accepted.get(partner, []) if t > now - horizon]
            for limit, window in state.rates:
                if sum(1 for t in times if t > now - window) >= limit:
                    state.accepted[partner] = times
                    return True
            times.append(now)
            state.accepted[partner] = times
            return False

    def _file(self, job: dict[str, Any], form: dict[str, list[str]], log: dict[str, Any]) -> str:
        state = self.state
        if job.get("onReceive") != {"immediateResponse": ["returnRandomFileName"]}:
            raise _Refusal(410, "onReceive.immediateResponse must be ['returnRandomFileName']")
        settings = job.get("inputSettings")
        if not isinstance(settings, dict) or settings.get("type") != "combinedReportData":
            raise _Refusal(410, "inputSettings.type must be combinedReportData")
        output = job.get("outputSettings")
        if not isinstance(output, dict) or not output.get("fileExtension"):
            raise _Refusal(410, "outputSettings.fileExtension is required")
        template = (form.get("template") or [""])[0]
        if not template.strip():
            raise _Refusal(410, "Missing template")
        # A hash, not the text: lets tests prove the template arrived intact ('+' included).
        log["template_sha256"] = hashlib.sha256(template.encode("utf-8")).hexdigest()
        report_state = settings.get("reportState")
        if not isinstance(report_state, str) or not report_state:
            raise _Refusal(410, "inputSettings.reportState is required (a string)")
        limit_text = settings.get("limit", "1000000")
        if not isinstance(limit_text, str) or not limit_text.isdigit():
            raise _Refusal(410, "inputSettings.limit must be a string of digits")
        test = job.get("test", "false")
        if not isinstance(test, str) or test not in ("true", "false"):
            raise _Refusal(410, "test must be the string 'true' or 'false'")
        filters = settings.get("filters", {})
        if not isinstance(filters, dict):
            raise _Refusal(410, "inputSettings.filters must be an object")
        for name in ("policyIDList", "reportIDList", "markedAsExported"):
            if name in filters and not isinstance(filters[name], str):
                raise _Refusal(410, f"filters.{name} must be a string")
        start = _parse_date(filters, "startDate")
        end = _parse_date(filters, "endDate")
        approved_after = _parse_date(filters, "approvedAfter")
        report_ids = {r.strip() for r in filters.get("reportIDList", "").split(",") if r.strip()}
        if start is None and not report_ids and approved_after is None:
            raise _Refusal(410, "filters.startDate is required unless reportIDList or approvedAfter is given")
        today = date.fromtimestamp(state.clock())
        year_ago = today - timedelta(days=365)
        if start is not None and end is None and start < year_ago:
            raise _Refusal(410, "'endDate' is required when 'startDate' is more than one year ago")
        if approved_after is not None and end is None and approved_after < year_ago:
            raise _Refusal(410, "'endDate' is required when 'approvedAfter' is more than one year ago")
        lower = start or approved_after
        if lower is not None and (end or today) - lower > timedelta(days=365):
            raise _Refusal(410, "The date range may not span more than one year")
        on_finish = job.get("onFinish", [])
        if not isinstance(on_finish, list):
            raise _Refusal(410, "onFinish must be a list")
        labels: list[str] = []
        for action in on_finish:
            if not isinstance(action, dict) or not action.get("actionName"):
                raise _Refusal(410, "onFinish actions need an actionName")
            if action["actionName"] == "markAsExported":
                if not isinstance(action.get("label"), str) or not action["label"]:
                    raise _Refusal(410, "markAsExported needs a label")
                labels.append(action["label"])
        states = {s.strip().upper() for s in report_state.split(",")}
        if not states <= REPORT_STATES:
            unknown = ", ".join(sorted(states - REPORT_STATES))
            raise _Refusal(410, f"inputSettings.reportState has unknown states: {unknown}")
        policy_ids = {p.strip() for p in filters.get("policyIDList", "").split(",") if p.strip()}
        exclude = filters.get("markedAsExported")
        limit = int(limit_text)
        log.update(test=test, filters=filters, limit=limit, onFinish=labels, reportState=report_state)
        state.finish_due_renders()
        selected: list[dict[str, Any]] = []
        with state.lock:
            for report in state.reports:
                report_id = str(report.get("reportID", ""))
                if _report_state(report) not in states:
                    continue
                if policy_ids and str(report.get("policyID", "")) not in policy_ids:
                    continue
                if report_ids and report_id not in report_ids:
                    continue
                if exclude and exclude in state.marks.get(report_id, []):
                    continue
                days = [d for d in (_day(report.get("submitted")), _day(report.get("created"))) if d]
                key = max(days) if days else None
                if start is not None and (key is None or key < start):
                    continue
                if end is not None and (key is None or key > end):
                    continue
                approved = _day(report.get("approved"))
                # approvedAfter is exclusive: approved on that very day does not count.
                if approved_after is not None and (approved is None or approved <= approved_after):
                    continue
                selected.append(report)
                if len(selected) >= limit:
                    break
            name = f"export{uuid.uuid4().hex[:16]}.{output.get('fileExtension')}"
            file = _File(ready_at=state.clock() + state.render_delay, content=render_export(selected))
            if test == "false" and labels:
                ids = [str(r.get("reportID", "")) for r in selected]
                file.marks = [(ids, label) for label in labels]
            state.files[name] = file
        log.update(fileName=name, reports=len(selected))
        return name

    def _download(self, job: dict[str, Any], log: dict[str, Any]) -> str:
        state = self.state
        name = job.get("fileName")
        if not isinstance(name, str) or not name:
            raise _Refusal(410, "fileName is required")
        if job.get("fileSystem") != "integrationServer":
            raise _Refusal(410, "fileSystem must be integrationServer")
        log["fileName"] = name
        state.finish_due_renders()
        with state.lock:
            file = state.files.get(name)
            ready = file is not None and file.finished
            style = state.not_ready_style
        if file is None or not ready:
            log["ready"] = False
            if style == "empty":
                return ""
            if style == "code":
                raise _Refusal(404, "File not found")
            return json.dumps({"responseMessage": "File not found"})
        log["ready"] = True
        return file.content

    def _get(self, job: dict[str, Any], partner: str, log: dict[str, Any]) -> str:
        state = self.state
        settings = job.get("inputSettings")
        if not isinstance(settings, dict):
            raise _Refusal(410, "inputSettings is required")
        kind = settings.get("type")
        log["inputType"] = kind
        with state.lock:
            policies = dict(state.policies)
            shape = state.tag_shape
        if kind == "policyList":
            return json.dumps(
                {
                    "responseCode": 200,
                    "policyList": [
                        {
                            "id": pid,
                            "name": p.get("name", ""),
                            "role": "admin",
                            "type": p.get("type", "corporate"),
                            "outputCurrency": p.get("outputCurrency", "USD"),
                            "owner": p.get("owner", ""),
                        }
                        for pid, p in policies.items()
                        if partner in p.get("admins", [partner])
                    ],
                }
            )
        if kind != "policy":
            raise _Refusal(410, f"Unsupported inputSettings.type: {kind}")
        ids = settings.get("policyIDList")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise _Refusal(410, "inputSettings.policyIDList must be an array of policy IDs")
        fields = settings.get("fields")
        if not isinstance(fields, list) or not fields:
            raise _Refusal(410, "inputSettings.fields must be a non-empty array")
        info: dict[str, Any] = {}
        for pid in ids:
            policy = policies.get(pid)
            if policy is None:
                continue
            if partner not in policy.get("admins", [partner]):
                raise _Refusal(403, f"User {partner} is not an admin of policy {pid}")
            entry: dict[str, Any] = {"name": policy.get("name", "")}
            for name in fields:
                if name == "tags" and shape == "flat" and "flatTags" in policy:
                    entry["tags"] = policy["flatTags"]
                elif name in policy:
                    entry[name] = policy[name]
                else:
                    entry[name] = []
            info[pid] = entry
        if not info:
            raise _Refusal(404, "Policy not found")
        return json.dumps({"responseCode": 200, "policyInfo": info})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return  # the request log at /_sim/requests replaces stderr noise

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: str,
        headers: dict[str, str] | None = None,
        content_type: str = "text/plain; charset=utf-8",
    ) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _json(self, payload: Any, status: int = 200) -> None:
        self._send(status, json.dumps(payload), content_type="application/json")

    def do_GET(self) -> None:
        state = self.server.state
        if self.path == "/_sim/requests":
            with state.lock:
                self._json({"requests": list(state.requests)})
        elif self.path == "/_sim/marks":
            state.finish_due_renders()
            with state.lock:
                self._json({"marks": state.marks})
        elif self.path == "/_sim/health":
            self._json({"ok": True})
        else:
            self._send(404, "Not found")

    def do_POST(self) -> None:
        body = self._body()
        if self.path.startswith("/_sim/"):
            self._control(self.path, body)
            return
        if self.path != API_PATH:
            self._send(404, "Not found")
            return
        self._api(body)

    def _control(self, path: str, body: bytes) -> None:
        state = self.server.state
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            self._json({"error": "body must be JSON"}, 400)
            return
        if path == "/_sim/reset":
            self.server.reset()
        elif path == "/_sim/load":
            state.load(payload)
        elif path == "/_sim/faults":
            with state.lock:
                if payload.get("clear"):
                    state.faults.clear()
                state.faults.extend(payload.get("next", []))
        elif path in ("/_sim/config", "/_sim/rates"):
            state.configure(payload)
        else:
            self._json({"error": "unknown control endpoint"}, 404)
            return
        self._json({"ok": True})

    def _next_fault(self, job_type: str | None) -> dict[str, Any] | None:
        state = self.server.state
        with state.lock:
            for index, fault in enumerate(state.faults):
                if fault.get("on") in (None, job_type):
                    return state.faults.pop(index)
        return None

    def _api(self, body: bytes) -> None:
        state = self.server.state
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        log: dict[str, Any] = {"at": state.clock(), "path": self.path}
        job_type = None
        try:
            job_type = json.loads(form.get("requestJobDescription", ["{}"])[0]).get("type")
        except (ValueError, AttributeError):
            pass
        fault = self._next_fault(job_type)
        try:
            if fault is not None:
                log["fault"] = fault.get("kind")
                if self._apply_fault(fault, log):
                    return
            status, text, headers = ExpensifyApi(state).handle(form, log)
            log["status"] = status
            self._send(status, text, headers)
        finally:
            log.setdefault("type", job_type)
            with state.lock:
                state.requests.append(log)

    def _apply_fault(self, fault: dict[str, Any], log: dict[str, Any]) -> bool:
        """Act out one injected fault; True when the answer has been given (or withheld)."""
        kind = str(fault.get("kind"))
        if kind == "slow":
            time.sleep(float(fault.get("seconds", 2.0)))
            return False
        if kind == "429":
            headers = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else {}
            log["status"] = 429
            self._send(429, "You have been rate-limited. Please try again later.", headers)
        elif kind in ("500", "502", "503", "504", "http"):
            # {"kind": "502"} or {"kind": "http", "status": 418}: any HTTP status, plain body.
            status = int(fault.get("status", 500)) if kind == "http" else int(kind)
            log["status"] = status
            self._send(status, str(fault.get("body", HTTPStatus(status).phrase)))
        elif kind == "json_error":
            log["status"] = 200
            payload: dict[str, Any] = {"responseMessage": fault.get("message", "Error")}
            if fault.get("code") is not None:
                payload = {"responseCode": fault.get("code", 410), **payload}
            self._send(200, json.dumps(payload))
        elif kind == "garbage":
            log["status"] = 200
            self._send(200, str(fault.get("body", "<html><body>Service Unavailable</body></html>")))
        elif kind == "huge":
            self._send_huge(fault, log)
        elif kind == "drop":
            log["status"] = None
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        else:
            return False
        return True


    def _send_huge(self, fault: dict[str, Any], log: dict[str, Any]) -> None:
        """An export body of `bytes` bytes (bounded), sent until done or until the client hangs up.

        With "declare_length": true the Content-Length says the full size up front; otherwise
        the body ends with the connection, so only counting while reading can stop it.
        """
        total = min(int(fault.get("bytes", 64 * 1024 * 1024)), 1 << 31)
        chunk = (json.dumps(_filler_report()) + ",").encode("utf-8") * 64
        head = b'{"reports": ['
        log["status"] = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        if fault.get("declare_length"):
            self.send_header("Content-Length", str(total))
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        sent = 0
        try:
            self.wfile.write(head)
            sent = len(head)
            while sent < total:
                piece = chunk[: total - sent]
                self.wfile.write(piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what the size cap is for
        finally:
            log["sent_bytes"] = sent
            log["huge_total"] = total


def _filler_report() -> dict[str, Any]:
    return {"reportID": "HUGE", "reportName": "x" * 200, "transactions": []}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: SimulatorState, initial: dict[str, Any]) -> None:
        super().__init__(address, _Handler)
        self.state = state
        self._initial = initial

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its timeout, a test's slow-answer fault) closed its end: expected.
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)

    def reset(self) -> None:
        state = self.state
        with state.lock:
            state.reports, state.policies, state.marks = [], {}, {}
            state.files, state.faults, state.requests, state.accepted = {}, [], [], {}
            state.unmarkable = set()
            state.credentials = {}
        state.load(json.loads(json.dumps(self._initial)))


class ExpensifySimulator:
    """The simulator on a loopback port, in a background thread (tests) or in the foreground."""

    def __init__(
        self,
        *,
        data: dict[str, Any] | None = None,
        credentials: dict[str, str] | None = None,
        rates: list[tuple[int, float]] | None = None,
        render_delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        initial = dict(data or {})
        if credentials is not None:
            initial["credentials"] = credentials
        self.state = SimulatorState(render_delay=render_delay)
        if rates is not None:
            self.state.rates = [(int(n), float(w)) for n, w in rates]
        self.state.load(initial)
        self._server = _Server((host, port), self.state, initial)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://{self._server.server_address[0]!s}:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL to give ExpensifyClient (the Integration Server endpoint)."""
        return self.root_url + API_PATH

    def start(self) -> ExpensifySimulator:
        # A short poll interval makes stop() quick (tests start and stop many simulators).
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="expensify-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ExpensifySimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["API_PATH", "DEFAULT_RATES", "ExpensifySimulator", "SimulatorState"]
