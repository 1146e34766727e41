"""The one way the connector talks to Sage 100: `open_gateway(settings_for_company(company))`.

Two transports implement `SageGateway`: the Windows agent (HTTP JSON, `agent.py`) and the
SOAP service (zeep, `soap.py`). Both raise only `connector.sage100.errors` types.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Protocol

from connector.hosts import url_refused
from connector.limits import (
    MAX_CONNECT_TIMEOUT_SECONDS,
    MAX_READ_TIMEOUT_SECONDS,
    MIN_TIMEOUT_SECONDS,
)
from connector.logs import register_secret
from connector.sage100.errors import SageCompanyError
from connector.sage100.types import (
    AccountStructure,
    FiscalPeriod,
    FoundEntry,
    GLAccountInfo,
    JournalEntryPayload,
    PingInfo,
    PostResult,
)

if TYPE_CHECKING:
    from connector.models import Company

HIDDEN = "********"
DEFAULT_MAX_ANSWER_BYTES = 10 * 1024 * 1024


def _bounded(value: float, upper: float) -> float:
    return min(max(float(value), MIN_TIMEOUT_SECONDS), float(upper))


@dataclass(frozen=True)
class SageSettings:
    """How to reach one company's Sage 100; secrets never appear in its repr."""

    transport: str  # "agent" or "soap"
    base_url: str
    agent_api_key: str
    username: str
    password: str
    company_code: str
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    # None: the SAGE_MAX_ANSWER_BYTES setting.
    max_answer_bytes: int | None = None
    # The agent's own certificate (PEM) to trust instead of the system's authorities; never in repr.
    agent_certificate: str = ""

    def __post_init__(self) -> None:
        # A company file once held read_timeout 100000: clamp whatever reaches the gateway.
        connect = _bounded(self.connect_timeout, MAX_CONNECT_TIMEOUT_SECONDS)
        object.__setattr__(self, "connect_timeout", connect)
        object.__setattr__(self, "read_timeout", _bounded(self.read_timeout, MAX_READ_TIMEOUT_SECONDS))

    @property
    def answer_limit(self) -> int:
        """The largest answer body read from Sage, in bytes (SAGE_MAX_ANSWER_BYTES)."""
        if self.max_answer_bytes is not None:
            return int(self.max_answer_bytes)
        from django.conf import settings

        return int(getattr(settings, "SAGE_MAX_ANSWER_BYTES", DEFAULT_MAX_ANSWER_BYTES))

    @property
    def longest_call_seconds(self) -> float:
        """How long one call may stay open at most (see MAX_CALL_SECONDS)."""
        return self.connect_timeout + 2 * self.read_timeout

    def __repr__(self) -> str:
        return (
            f"SageSettings(transport={self.transport!r}, base_url={self.base_url!r}, "
            f"agent_api_key={HIDDEN if self.agent_api_key else ''!r}, "
            f"username={self.username!r}, password={HIDDEN if self.password else ''!r}, "
            f"company_code={self.company_code!r}, connect_timeout={self.connect_timeout}, "
            f"read_timeout={self.read_timeout}, "
            f"agent_certificate={'pinned' if self.agent_certificate.strip() else 'system trust'!r})"
        )

    __str__ = __repr__

    def scrub(self, text: str) -> str:
        """`text` with the password and agent key blanked (Sage's words go into messages)."""
        for secret in (self.password, self.agent_api_key):
            if secret:
                text = text.replace(secret, HIDDEN)
        return text


class SageGateway(Protocol):
    """What the engine, the admin and the commands may ask of Sage 100."""

    def ping(self) -> PingInfo: ...

    def account_structure(self) -> AccountStructure: ...

    def accounts(self, status: str | None = None) -> Iterator[GLAccountInfo]: ...

    def periods(self, fiscal_year: int) -> list[FiscalPeriod]: ...

    def post_entry(self, entry: JournalEntryPayload, *, idempotency_key: str) -> PostResult: ...

    def lookup(
        self, *, idempotency_key: str | None = None, reference: str | None = None
    ) -> FoundEntry | None: ...

    def search(
        self,
        *,
        reference: str | None = None,
        reference_prefix: str | None = None,
        posting_date_from: date | None = None,
        posting_date_to: date | None = None,
    ) -> list[FoundEntry]: ...

    def close(self) -> None: ...


def check_search(
    reference: str | None,
    reference_prefix: str | None,
    posting_date_from: date | None,
    posting_date_to: date | None,
) -> None:
    """Exactly one of: a reference, or a prefix with both posting dates (ValueError otherwise)."""
    ranged = (reference_prefix, posting_date_from, posting_date_to)
    if reference is not None:
        if any(v is not None for v in ranged):
            raise ValueError("search takes a reference, or a prefix with dates, not both")
        return
    if any(v is None for v in ranged):
        raise ValueError("search takes a reference, or reference_prefix with both posting dates")
    assert posting_date_from is not None and posting_date_to is not None
    if posting_date_from > posting_date_to:
        raise ValueError("posting_date_from is after posting_date_to")


def check_url(url: str, *, company_code: str) -> None:
    """The URL policy (connector.hosts.url_refused) as a CONFIG error naming the company."""
    refused = url_refused(url)
    if refused is not None:
        raise SageCompanyError("CONFIG", f"The Sage 100 URL {url!r} for company {company_code} {refused}.")


def open_gateway(settings: SageSettings) -> SageGateway:
    """A connected gateway for the settings' transport; close() it when done."""
    check_url(settings.base_url, company_code=settings.company_code)
    register_secret(settings.password)
    register_secret(settings.agent_api_key)
    if settings.transport == "agent":
        from connector.sage100.agent import AgentGateway

        return AgentGateway(settings)
    if settings.transport == "soap":
        from connector.sage100.soap import SoapGateway

        return SoapGateway(settings)
    raise SageCompanyError(
        "CONFIG",
        f"Company {settings.company_code} names an unknown Sage 100 transport "
        f"{settings.transport!r}; use 'agent' or 'soap'.",
    )


def settings_for_company(company: Company) -> SageSettings:
    """The company's Sage connection as settings; a missing connection is a CONFIG error."""
    from connector.fields import SecretDecryptionError
    from connector.models import SageConnection

    try:
        conn = company.sage
    except SageConnection.DoesNotExist:
        raise SageCompanyError(
            "CONFIG", f"Company {company.code} has no Sage 100 connection set up."
        ) from None
    except SecretDecryptionError as exc:
        raise SageCompanyError("CONFIG", f"Company {company.code}: {exc}") from None
    register_secret(conn.sage_password)
    register_secret(conn.agent_api_key)
    return SageSettings(
        transport=conn.transport,
        base_url=conn.base_url,
        agent_api_key=conn.agent_api_key or "",
        username=conn.sage_username,
        password=conn.sage_password or "",
        company_code=company.code,
        connect_timeout=float(conn.connect_timeout),
        read_timeout=float(conn.read_timeout),
        agent_certificate=conn.agent_certificate or "",
    )
