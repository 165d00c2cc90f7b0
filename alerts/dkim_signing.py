"""DKIM signatures (dkimpy) on every outgoing email, when a key is configured."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import dkim

# The headers a receiver must be able to trust (RFC 6376 §5.4 and the bulk-sender
# rules of the large mailbox providers), signed whether present or not where it
# matters that nobody can add them later (From, Subject, the unsubscribe pair).
SIGNED_HEADERS = [
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"Reply-To",
    b"List-Id",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"In-Reply-To",
    b"References",
    b"MIME-Version",
    b"Content-Type",
    b"Content-Transfer-Encoding",
]


@dataclass(frozen=True)
class DkimKey:
    selector: str
    domain: str
    private_key: bytes  # PEM

    def sign(self, message: bytes) -> bytes:
        """The message with its DKIM-Signature header in front."""
        signature = dkim.sign(
            message,
            self.selector.encode(),
            self.domain.encode(),
            self.private_key,
            include_headers=[h for h in SIGNED_HEADERS if _has_header(message, h)] or [b"From"],
            canonicalize=(b"relaxed", b"relaxed"),
        )
        return bytes(signature) + message


def _has_header(message: bytes, name: bytes) -> bool:
    head = message.split(b"\r\n\r\n", 1)[0].lower()
    return head.startswith(name.lower() + b":") or b"\r\n" + name.lower() + b":" in head


def generate(bits: int = 2048) -> tuple[bytes, str]:
    """A new RSA key: its PEM, and the ``p=`` value of the DNS TXT record."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, base64.b64encode(public).decode()


def dns_record(selector: str, domain: str, public_b64: str) -> str:
    return f'{selector}._domainkey.{domain}. IN TXT "v=DKIM1; k=rsa; p={public_b64}"'
