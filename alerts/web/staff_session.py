"""The staff pages' sign-in: a key once, then a signed cookie naming a server-side session."""

from __future__ import annotations

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from alerts.core.models import utcnow
from alerts.core.runtime import Runtime
from alerts.staff import sessions as staff_sessions
from alerts.staff.keys import Staff

COOKIE = "alerts_staff"
MAX_AGE = int(staff_sessions.ABSOLUTE.total_seconds())


class StaffSessions:
    def __init__(self, runtime: Runtime, secure: bool, path: str) -> None:
        self._runtime = runtime
        # The token is random and checked in the database; signing it as well lets
        # garbage and stale cookies be turned away without a query.
        self._signer = URLSafeTimedSerializer(
            runtime.settings.secret, salt="newsroom-alerts.staff-session"
        )
        self.secure, self.path = secure, path

    def start(self, request: Request, response: Response, key_id: int) -> None:
        """A fresh session (never the one a cookie already names: no fixation)."""
        old = self._token(request)
        with self._runtime.sessions() as session:
            if old is not None:
                staff_sessions.end(session, old)
            token = staff_sessions.start(session, key_id, utcnow())
            session.commit()
        response.set_cookie(
            COOKIE,
            self._signer.dumps(token),
            max_age=MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=self.secure,
            path=self.path,
        )

    def end(self, request: Request, response: Response) -> None:
        """Sign out: the session's row goes, so a copy of the cookie is worth nothing."""
        token = self._token(request)
        if token is not None:
            with self._runtime.sessions() as session:
                staff_sessions.end(session, token)
                session.commit()
        response.delete_cookie(COOKIE, path=self.path)

    def _token(self, request: Request) -> str | None:
        value = request.cookies.get(COOKIE)
        if not value:
            return None
        try:
            token = self._signer.loads(value, max_age=MAX_AGE)
        except BadSignature:
            return None
        return token if isinstance(token, str) else None

    def read(self, request: Request) -> Staff | None:
        """The signed-in staff member, if the session is live and its key too.

        Only for safe methods: state changes from the pages (/staff and /ops) go
        through forms with CSRF tokens, never through the JSON API on the strength
        of a cookie.
        """
        root = self.path.rstrip("/")
        if request.method not in ("GET", "HEAD") and not request.url.path.startswith(
            (f"{root}/staff", f"{root}/ops/")
        ):
            return None
        token = self._token(request)
        if token is None:
            return None
        with self._runtime.sessions() as session:
            live = staff_sessions.lookup(session, token, utcnow())
            session.commit()  # last_seen_at
        if live is None:
            return None
        return Staff(live.key_id, live.name, live.role, session_id=live.id)
