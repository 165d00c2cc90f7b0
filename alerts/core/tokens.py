"""Signed, purpose-scoped tokens for the links in emails (itsdangerous, HMAC).

A token carries a journalist id, never an address, and is signed with a salt
naming its purpose: a confirm token cannot unsubscribe, an unsubscribe token
cannot open preferences. A confirmation token is also encrypted (it carries
what was typed on the sign-up form: see sealed_tokens).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import time
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, int_to_bytes, want_bytes

from alerts.core.sealed_tokens import SealedTokens, SealExpired, SealInvalid


class Purpose(StrEnum):
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"


# Unsubscribe links (RFC 8058 one-click, in a header mail providers act on) must
# keep working for as long as the email sits in an inbox. A preferences link
# opens the journalist's data, so it expires (ALERTS_PREFERENCES_LINK_DAYS);
# every email carries a freshly signed one, and an expired one offers a new one.
CONFIRM_MAX_AGE_SECONDS = 7 * 24 * 3600
PREFERENCES_MAX_AGE_SECONDS = 90 * 24 * 3600


VERP_PREFIX = "bounces"


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> bytes:
    """itsdangerous's base64_encode (URL-safe alphabet, no padding) in C calls only."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


@lru_cache(maxsize=2)
def _stamp(second: int) -> bytes:
    return _b64(int_to_bytes(second))


class _KeyedSigner(TimestampSigner):
    """itsdangerous's signer, its key derived once and its HMAC-SHA1 done in one C call.

    The tokens are byte for byte the ones itsdangerous makes (and reads back):
    every email carries two, and deriving the key and running Python's HMAC for
    each cost more than the rest of the link.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._key = super().derive_key()
        # Only the default (HMAC-SHA1) is taken over; any other is left to itsdangerous.
        self._sha1 = self.digest_method is hashlib.sha1 or getattr(
            self.digest_method, "__name__", ""
        ) in ("sha1", "_lazy_sha1")

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        return self._key if secret_key is None else super().derive_key(secret_key)

    def get_signature(self, value: str | bytes) -> bytes:
        if not self._sha1:
            return super().get_signature(value)
        return base64_encode(hmac.digest(self._key, want_bytes(value), "sha1"))


class _Serializer(URLSafeTimedSerializer):
    """One signer per salt, made once (itsdangerous makes one for every token)."""

    default_signer = _KeyedSigner

    def __init__(self, secret: str, salt: str) -> None:
        super().__init__(secret, salt=salt)
        self._signer: _KeyedSigner = super().make_signer()  # type: ignore[assignment]

    def dumps(self, obj: Any, salt: str | bytes | None = None) -> str:
        """A journalist id's token as itsdangerous writes it, without its general machinery.

        Its JSON is the id's digits; up to nine of them zlib can never shorten (its
        output has at least 8 bytes), so itsdangerous would not compress them either.
        """
        if salt is not None or type(obj) is not int or not 0 <= obj < 10**9:
            return super().dumps(obj, salt)
        signer = self._signer
        value = _b64(str(obj).encode("ascii")) + b"." + _stamp(int(time.time()))
        if signer._sha1:
            signature = _b64(hmac.digest(signer._key, value, "sha1"))
        else:
            signature = signer.get_signature(value)
        return (value + b"." + signature).decode("ascii")

    def make_signer(self, salt: str | bytes | None = None) -> TimestampSigner:
        if salt is None or want_bytes(salt) == self.salt:
            return self._signer
        return super().make_signer(salt)  # type: ignore[return-value]


class InvalidToken(ValueError):
    """Forged, altered, expired or meant for something else."""


class TokenSigner:
    def __init__(
        self, secret: str, preferences_max_age: int | None = PREFERENCES_MAX_AGE_SECONDS
    ) -> None:
        self.max_age: dict[Purpose, int | None] = {
            Purpose.CONFIRM: CONFIRM_MAX_AGE_SECONDS,
            Purpose.UNSUBSCRIBE: None,
            Purpose.PREFERENCES: preferences_max_age,
        }
        self._sealed_confirm = SealedTokens(secret, "newsroom-alerts.confirm.sealed")
        self._verp_key = hmac.new(secret.encode(), b"newsroom-alerts.verp", hashlib.sha256).digest()
        self._serializers = {
            purpose: _Serializer(secret, salt=f"newsroom-alerts.{purpose.value}")
            for purpose in Purpose
        }

    def sign(
        self, purpose: Purpose, journalist_id: int, request: dict[str, Any] | None = None
    ) -> str:
        """``request``: what a confirmation link confirms (the sign-up form's choices)."""
        if purpose is Purpose.CONFIRM:
            return self._sealed_confirm.seal([journalist_id, request])
        payload: object = journalist_id if request is None else [journalist_id, request]
        return self._serializers[purpose].dumps(payload)

    def read(self, purpose: Purpose, token: str) -> int:
        return self.read_with_request(purpose, token)[0]

    def read_with_request(
        self, purpose: Purpose, token: str
    ) -> tuple[int, dict[str, Any] | None, datetime]:
        """The journalist id, the request the link carries (if any), when it was signed."""
        value, signed_at = self._open(purpose, token, self.max_age[purpose])
        return self._parse(value, signed_at)

    def read_expired(self, purpose: Purpose, token: str) -> int:
        """The journalist id of an authentic token, however old (to mail them a fresh one)."""
        value, signed_at = self._open(purpose, token, None)
        return self._parse(value, signed_at)[0]

    def _open(self, purpose: Purpose, token: str, max_age: int | None) -> tuple[object, datetime]:
        # Fernet tokens have no dots; a dotted confirm token is a signed-only link
        # sent before confirmation links were sealed (still honoured for its 7 days).
        if purpose is Purpose.CONFIRM and "." not in token:
            try:
                return self._sealed_confirm.open(token, max_age)
            except SealExpired as exc:
                raise InvalidToken("this link has expired") from exc
            except SealInvalid as exc:
                raise InvalidToken("this link is not valid") from exc
        try:
            value, signed_at = self._serializers[purpose].loads(
                token, max_age=max_age, return_timestamp=True
            )
        except SignatureExpired as exc:
            raise InvalidToken("this link has expired") from exc
        except BadSignature as exc:
            raise InvalidToken("this link is not valid") from exc
        return value, signed_at

    @staticmethod
    def _parse(value: object, signed_at: datetime) -> tuple[int, dict[str, Any] | None, datetime]:
        request = None
        if isinstance(value, list) and len(value) == 2 and value[1] is None:
            value = value[0]
        elif isinstance(value, list) and len(value) == 2 and isinstance(value[1], dict):
            value, request = value
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidToken("this link is not valid")
        return value, request, signed_at

    def verp_local_part(self, delivery_id: int) -> str:
        """``bounces+<delivery id>.<mac>``: short enough for a local part (64 characters).

        Every alert goes out with this as its return path, so a bounce names the
        delivery it is about and cannot be forged to suppress somebody else.
        """
        return f"{VERP_PREFIX}+{delivery_id}.{self._verp_mac(delivery_id)}"

    def read_verp(self, local_part: str) -> int:
        """The delivery id of a VERP local part (case-insensitive); InvalidToken if forged."""
        prefix, _, tag = local_part.lower().partition("+")
        number, _, mac = tag.partition(".")
        if prefix != VERP_PREFIX or not number.isdigit() or len(number) > 12:
            raise InvalidToken("not one of our return paths")
        if not hmac.compare_digest(mac, self._verp_mac(int(number))):
            raise InvalidToken("this return path is not valid")
        return int(number)

    def _verp_mac(self, delivery_id: int) -> str:
        return hmac.new(self._verp_key, str(delivery_id).encode(), hashlib.sha256).hexdigest()[:16]
