"""zeep's transport for the SOAP gateway: the packaged WSDL, and POSTs over the one HTTP layer.

zeep loads `masservice.wsdl` from this package and never fetches anything over the network;
every envelope goes through `connector.sage100.http.send` like the agent's JSON does.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import httpx
import requests
import zeep
import zeep.exceptions

from connector.sage100 import http

NS = "urn:ml-connector:sage100:gl:v1"
WSDL_PATH = Path(__file__).with_name("masservice.wsdl")
BINDING = f"{{{NS}}}BasicHttpBinding_IMasService"
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


class UnsafeAnswer(Exception):
    """The service answered with a DTD or an entity declaration."""


class HttpxTransport(zeep.Transport):
    """zeep's Transport on one httpx.Client; loads only local files, never the network."""

    def __init__(self, client: httpx.Client, peer: http.Peer) -> None:
        # zeep's own __init__ would open a requests.Session we never use.
        self.cache = None
        self.load_timeout = peer.settings.read_timeout
        self.operation_timeout = peer.settings.read_timeout
        self.logger = logging.getLogger(__name__)
        self._close_session = False
        self.client = client
        self.peer = peer
        self.sent = False
        self.operation = ""
        self.is_post = False

    def load(self, url: str) -> bytes:
        """Only the packaged WSDL may be read: zeep must not fetch anything remote."""
        path = Path(url[7:] if url.startswith("file://") else url).resolve()
        if path != WSDL_PATH.resolve():
            raise zeep.exceptions.TransportError(  # type: ignore[no-untyped-call]
                f"Refusing to load {url!r}: only the packaged WSDL."
            )
        return path.read_bytes()

    def get(self, address: str, params: Any, headers: Any) -> requests.Response:
        raise zeep.exceptions.TransportError(  # type: ignore[no-untyped-call]
            "The Sage 100 SOAP transport sends no GET requests."
        )

    def post(self, address: str, message: bytes | str, headers: dict[str, str]) -> requests.Response:
        """POST the envelope; bodies are not logged (they hold the Sage password)."""
        self.sent = True
        answer = http.send(
            self.client,
            address,
            peer=self.peer,
            operation=self.operation,
            is_post=self.is_post,
            content=message,
            headers=headers,
        )
        self.logger.debug(
            "Sage 100 SOAP %s: HTTP %s in %.3f s",
            headers.get("SOAPAction", "?"),
            answer.status,
            answer.elapsed,
        )
        content = answer.content
        if _DTD.search(content[:4096]):
            raise UnsafeAnswer
        looks_soap = b"Envelope" in content[:2048]
        if not looks_soap and answer.status != 200:
            raise http.without_proof(
                self.peer,
                answer.status,
                is_post=self.is_post,
                path=answer.path,
                retry_after=answer.retry_after,
            )
        converted = requests.Response()
        converted._content = content
        converted.status_code = answer.status
        converted.headers = requests.structures.CaseInsensitiveDict(answer.headers)
        converted.encoding = answer.encoding
        return converted

    def __del__(self) -> None:
        return


def zeep_client(client: httpx.Client, peer: http.Peer) -> zeep.Client:
    """A strict zeep client on the packaged WSDL: no DTDs, entities or external loads."""
    zeep_settings = zeep.Settings(
        strict=True,
        xml_huge_tree=False,
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    return zeep.Client(  # type: ignore[no-untyped-call]
        wsdl=str(WSDL_PATH),
        transport=HttpxTransport(client, peer),
        settings=zeep_settings,
    )


__all__ = ["BINDING", "NS", "WSDL_PATH", "HttpxTransport", "UnsafeAnswer", "zeep_client"]
