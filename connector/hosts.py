"""Which URLs a company's Expensify or Sage 100 connection may name: the one URL policy.

HTTPS for every host but loopback (a secret travels in every request), and never a link-local
or cloud metadata host. Both transports and the models' clean() ask `url_refused()`; each turns
the sentence into its own error type.

A stored partner secret, agent key or Sage password goes to whatever host the URL names, so a
URL aimed at an instance metadata service (169.254.169.254 and friends) would hand credentials
and the service's answer to whoever set the URL. Private LAN addresses stay allowed: agents
live there.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

# Names and addresses cloud providers answer instance metadata on (link-local or not).
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
    }
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server
        "192.0.0.192",  # Oracle Cloud (older)
    )
)


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP a host string denotes without DNS, including forms like '2852039166' or '0xa9.0xfe.0.1'."""
    bare = host.strip("[]").split("%", 1)[0]
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        try:
            # The system resolver accepts these shorthand IPv4 forms; so must this check.
            address = ipaddress.IPv4Address(socket.inet_aton(bare))
        except (OSError, ValueError):
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def refused_host_reason(host: str) -> str | None:
    """Why `host` may not be a company's Expensify or Sage 100 host, or None when it may."""
    name = host.strip().rstrip(".").lower()
    if not name:
        return None
    if name in METADATA_NAMES:
        return f"{host} is a cloud metadata service"
    address = _address(name)
    if address is None:
        return None
    if address in METADATA_ADDRESSES:
        return f"{host} is a cloud metadata address"
    if address.is_link_local:
        return f"{host} is a link-local address (169.254.0.0/16, fe80::/10)"
    return None


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: the only hosts plain HTTP may reach."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_refused(url: str) -> str | None:
    """Why a connection may not use `url` (words to follow "The URL 'x' "), or None when it may."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "is not a URL"
    refused = refused_host_reason(host)
    if refused:
        return f"is refused: {refused}"
    if host and (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host))):
        return None
    return "must start with https:// (plain http is allowed only for this machine: 127.0.0.1, ::1, localhost)"


__all__ = ["METADATA_ADDRESSES", "METADATA_NAMES", "is_loopback", "refused_host_reason", "url_refused"]
