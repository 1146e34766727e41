"""No secret in logs or error texts: DEBUG logging on both transports, zeep/httpx included."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import zeep.exceptions

from connector.sage100.errors import SageError
from connector.sage100.gateway import open_gateway
from connector.sage100.retry import post_with_retries
from connector.sage100.slots import WriteSlots
from connector.sage100.soap import SoapGateway
from simulators.sage100 import SageSimulator
from simulators.sage100.demo import DEMO_AGENT_API_KEY, DEMO_PASSWORD
from tests.sage100.conftest import fast_policy, make_entry, make_settings, set_faults

LOGGERS = ["", "zeep", "zeep.transports", "httpx", "httpcore", "connector", "urllib3"]


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter("%(name)s %(message)s").format(record))


@pytest.fixture
def captured() -> Iterator[Everything]:
    handler = Everything()
    old = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)
    for name, level in old.items():
        logging.getLogger(name).setLevel(level)


def test_no_secret_anywhere(sim: SageSimulator, transport: str, captured: Everything) -> None:
    texts: list[str] = []
    settings = make_settings(sim, transport)
    texts += [repr(settings), str(settings)]
    gateway = open_gateway(settings)
    gateway.account_structure()
    list(gateway.accounts())
    post_with_retries(
        gateway,
        make_entry(),
        idempotency_key="k-secret",
        policy=fast_policy(),
        slots=WriteSlots("ABC", 1, backend="memory"),
    )
    set_faults(sim, {"faults": [{"fault": "timeout_after"}, {"fault": "unavailable", "ops": "read"}]})
    for call in (
        lambda: gateway.post_entry(make_entry(reference="X2"), idempotency_key="k-2"),
        lambda: gateway.periods(2026),
        lambda: open_gateway(make_settings(sim, transport, password=DEMO_PASSWORD + "x")).periods(2026),
        lambda: open_gateway(make_settings(sim, transport, base_url="http://sage.example.com")),
    ):
        try:
            call()
        except SageError as exc:
            texts += [str(exc), repr(exc), exc.message]
            logging.getLogger("connector.sage100").exception("Sage call failed")
        else:
            pytest.fail("expected a SageError")
    assert captured.lines, "DEBUG logging captured nothing"
    everything = "\n".join(captured.lines + texts)
    assert DEMO_PASSWORD not in everything
    assert DEMO_AGENT_API_KEY not in everything


def test_fault_text_is_scrubbed(sim: SageSimulator) -> None:
    gateway = open_gateway(make_settings(sim, "soap"))
    assert isinstance(gateway, SoapGateway)
    fault = zeep.exceptions.Fault(f"Logon failed for password {DEMO_PASSWORD}", code="s:Client")
    error = gateway._from_fault(fault, is_post=False)
    assert error.code == "AUTH_SAGE"
    assert DEMO_PASSWORD not in str(error)
