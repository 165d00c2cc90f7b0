"""The headers every answer carries (CSP, no framing, no caching, HSTS on https).

Pure ASGI: the headers are added to the response's start message as it passes.
Starlette's ``@app.middleware("http")`` did the same through ``BaseHTTPMiddleware``,
which runs every request in a task of its own with memory streams between the
two: a cost paid on every one-click unsubscribe of a burst.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
}
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


class SecurityHeaders:
    """Each header added unless the route set its own (a cacheable media file, say)."""

    def __init__(self, app: ASGIApp, hsts: bool, policy: str | None = None) -> None:
        self.app = app
        # ``policy``: the app's Content-Security-Policy when it differs from the default
        # (images from the media store's host: alerts/web/csp.py).
        headers = SECURITY_HEADERS | ({"Content-Security-Policy": policy} if policy else {})
        defaults = [*headers.items(), ("Cache-Control", "no-store")]
        if hsts:  # browsers that saw the https site once never fall back to http
            defaults.append(HSTS)
        self.defaults = [(name.lower().encode(), value.encode()) for name, value in defaults]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [pair for pair in self.defaults if pair[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
