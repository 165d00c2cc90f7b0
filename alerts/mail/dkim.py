"""DKIM signatures on every outgoing email, when a key is configured."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from dataclasses import dataclass
from functools import cached_property

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from alerts.core.dkim_keys import PrivateKey, algorithm_of, load_private_key

# The headers a receiver must be able to trust (RFC 6376 §5.4 and the bulk-sender
# rules of the large mailbox providers), each signed where present.
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
# Signed once more than they occur (§8.15): nobody can add a second From, Subject
# or unsubscribe pair above ours without breaking the signature.
OVERSIGNED = {b"from", b"subject", b"list-unsubscribe", b"list-unsubscribe-post"}


@dataclass(frozen=True)
class DkimKey:
    """One signing key: RSA-SHA256 or Ed25519-SHA256, relaxed/relaxed (RFC 6376, 8463).

    dkimpy (which the tests use to verify) signs with RSA in pure Python, 8 ms
    a message: with it the pipeline sent 134 emails/s instead of 1,500. Here
    the RSA and Ed25519 steps run in OpenSSL (the ``cryptography`` package) and
    the canonicalisation is a few C-level passes over the bytes.
    """

    selector: str
    domain: str
    private_key: bytes  # PEM

    @cached_property
    def _key(self) -> PrivateKey:
        return load_private_key(self.private_key)

    @property
    def algorithm(self) -> bytes:
        return algorithm_of(self._key).encode("ascii")

    def signature(self, data: bytes) -> bytes:
        """The b= value (before base64) over the canonical header data."""
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            # RFC 8463 §3: PureEdDSA over the SHA-256 of the data, not over the data.
            return self._key.sign(hashlib.sha256(data).digest())
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def sign(
        self, message: bytes, now: float | None = None, body_hash: bytes | None = None
    ) -> bytes:
        """The message (CRLF line ends) with its DKIM-Signature header in front."""
        return sign_message((self,), message, now, body_hash)


@dataclass(frozen=True)
class DkimSigner:
    """Several signatures on each message, most often RSA and Ed25519 together: RFC 8463
    §4 expects signers to add Ed25519 beside RSA while receivers that verify only RSA
    remain; each receiver checks the signatures it knows and ignores the others."""

    keys: tuple[DkimKey, ...]

    def sign(
        self, message: bytes, now: float | None = None, body_hash: bytes | None = None
    ) -> bytes:
        return sign_message(self.keys, message, now, body_hash)


def sign_message(
    keys: tuple[DkimKey, ...],
    message: bytes,
    now: float | None = None,
    body_hash: bytes | None = None,
) -> bytes:
    """The message with one DKIM-Signature per key in front (the first key's on top).

    ``body_hash`` is the SHA-256 of the canonical body when the caller already has
    it (``MessageSkeleton.body_hash``); it must be the hash of this message's body.
    The body hash and the canonical headers are computed once for all the keys.
    """
    head, separator, body = message.partition(b"\r\n\r\n")
    if not separator:
        raise ValueError("a message needs a header and a body")
    fields = _header_fields(head + b"\r\n")
    present = {name.strip().lower() for name, _ in fields}
    signed = [h for h in SIGNED_HEADERS if h.lower() in present] or [b"From"]
    signed += [h for h in signed if h.lower() in OVERSIGNED]
    if body_hash is None:
        body_hash = hashlib.sha256(relaxed_body(body)).digest()
    encoded_hash = base64.b64encode(body_hash)
    names = _fold_names(signed)
    data = b"".join(relaxed_header(*field) for field in _instances(fields, signed))
    timestamp = b"t=%d" % int(time.time() if now is None else now)
    # Each signature signs the message's own headers, never the other signatures:
    # a receiver may drop one it cannot read without breaking the rest.
    headers = []
    for key in keys:
        tags = [
            b"v=1",
            b"a=" + key.algorithm,
            b"c=relaxed/relaxed",
            b"d=" + key.domain.encode("ascii"),
            b"s=" + key.selector.encode("ascii"),
            timestamp,
            b"h=" + names,
            b"bh=" + encoded_hash,
            b"b=",
        ]
        # Folded between tags; the signature covers this header with b= empty (§3.5).
        unsigned = b"DKIM-Signature: " + b";\r\n\t".join(tags)
        covered = data + relaxed_header(b"DKIM-Signature", unsigned.split(b":", 1)[1])[:-2]
        signature = base64.b64encode(key.signature(covered))
        folded = b"\r\n\t".join(signature[i : i + 72] for i in range(0, len(signature), 72))
        headers.append(unsigned + folded + b"\r\n")
    return b"".join(headers) + message


# Runs of two or more, or a tab: single spaces are canonical already (and plentiful).
_WSP_RUN = re.compile(rb" [ \t]+|\t[ \t]*")
_FOLD = re.compile(rb"\r\n(?=[ \t])")


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 §3.4.4: whitespace runs become one space, none ends a line, no empty lines end."""
    # (A last line without CRLF keeps its trailing space, as dkimpy reads the RFC.)
    body = _WSP_RUN.sub(b" ", body).replace(b" \r\n", b"\r\n").rstrip(b"\r\n")
    return body + b"\r\n" if body else b""


def relaxed_lines(segment: bytes) -> bytes:
    """The relaxed form of a run of whole lines inside a body (it starts a line and ends
    with CRLF, and is not the body's end): ``relaxed_body`` of the body is the join of
    its segments' ``relaxed_lines``, as long as the last segment ends in a non-empty line.
    Whitespace runs and line ends never cross a line start, so each segment can be
    canonicalised on its own; only the removal of empty lines at the end needs the whole."""
    return _WSP_RUN.sub(b" ", segment).replace(b" \r\n", b"\r\n")


def relaxed_header(name: bytes, value: bytes) -> bytes:
    """RFC 6376 §3.4.2: the name in lower case; the value unfolded, whitespace runs to a space."""
    value = _WSP_RUN.sub(b" ", _FOLD.sub(b"", value)).strip(b" \r\n")
    return name.strip().lower() + b":" + value + b"\r\n"


def _header_fields(head: bytes) -> list[tuple[bytes, bytes]]:
    """(name, raw value with its folding) of each header field, in order."""
    fields: list[tuple[bytes, bytes]] = []
    for line in head.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + b"\r\n" + line)
        else:
            name, _, value = line.partition(b":")
            fields.append((name, value))
    return fields


def _instances(fields: list[tuple[bytes, bytes]], names: list[bytes]) -> list[tuple[bytes, bytes]]:
    """The fields each name in h= stands for: the bottom-most first, then the one above
    it; a name listed more often than it occurs stands for nothing (§5.4.2)."""
    taken: dict[bytes, int] = {}
    chosen = []
    for name in names:
        key = name.lower()
        same = [f for f in reversed(fields) if f[0].strip().lower() == key]
        index = taken.get(key, 0)
        taken[key] = index + 1
        if index < len(same):
            chosen.append(same[index])
    return chosen


def _fold_names(names: list[bytes]) -> bytes:
    """The h= list, folded after a colon before a line would pass 76 characters."""
    lines, line = [], b"\th="
    for i, name in enumerate(names):
        piece = name + (b":" if i < len(names) - 1 else b"")
        if len(line) + len(piece) > 76:
            lines.append(line)
            line = b"\t "
        line += piece
    lines.append(line)
    return b"\r\n".join(lines)[3:]  # without the leading "\th=" (the caller adds "h=")


def generate(bits: int = 2048) -> tuple[bytes, str]:
    """A new RSA key: its PEM, and the ``p=`` value of the DNS TXT record."""
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


def generate_ed25519() -> tuple[bytes, str]:
    """A new Ed25519 key: its PEM (PKCS#8), and the ``p=`` value: RFC 8463 §4.2 publishes
    the bare 32-byte public key in base64, not an ASN.1 structure as RSA does."""
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return pem, base64.b64encode(public).decode()


def dns_record(selector: str, domain: str, public_b64: str, kind: str = "rsa") -> str:
    """The TXT record (zone-file line) for a key: ``kind`` is ``rsa`` or ``ed25519``."""
    return f'{selector}._domainkey.{domain}. IN TXT "v=DKIM1; k={kind}; p={public_b64}"'
