"""CSRF protection for our own forms: a random cookie, echoed signed in each form.

A page on another site can make a browser POST here, but it can neither read
our cookie nor forge its signature, so it cannot produce a matching form field.

Staff forms are bound to the staff session instead: their token is a signature
of the session's id, so a cookie-and-token pair someone obtained for themselves
(the login page hands one to anybody) is worth nothing against another session.
"""

from __future__ import annotations

import hmac
import secrets

from itsdangerous import BadSignature, Signer, URLSafeSerializer

COOKIE = "alerts_csrf"
FIELD = "csrf_token"


class Csrf:
    def __init__(self, secret: str, secure_cookie: bool) -> None:
        self._signer = URLSafeSerializer(secret, salt="newsroom-alerts.csrf")
        self._session_signer = Signer(secret, salt="newsroom-alerts.staff-csrf")
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

    def session_token(self, session_id: str) -> str:
        return self._session_signer.get_signature(session_id).decode()

    def valid_for_session(self, session_id: str | None, form_token: object) -> bool:
        if not session_id or not isinstance(form_token, str) or not form_token.isascii():
            return False
        return self._session_signer.verify_signature(session_id, form_token)
