"""Request bodies counted as they arrive: past the limit the answer is 413.

Content-Length is only a claim, and a chunked body has none, so the limit is
enforced on the bytes actually received: the application's ``receive`` is
wrapped, and the first message that takes the total past the limit raises a
413 instead of being handed on. Nothing is buffered here, so a client that
streams 100 MB costs the server at most the limit (plus one chunk).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """Raised from ``receive``: FastAPI lets an HTTPException through its body parsing.

    The application's own exception handlers then answer 413 in the shape of
    the route (JSON for the API, a page for the web pages).
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body too large ({limit} bytes at most)")


class BodyLimit:
    """Pure ASGI middleware: ``limit_for(path)`` bytes at most per request body."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > limit:
            # Refused before a byte of it is read.
            too_large = BodyTooLarge(limit)
            response = JSONResponse(
                {"detail": too_large.detail},
                status_code=413,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return

        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)
