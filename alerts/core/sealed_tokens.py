"""Encrypted, authenticated link tokens (Fernet), for links that carry what someone typed.

A confirmation link carries the sign-up form's choices (name, outlet, countries,
topics, time zone) until its owner clicks it. Signed-only tokens are readable
base64, and links end up in logs, proxies and browser histories; sealed ones are
opaque. The key is derived from the settings secret with HKDF under a label of
its own, so it is never the key of any other token and a sealed token opens
only where it was meant to.
"""

from __future__ import annotations

import base64
import json
import time
import zlib
from datetime import UTC, datetime

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken as FernetInvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SealExpired(ValueError):
    """Authentic, but older than its lifetime."""


class SealInvalid(ValueError):
    """Forged, altered, truncated or sealed under another key."""


class SealedTokens:
    def __init__(self, secret: str, label: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label.encode()).derive(
            secret.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, value: object) -> str:
        data = zlib.compress(json.dumps(value, separators=(",", ":")).encode())
        # Padding is put back on opening: a tidier link, the same token.
        return self._fernet.encrypt(data).decode("ascii").rstrip("=")

    def open(self, token: str, max_age: int | None) -> tuple[object, datetime]:
        """The sealed value and when it was sealed (whole seconds, UTC)."""
        padded = token + "=" * (-len(token) % 4)
        try:
            data = self._fernet.decrypt(padded)
            sealed_at = self._fernet.extract_timestamp(padded)
            value = json.loads(zlib.decompress(data))
        except (FernetInvalidToken, ValueError, zlib.error) as exc:
            # ValueError too: a token with non-ASCII characters fails before Fernet's checks.
            raise SealInvalid("this link is not valid") from exc
        if max_age is not None and time.time() - sealed_at > max_age:
            raise SealExpired("this link has expired")
        return value, datetime.fromtimestamp(sealed_at, UTC)
