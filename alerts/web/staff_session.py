"""The staff pages' sign-in: a key once, then a signed, expiring session cookie."""

from __future__ import annotations

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from alerts.core.models import ApiKey
from alerts.core.runtime import Runtime
from alerts.staff.keys import Staff

COOKIE = "alerts_staff"
MAX_AGE = 12 * 3600


class StaffSessions:
    def __init__(self, runtime: Runtime, secure: bool, path: str) -> None:
        self._runtime = runtime
        self._signer = URLSafeTimedSerializer(
            runtime.settings.secret, salt="newsroom-alerts.staff-session"
        )
        self.secure, self.path = secure, path

    def start(self, response: Response, key_id: int) -> None:
        response.set_cookie(
            COOKIE,
            self._signer.dumps(key_id),
            max_age=MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=self.secure,
            path=self.path,
        )

    def end(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path=self.path)

    def read(self, request: Request) -> Staff | None:
        """The signed-in staff member, if the cookie is good and the key still live.

        Only for safe methods: state changes from the pages go through forms with
        CSRF tokens, never through the JSON API on the strength of a cookie.
        """
        if request.method not in ("GET", "HEAD") and not request.url.path.startswith(
            f"{self.path.rstrip('/')}/staff"
        ):
            return None
        value = request.cookies.get(COOKIE)
        if not value:
            return None
        try:
            key_id = self._signer.loads(value, max_age=MAX_AGE)
        except BadSignature:
            return None
        with self._runtime.sessions() as session:
            row = session.get(ApiKey, key_id) if isinstance(key_id, int) else None
            if row is None or row.revoked_at is not None:
                return None
            return Staff(row.id, row.name, row.role)
