"""CSRF protection for our own forms: a random cookie, echoed signed in each form.

A page on another site can make a browser POST here, but it can neither read
our cookie nor forge its signature, so it cannot produce a matching form field.
"""

from __future__ import annotations

import hmac
import secrets

from itsdangerous import BadSignature, URLSafeSerializer

COOKIE = "alerts_csrf"
FIELD = "csrf_token"


class Csrf:
    def __init__(self, secret: str, secure_cookie: bool) -> None:
        self._signer = URLSafeSerializer(secret, salt="newsroom-alerts.csrf")
        self.secure_cookie = secure_cookie

    @staticmethod
    def cookie_value(existing: str | None) -> str:
        return existing if existing and len(existing) >= 16 else secrets.token_urlsafe(24)

    def form_token(self, cookie_value: str) -> str:
        return self._signer.dumps(cookie_value)

    def valid(self, cookie_value: str | None, form_token: object) -> bool:
        if not cookie_value or not isinstance(form_token, str):
            return False
        try:
            expected = self._signer.loads(form_token)
        except BadSignature:
            return False
        return isinstance(expected, str) and hmac.compare_digest(expected, cookie_value)
