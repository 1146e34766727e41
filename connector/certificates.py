"""A company's pinned certificate (a self-signed Sage 100 agent): check the PEM, build the TLS trust.

Blank means the system's trusted authorities. Set, it is the only authority trusted for that
connection: exactly the certificate(s) pasted, nothing from the system store.
"""

from __future__ import annotations

import ssl

from cryptography import x509

MAX_PEM_CHARACTERS = 64 * 1024


class CertificateError(ValueError):
    """The text is not one or more PEM certificates."""


def check_pem_certificate(text: str) -> list[x509.Certificate]:
    """The certificates in `text`; CertificateError when it is anything else (a key, garbage)."""
    if len(text) > MAX_PEM_CHARACTERS:
        raise CertificateError(f"The certificate is longer than {MAX_PEM_CHARACTERS} characters.")
    if "PRIVATE KEY" in text:
        # Only the agent keeps its key: a pasted key would be stored where it does not belong.
        raise CertificateError(
            "This holds a private key: paste only the agent's certificate (BEGIN CERTIFICATE)."
        )
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise CertificateError(
            "Not a PEM certificate: paste the text from -----BEGIN CERTIFICATE----- to "
            "-----END CERTIFICATE----- (python -m mlc_agent cert prints it)."
        )
    try:
        certificates = x509.load_pem_x509_certificates(text.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise CertificateError(
            "The certificate could not be read: paste the whole PEM block unchanged."
        ) from None
    return certificates


def trust_exactly(text: str) -> ssl.SSLContext:
    """A client TLS context that trusts only the certificate(s) in `text` (hostnames still checked)."""
    check_pem_certificate(text)
    context = ssl.create_default_context(cadata=text.strip())
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


__all__ = ["MAX_PEM_CHARACTERS", "CertificateError", "check_pem_certificate", "trust_exactly"]
