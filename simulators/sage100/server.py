"""The HTTP front ends: the agent API (/v1/...), the SOAP service and the /_sim/ controls."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from simulators.sage100.core import (
    COMPANY_CODE,
    IDEMPOTENCY_KEY,
    RETRYABLE,
    SHAPED_FAULTS,
    Company,
    DropConnection,
    Fault,
    HtmlError,
    RawAnswer,
    SageBook,
    SimError,
    validate_entry,
)
from simulators.sage100.demo import demo

SOAP_PATH = "/ebusinesswebservices/masservice.svc"
NS = "urn:ml-connector:sage100:gl:v1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
MAX_BODY = 5 * 1024 * 1024
HUGE_CHUNK = 64 * 1024
HTML_PAGE = "<html><head><title>{0}</title></head><body><h1>{0}</h1></body></html>"


# A hostile answer: the connector must refuse it (a DTD with an entity).
DTD_ANSWER = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]>'
    f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><r>&e;</r></s:Body></s:Envelope>'
)


class DtdAnswer(Exception):
    """Fault "dtd": answer with a DTD-carrying envelope."""


class Handler(BaseHTTPRequestHandler):
    server: SimServer
    protocol_version = "HTTP/1.1"
    # The company whose post this request is: in flight until its answer is written.
    writing: Company | None = None

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without NODELAY each answer waits ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet: tests run thousands of requests.
        return

    # -- plumbing ---------------------------------------------------------------------------
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise HtmlError(413)
        return self.rfile.read(length) if length else b""

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _html(self, status: int) -> None:
        self._send(status, HTML_PAGE.format(f"HTTP Error {status}").encode(), "text/html")

    def _drop(self) -> None:
        self.close_connection = True

    def do_GET(self) -> None:
        if self.path == "/_sim/stats":
            self._json(200, self.server.book.stats())
        elif self.path.startswith("/_sim/entries/"):
            self._json(200, self.server.book.entries(self.path.rsplit("/", 1)[1]))
        else:
            self._html(405 if self.path.startswith(("/v1/", SOAP_PATH)) else 404)

    def do_POST(self) -> None:
        try:
            body = self._body()
        except HtmlError as exc:
            self._html(exc.status)
            return
        path = self.path.split("?", 1)[0]
        self.writing = None
        try:
            if path.startswith("/_sim/"):
                self._control(path, body)
            elif path.startswith("/v1/"):
                self._agent(path, body)
            elif path == SOAP_PATH:
                self._soap(body)
            else:
                self._html(404)
        except DropConnection:
            self._drop()
        except DtdAnswer:
            self._send(200, DTD_ANSWER.encode(), "text/xml; charset=utf-8")
        except HtmlError as exc:
            self._html(exc.status)
        except RawAnswer as exc:
            self._raw(exc.fault)
        finally:
            # A write counts until its answer is on the wire or the connection is given up.
            if self.writing is not None:
                self.server.book.end_write(self.writing)
                self.writing = None

    # -- answers shaped by a fault ------------------------------------------------------------
    def _raw(self, fault: Fault) -> None:
        """A proxy's answer: no contract envelope (or an unlisted code), or a cut-off body."""
        status = fault.status
        if fault.body == "empty":
            self._send(status, b"", "text/plain")
        elif fault.body == "text":
            self._send(status, f"HTTP {status} from a proxy".encode(), "text/plain")
        elif fault.body == "json":
            error = {"code": fault.code or "NOT_FOUND", "message": "No such route."}
            self._json(status, {"error": error})
        elif fault.body == "cut":
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b'{"entryNo": "0')
            self._drop()
        else:
            self._html(status)

    def _trickle(self, status: int, body: bytes, content_type: str, fault: Fault) -> None:
        """The answer `fault.chunk` bytes every `fault.every` s; cut off after `fault.seconds`."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        started = time.monotonic()
        chunk = fault.chunk
        if fault.duration and fault.every:
            pieces = max(1, int(fault.duration / fault.every))
            chunk = max(1, -(-len(body) // pieces))
        for i in range(0, len(body), chunk):
            time.sleep(fault.every)
            if time.monotonic() - started > fault.seconds:
                self._drop()
                return
            self.wfile.write(body[i : i + chunk])

    def _huge(self, status: int, content_type: str, fault: Fault) -> None:
        """`fault.size` bytes (at most `fault.seconds` of writing), until the client hangs up."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if fault.length:
            self.send_header("Content-Length", str(fault.size))
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        started = time.monotonic()
        sent = 0
        piece = b"x" * HUGE_CHUNK
        try:
            while sent < fault.size and time.monotonic() - started < fault.seconds:
                part = piece[: fault.size - sent]
                self.wfile.write(part)
                sent += len(part)
        except (BrokenPipeError, ConnectionResetError):
            return
        finally:
            self.server.book.note_sent(sent)

    # -- controls ---------------------------------------------------------------------------
    def _control(self, path: str, body: bytes) -> None:
        book = self.server.book
        payload = json.loads(body or b"{}")
        if path == "/_sim/reset":
            book.reset()
        elif path == "/_sim/config":
            book.load(payload)
        elif path == "/_sim/faults":
            book.set_faults(payload)
        else:
            self._html(404)
            return
        self._json(200, {"ok": True})

    # -- the agent API ----------------------------------------------------------------------
    def _agent(self, path: str, body: bytes) -> None:
        book = self.server.book
        book.count(path)
        try:
            status, answer, after = self._agent_call(path, body)
        except SimError as err:
            headers = {"Retry-After": str(err.retry_after)} if err.retry_after is not None else {}
            error = {"code": err.code, "message": err.message, "retryable": err.code in RETRYABLE}
            self._json(err.status, {"error": error}, headers)
            return
        if after is not None:
            self._after_commit(after, status, json.dumps(answer).encode(), "application/json", soap=False)
            return
        self._json(status, answer)

    def _after_commit(
        self, fault: Fault, status: int, body: bytes, content_type: str, *, soap: bool
    ) -> None:
        """The operation ran (a write committed); now answer the way the fault says."""
        if fault.fault == "trickle":
            self._trickle(status, body, content_type, fault)
            return
        if fault.fault == "huge":
            self._huge(status, content_type, fault)
            return
        if fault.fault == "answer_after":
            raise RawAnswer(fault)
        if fault.fault == "drop_after":
            raise DropConnection
        if fault.html:
            raise HtmlError(504)
        if soap:
            self._fault(SimError("SAGE_TIMEOUT", "BOI did not answer in time."))
        else:
            error = {"code": "SAGE_TIMEOUT", "message": "BOI did not answer in time.", "retryable": True}
            self._json(504, {"error": error})

    def _agent_call(self, path: str, body: bytes) -> tuple[int, Any, Fault | None]:
        book = self.server.book
        routes = {
            "/v1/ping": "ping",
            "/v1/gl/account-structure": "structure",
            "/v1/gl/accounts": "accounts",
            "/v1/gl/periods": "periods",
            "/v1/gl/journal-entries": "post",
            "/v1/gl/journal-entries/lookup": "lookup",
            "/v1/gl/journal-entries/search": "search",
        }
        op = routes.get(path)
        if op is None:
            raise HtmlError(404)
        book.check_api_key(self.headers.get("Authorization"))
        request = self._schema(op, body)
        logon = request["logon"]
        company, fault = book.logon(logon["username"], logon["password"], request["companyCode"], op)
        if op == "post":
            self.writing = company
            key = self.headers.get("Idempotency-Key", "")
            return book.post(company, key, request["entry"], fault)
        shaped = fault if fault is not None and fault.fault in SHAPED_FAULTS else None
        status, answer = self._agent_read(op, request, company, fault)
        return status, answer, shaped

    def _agent_read(
        self, op: str, request: dict[str, Any], company: Company, fault: Fault | None
    ) -> tuple[int, Any]:
        book = self.server.book
        if op == "ping":
            return 200, book.ping(company, fault)
        if op == "structure":
            return 200, book.structure(company, fault)
        if op == "accounts":
            accounts = book.accounts(company, request.get("status"), fault)
            cursor = request.get("cursor")
            start = int(cursor[1:]) if cursor else 0
            size = min(int(request.get("limit", 1000)), book.page_size)
            page = accounts[start : start + size]
            more = start + size < len(accounts)
            return 200, {"accounts": page, "nextCursor": f"c{start + size}" if more else None}
        if op == "periods":
            return 200, {"periods": book.periods(company, request["fiscalYear"], fault)}
        if op == "lookup":
            found = book.lookup(company, request.get("idempotencyKey"), request.get("reference"), fault)
            return 200, ({"found": True, "entry": found} if found else {"found": False})
        entries = book.search(
            company,
            request.get("reference"),
            request.get("referencePrefix"),
            request.get("postingDateFrom"),
            request.get("postingDateTo"),
            fault,
        )
        # The cursor is the last entryNo given: entries posted meanwhile come after it.
        after = request.get("cursor")
        if after is not None:
            entries = [e for e in entries if e["entryNo"] > after[1:]]
        size = min(int(request.get("limit", 500)), book.page_size)
        page = entries[:size]
        more = len(entries) > size
        return 200, {"entries": page, "nextCursor": f"e{page[-1]['entryNo']}" if more else None}

    def _schema(self, op: str, body: bytes) -> dict[str, Any]:
        """The request-schema step of the order of checks."""

        def bad(message: str) -> SimError:
            return SimError("VALIDATION", message)

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
        ):
            raise bad("logon.username and logon.password are required text.")
        code = request.get("companyCode")
        if not isinstance(code, str) or not COMPANY_CODE.match(code):
            raise bad("companyCode must be 3 uppercase letters or digits.")
        if op == "accounts":
            status = request.get("status")
            if status is not None and status not in ("A", "I", "D"):
                raise bad("status must be A, I, D or absent.")
            cursor = request.get("cursor")
            if cursor is not None and (not isinstance(cursor, str) or not cursor[1:].isdigit()):
                raise bad("cursor is not one this agent gave.")
            limit = request.get("limit", 1000)
            if type(limit) is not int or not 1 <= limit <= 1000:
                raise bad("limit must be a whole number 1-1000.")
        elif op == "periods":
            if type(request.get("fiscalYear")) is not int:
                raise bad("fiscalYear must be a whole number.")
        elif op == "search":
            self._search_schema(request)
        elif op == "lookup":
            key, ref = request.get("idempotencyKey"), request.get("reference")
            if (key is None) == (ref is None):
                raise bad("Give exactly one of idempotencyKey and reference.")
            if not isinstance(key if key is not None else ref, str):
                raise bad("idempotencyKey / reference must be text.")
        elif op == "post":
            key = self.headers.get("Idempotency-Key")
            if key is None or not IDEMPOTENCY_KEY.match(key):
                raise bad("The Idempotency-Key header is required (1-255 visible ASCII).")
            request["entry"] = validate_entry(request.get("entry"))
        return request

    @staticmethod
    def _search_schema(request: dict[str, Any]) -> None:
        """Exactly one of reference / (referencePrefix, postingDateFrom, postingDateTo)."""

        def bad(message: str) -> SimError:
            return SimError("VALIDATION", message)

        ranged = ("referencePrefix", "postingDateFrom", "postingDateTo")
        if "reference" in request and request["reference"] is not None:
            if any(request.get(name) is not None for name in ranged):
                raise bad("Give reference, or referencePrefix with both dates, not both.")
            if not isinstance(request["reference"], str):
                raise bad("reference must be text.")
        else:
            if any(request.get(name) is None for name in ranged):
                raise bad("Give reference, or referencePrefix with postingDateFrom and postingDateTo.")
            if not isinstance(request["referencePrefix"], str):
                raise bad("referencePrefix must be text.")
            for name in ranged[1:]:
                if not isinstance(request[name], str) or not _is_date(request[name]):
                    raise bad(f"{name} must be a date YYYY-MM-DD.")
        cursor = request.get("cursor")
        if cursor is not None and (not isinstance(cursor, str) or not cursor.startswith("e")):
            raise bad("cursor is not one this agent gave.")
        limit = request.get("limit", 500)
        if type(limit) is not int or not 1 <= limit <= 1000:
            raise bad("limit must be a whole number 1-1000.")

    # -- the SOAP service -------------------------------------------------------------------
    def _fault(self, err: SimError) -> None:
        server_side = err.code in RETRYABLE
        retry = f"<RetryAfter>{err.retry_after}</RetryAfter>" if err.retry_after is not None else ""
        body = (
            f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><s:Fault>'
            f"<faultcode>s:{'Server' if server_side else 'Client'}</faultcode>"
            f"<faultstring>{escape(err.message)}</faultstring>"
            f'<detail><MASFault xmlns="{NS}"><Code>{err.code}</Code>'
            f"<Message>{escape(err.message)}</Message>{retry}</MASFault></detail>"
            "</s:Fault></s:Body></s:Envelope>"
        )
        self._send(500, body.encode(), "text/xml; charset=utf-8")

    def _soap(self, body: bytes) -> None:
        self.server.book.count("soap")
        try:
            op, response, after = self._soap_call(body)
        except SimError as err:
            self._fault(err)
            return
        envelope = (
            f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body>'
            f'<{op}Response xmlns="{NS}">{response}</{op}Response></s:Body></s:Envelope>'
        )
        if after is not None:
            self._after_commit(after, 200, envelope.encode(), "text/xml; charset=utf-8", soap=True)
            return
        self._send(200, envelope.encode(), "text/xml; charset=utf-8")

    def _soap_call(self, body: bytes) -> tuple[str, str, Fault | None]:
        from simulators.sage100 import soapsim

        book = self.server.book
        if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
            raise SimError("VALIDATION", "DTDs and entity declarations are refused.")
        if not self.headers.get("Content-Type", "").startswith("text/xml"):
            raise SimError("VALIDATION", "Content-Type must be text/xml.")
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        try:
            root = etree.fromstring(body, parser)
        except etree.XMLSyntaxError:
            raise SimError("VALIDATION", "The request is not well-formed XML.") from None
        op, request = soapsim.parse_request(root, self.headers.get("SOAPAction", ""))
        logon = request["logon"]
        kind = soapsim.KIND[op]
        company, fault = book.logon(logon["Username"], logon["Password"], request["companyCode"], kind)
        if fault is not None and fault.fault == "dtd":
            raise DtdAnswer
        if op == "CreateGLJournalEntry":
            self.writing = company
            _status, answer, after = book.post(company, request["idempotencyKey"], request["entry"], fault)
            return op, soapsim.result_xml(answer), after
        shaped = fault if fault is not None and fault.fault in SHAPED_FAULTS else None
        return op, soapsim.read_response(book, op, company, request, fault), shaped


def _is_date(text: str) -> bool:
    from datetime import date

    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], book: SageBook) -> None:
        super().__init__(address, Handler)
        self.book = book

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout) closes its end: that is expected, not an error.
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class SageSimulator:
    """The simulator in a thread: start(), base_url, soap_url, stop(); also the control API."""

    def __init__(self, config: dict[str, Any] | None = None, port: int = 0) -> None:
        self.book = SageBook(config if config is not None else demo())
        self.server = SimServer(("127.0.0.1", port), self.book)
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def soap_url(self) -> str:
        return self.base_url + SOAP_PATH

    def start(self) -> SageSimulator:
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
