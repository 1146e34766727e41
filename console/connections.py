"""What an enabled company's connections must hold: one rule for the company page and the company file.

An enabled company runs on a schedule, so it needs every value its Expensify credential and its
Sage 100 connection cannot work without: the partner user ID and secret; the Sage URL for its
transport, username and password, and the agent API key on the agent transport. A disabled
company may be saved without them. A stored secret counts as present.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

from connector.models import ExpensifyCredential, SageConnection, SageTransport


@dataclass(frozen=True)
class NeededField:
    """One value a connection of an enabled company must hold, named in the operator's words."""

    attr: str
    words: str
    secret: bool = False

    def missing_message(self) -> str:
        """What the company page says when an enabled company lacks this value."""
        if self.secret:
            return (
                f"An enabled company needs the {self.words}: type it (it is stored encrypted and never "
                "shown again)."
            )
        return f"An enabled company needs the {self.words}."


EXPENSIFY_NEEDS = (
    NeededField("partner_user_id", "Expensify partner user ID"),
    NeededField("partner_user_secret", "Expensify partner user secret", secret=True),
)
_SAGE_URL_WORDS: dict[str, str] = {
    SageTransport.AGENT.value: "Sage 100 agent URL (https://host:port)",
    SageTransport.SOAP.value: "Sage 100 SOAP service URL (masservice.svc)",
}


def sage_needs(transport: str) -> tuple[NeededField, ...]:
    """What a Sage 100 connection on this transport needs."""
    needs = [NeededField("base_url", _SAGE_URL_WORDS.get(transport, "Sage 100 URL"))]
    if transport == SageTransport.AGENT:
        needs.append(NeededField("agent_api_key", "Sage 100 agent API key", secret=True))
    needs += [
        NeededField("sage_username", "Sage 100 username"),
        NeededField("sage_password", "Sage 100 password", secret=True),
    ]
    return tuple(needs)


def needed_fields(model: type[models.Model], *, transport: str = "") -> tuple[NeededField, ...]:
    """What a connection of `model` (ExpensifyCredential or SageConnection) needs."""
    if model is ExpensifyCredential:
        return EXPENSIFY_NEEDS
    if model is SageConnection:
        return sage_needs(transport)
    raise ValueError(f"{model.__name__} is not a company connection")


def missing_from(connection: models.Model) -> list[NeededField]:
    """The needed values a stored connection lacks (blank or never set)."""
    transport = str(getattr(connection, "transport", ""))
    needs = needed_fields(type(connection), transport=transport)
    return [need for need in needs if not getattr(connection, need.attr, None)]
