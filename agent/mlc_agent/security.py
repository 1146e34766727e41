"""API keys (random, stored as a salted hash, compared in constant time) and TLS certificates."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import secrets
from pathlib import Path


def new_api_key() -> str:
    """A fresh 256-bit API key, URL-safe text."""
    return secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """`sha256$salt$digest`: a salted SHA-256 suffices for a 256-bit random key (no guessing)."""
    salt = secrets.token_hex(16)
    digest = hashlib.sha256(bytes.fromhex(salt) + key.encode()).hexdigest()
    return f"sha256${salt}${digest}"


def check_api_key(presented: str, stored: str) -> bool:
    """True when `presented` is the key behind `stored`, compared in constant time."""
    try:
        scheme, salt, digest = stored.split("$")
        salt_bytes = bytes.fromhex(salt)
    except ValueError:
        return False
    if scheme != "sha256":
        return False
    given = hashlib.sha256(salt_bytes + presented.encode()).hexdigest()
    return hmac.compare_digest(given.encode(), digest.encode())


def fingerprint(cert_path: Path) -> str:
    """SHA-256 fingerprint of a PEM certificate, as AA:BB:...: what the company page records."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def make_self_signed(cert_path: Path, key_path: Path, names: list[str], *, days: int = 825) -> str:
    """Write a self-signed certificate for the host names/IPs; returns its SHA-256 fingerprint."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "mlc-agent")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return fingerprint(cert_path)
