"""The staff API's key checked before its body is read.

FastAPI resolves the body before the dependencies that check the key, so an
anonymous client could make the server read and parse a whole upload only to
be told 401 at the end. This ASGI gate answers 401 first for every request to
``/api/`` that may carry a body; the routes' own dependencies still check the
key's role. Safe methods pass: they carry no body, and the staff pages'
session cookie is good for them (see StaffSessions.read).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from alerts.core.runtime import Runtime
from alerts.staff.keys import Staff
from alerts.web.api.deps import GATED_STAFF, UNAUTHORIZED, bearer, header_key, staff_from_key

WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ApiKeyGate:
    def __init__(self, app: ASGIApp, prefix: str = "/api/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WITH_BODY:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if not path.startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        # A Request without receive: only the headers are looked at here.
        request = Request(scope)
        credentials = await bearer(request)
        key = credentials.credentials if credentials else await header_key(request)
        staff = await run_in_threadpool(self._known, request, key or "")
        if staff is not None:
            # Handed on, so the route's own check does not look the key up again.
            scope.setdefault("state", {})[GATED_STAFF] = staff
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {"detail": UNAUTHORIZED},
            status_code=401,
            # The body was never read: the connection cannot be reused.
            headers={"WWW-Authenticate": "Bearer", "Connection": "close"},
        )
        await response(scope, receive, send)

    @staticmethod
    def _known(request: Request, key: str) -> Staff | None:
        if not key:
            return None
        runtime: Runtime = request.app.state.runtime
        with runtime.sessions() as db:
            return staff_from_key(db, key)
