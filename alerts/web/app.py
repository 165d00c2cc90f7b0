"""The FastAPI application, built from the process's Celery app (and so its Runtime)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.utils import parseaddr
from urllib.parse import urlsplit

import anyio.to_thread
from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from alerts.core.i18n import negotiate
from alerts.mail.rendering import default_templates_dir
from alerts.web import (
    api,
    api_docs,
    clicks,
    fresh_link,
    media,
    newsroom,
    ops,
    preferences,
    public,
    recent_view,
    staff_actions,
    staff_compose,
    staff_pages,
    staff_report,
    staff_translations,
)
from alerts.web.api_gate import ApiKeyGate
from alerts.web.body_limit import BodyLimit
from alerts.web.click_limits import ClickLimits
from alerts.web.csp import app_policy
from alerts.web.csrf import Csrf
from alerts.web.newsroom_cache import PageCache
from alerts.web.pages import Pages
from alerts.web.ratelimit import SignUpLimits
from alerts.web.security_headers import SecurityHeaders
from alerts.web.staff_session import StaffSessions
from alerts.web.validation import is_path_error, validation_response
from alerts.worker.app import AlertsCelery

MAX_BODY_BYTES = 1024 * 1024
MAX_IMPORT_BYTES = 20 * 1024 * 1024


def body_limit(path: str) -> int:
    return MAX_IMPORT_BYTES if path.endswith("/import") else MAX_BODY_BYTES


# Token URLs must not leak through Referer headers, caches or frames: the headers are
# alerts/web/security_headers.py's, the policy adds the media host's images (csp.py).
def create_app(
    celery: AlertsCelery,
    limits: SignUpLimits | None = None,
    click_limits: ClickLimits | None = None,
) -> FastAPI:
    runtime = celery.runtime
    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The handlers run in threads (40 by default) and each takes a connection: with
        # more threads than the pool keeps, a burst of one-click POSTs opened and closed
        # a connection per request beyond the pool (a server process forked each time)
        # and its threads fought over the GIL. As many threads as connections.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.db_pool_size
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="newsroom-alerts",
        version="0.1.0",
        description="Staff API of newsroom-alerts: items, deliveries, journalists, keys.",
        docs_url=None,  # served by api_docs: FastAPI's page needs a CDN the CSP blocks
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    csrf = Csrf(settings.secret, secure_cookie=settings.base_url.startswith("https://"))
    app.state.celery = celery
    app.state.runtime = runtime
    app.state.pages = Pages(settings, runtime.taxonomy, csrf, parseaddr(settings.from_address)[0])
    app.state.limits = limits or SignUpLimits(
        settings.rate_limit_storage,
        settings.subscribe_limit_per_address,
        settings.subscribe_limit_per_client,
    )

    app.state.click_limits = click_limits or ClickLimits.of(settings)
    app.state.newsroom_cache = PageCache(settings.newsroom_cache_mb * 1024 * 1024)

    root = urlsplit(settings.base_url).path.rstrip("/")
    app.state.staff_sessions = StaffSessions(runtime, csrf.secure_cookie, root or "/")

    # Inner first: the key is checked before a byte of the body is read, and the
    # body is counted as it arrives whatever its framing (chunked or not).
    app.add_middleware(ApiKeyGate)
    # Uploads get the media limit (plus room for the multipart framing), not 1 MB.
    media_limit = settings.media_max_bytes + 64_000
    app.add_middleware(
        BodyLimit,
        limit_for=lambda path: media_limit if path.endswith("/api/media") else body_limit(path),
    )

    app.add_middleware(
        SecurityHeaders,
        hsts=settings.base_url.startswith("https://"),
        policy=app_policy(settings),
    )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if is_path_error(exc) and not request.url.path.startswith(f"{root}/api/"):
            # A page id out of range (or not a number) is a page that is not there.
            return await http_error(request, StarletteHTTPException(404))
        return validation_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            # Starlette names only the first matching route's methods; list them all.
            allowed = sorted(
                {
                    method
                    for route in app.routes
                    if isinstance(route, APIRoute)
                    and route.path_regex.match(request.url.path[len(root) :] or "/")
                    for method in route.methods or ()
                }
            )
            return JSONResponse(
                {"detail": "Method Not Allowed"},
                status_code=405,
                headers={"Allow": ", ".join(allowed)},
            )
        if request.url.path.startswith(f"{root}/api/"):
            return await http_exception_handler(request, exc)
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

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # The client hung up with its body half sent (an upload given up on, often as
        # the server stops): nothing was stored and no one is left to read an answer.
        # Not a server error, and no traceback in the log.
        return Response(status_code=400)

    app.include_router(public.router)
    # Before /news/{ref}, which would take "matching" for a release's address.
    app.include_router(recent_view.router)
    app.include_router(newsroom.router)
    app.include_router(preferences.router)
    app.include_router(fresh_link.router)
    app.include_router(api.router)
    app.include_router(staff_pages.router)
    app.include_router(staff_actions.router)
    app.include_router(staff_compose.router)
    app.include_router(staff_translations.router)
    app.include_router(ops.router)
    app.include_router(media.router)
    app.include_router(api_docs.router)
    app.include_router(clicks.router)
    app.include_router(staff_report.router)
    app.mount(api_docs.ASSETS, api_docs.assets(), name="api-docs-assets")
    app.mount(
        "/static", StaticFiles(directory=default_templates_dir() / "web" / "static"), name="static"
    )
    return app
