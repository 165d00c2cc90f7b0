"""The FastAPI application, built from the process's Celery app (and so its Runtime)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from email.utils import parseaddr

from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from alerts.celery_app import AlertsCelery
from alerts.i18n import negotiate
from alerts.web import public
from alerts.web.csrf import Csrf
from alerts.web.pages import Pages
from alerts.web.ratelimit import SignUpLimits

# Token URLs must not leak through Referer headers, caches or frames.
SECURITY_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
}


def create_app(celery: AlertsCelery, limits: SignUpLimits | None = None) -> FastAPI:
    runtime = celery.runtime
    settings = runtime.settings
    app = FastAPI(title="newsroom-alerts", version="0.1.0", docs_url=None, redoc_url=None)
    csrf = Csrf(settings.secret, secure_cookie=settings.base_url.startswith("https://"))
    app.state.celery = celery
    app.state.runtime = runtime
    app.state.pages = Pages(settings, runtime.taxonomy, csrf, parseaddr(settings.from_address)[0])
    app.state.limits = limits or SignUpLimits(
        settings.rate_limit_storage,
        settings.subscribe_limit_per_address,
        settings.subscribe_limit_per_client,
    )

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        pages: Pages = app.state.pages
        language = negotiate(request.headers.get("accept-language"))
        return pages.render(
            request,
            "message.html",
            language,
            status=exc.status_code,
            title="Page not found" if exc.status_code == 404 else "Something is wrong",
            paragraphs=[str(exc.detail)] if exc.status_code != 404 else [],
        )

    app.include_router(public.router)
    return app
