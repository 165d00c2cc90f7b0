"""Signed, purpose-scoped tokens for the links in emails (itsdangerous, HMAC).

A token carries a journalist id, never an address, and is signed with a salt
naming its purpose: a confirm token cannot unsubscribe, an unsubscribe token
cannot open preferences.
"""

from __future__ import annotations

from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


class Purpose(StrEnum):
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"


# Links in sent emails must keep working for as long as the email sits in an
# inbox; only the confirmation of a new address expires.
MAX_AGE_SECONDS: dict[Purpose, int | None] = {
    Purpose.CONFIRM: 7 * 24 * 3600,
    Purpose.UNSUBSCRIBE: None,
    Purpose.PREFERENCES: None,
}


class InvalidToken(ValueError):
    """Forged, altered, expired or meant for something else."""


class TokenSigner:
    def __init__(self, secret: str) -> None:
        self._serializers = {
            purpose: URLSafeTimedSerializer(secret, salt=f"newsroom-alerts.{purpose.value}")
            for purpose in Purpose
        }

    def sign(self, purpose: Purpose, journalist_id: int) -> str:
        return self._serializers[purpose].dumps(journalist_id)

    def read(self, purpose: Purpose, token: str) -> int:
        try:
            value = self._serializers[purpose].loads(token, max_age=MAX_AGE_SECONDS[purpose])
        except SignatureExpired as exc:
            raise InvalidToken("this link has expired") from exc
        except BadSignature as exc:
            raise InvalidToken("this link is not valid") from exc
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidToken("this link is not valid")
        return value
