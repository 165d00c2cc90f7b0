"""``GET /c/TOKEN``: the click-through redirect. It answers first and records after.

The redirect is the reader's; the count is ours. So the 302 goes out as soon as
the target is known (from a short in-process cache of the item's link table,
so a slow database delays only the first click of an item on a process), and
the click is recorded in a background task, whose failure is logged, never shown.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alerts.core import metrics
from alerts.core.click_tokens import ClickSigner, ClickToken
from alerts.core.i18n import LANGUAGES, N_, negotiate
from alerts.core.models import Item, ItemStatus, utcnow
from alerts.core.runtime import Runtime
from alerts.core.text_versions import reader_language
from alerts.core.tokens import InvalidToken
from alerts.engagement import links
from alerts.engagement.machines import first_look
from alerts.engagement.recording import Marks, record, record_open
from alerts.mail.rendering import web_url
from alerts.web.click_limits import ClickLimits
from alerts.web.state import pages as _pages
from alerts.web.state import runtime as _runtime

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

CACHE_SECONDS = 30.0
# Clicks recorded per token per minute on one process: a flood is counted once
# anyway (click_seen), this keeps it from costing a write each.
FLOOD_PER_MINUTE = 10


@dataclass(frozen=True)
class Targets:
    links: dict[int, str]
    withdrawn_to: str | None  # the release page, for a withdrawn item


class ClickDesk:
    """What the click route keeps between requests: the signer, the cache, the flood counts."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.signer = ClickSigner(runtime.settings.secret)
        self.marks = Marks(runtime.settings.secret)
        self._cache: dict[tuple[int, str], tuple[float, Targets | None]] = {}
        self._hits: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def targets(self, item_id: int, language: str, fresh: bool = False) -> Targets | None:
        """The item's link table, from the cache unless ``fresh`` (the database then)."""
        key = (item_id, language)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if not fresh and cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        found = self._load(item_id, language)
        with self._lock:
            if len(self._cache) > 2000:
                self._cache.clear()
            self._cache[key] = (now, found)
        return found

    def _load(self, item_id: int, language: str) -> Targets | None:
        with self.runtime.sessions() as session:
            item = session.get(Item, item_id)
            if item is None:
                return None
            stored = links.targets(session, item_id, language)
            reader = reader_language(language)  # "es" of a translation's "es-t1a2b3c4"
            if not stored and reader in LANGUAGES:
                # Never sent in this language, only test-sent (test sends store no
                # link table): the same render numbers the same links, when it is
                # still of the same words.
                rendered = self.runtime.rendered(item, reader)
                if rendered.language == language:
                    stored = dict(enumerate(rendered.links, start=1))
            withdrawn = None
            if item.status == ItemStatus.WITHDRAWN:
                withdrawn = web_url(item, self.runtime.settings.base_url, reader)
            return Targets(stored, withdrawn)

    def allow(self, token: str) -> bool:
        minute = int(time.time() // 60)
        with self._lock:
            if len(self._hits) > 10_000:
                self._hits.clear()
            seen_minute, count = self._hits.get(token, (minute, 0))
            count = count + 1 if seen_minute == minute else 1
            self._hits[token] = (minute, count)
        return count <= FLOOD_PER_MINUTE

    def record(self, token: ClickToken, kind: str) -> None:
        try:
            with self.runtime.sessions() as session, session.begin():
                recorded = record(
                    session,
                    token,
                    kind,
                    utcnow(),
                    self.marks,
                    individual=self.runtime.settings.track_clicks == "individual",
                )
        except Exception:  # the reader has their page; the count is lost, not the request
            log.exception("a click could not be recorded item_id=%s", token.item_id)
            return
        if recorded is not None and recorded.counted:
            metrics.record_click(recorded.kind)

    def record_open(self, token: ClickToken) -> None:
        try:
            with self.runtime.sessions() as session, session.begin():
                record_open(session, token, utcnow(), self.marks)
        except Exception:  # an image was served; only the count is lost
            log.exception("an open could not be recorded item_id=%s", token.item_id)


def desk(request: Request) -> ClickDesk:
    found: ClickDesk | None = getattr(request.app.state, "click_desk", None)
    if found is None:
        found = ClickDesk(_runtime(request))
        request.app.state.click_desk = found
    return found


def click_limits(request: Request) -> ClickLimits:
    found: ClickLimits | None = getattr(request.app.state, "click_limits", None)
    if found is None:
        found = ClickLimits.of(_runtime(request).settings)
        request.app.state.click_limits = found
    return found


def _refused(request: Request, status: int, title: str, text: str) -> HTMLResponse:
    language = negotiate(request.headers.get("accept-language"), request.query_params.get("lang"))
    return _pages(request).render(
        request, "message.html", language, status=status, title=title, paragraphs=[text]
    )


def _target(clicks: ClickDesk, token: ClickToken, fresh: bool) -> str | None:
    found = clicks.targets(token.item_id, token.language, fresh)
    if found is None:
        return None
    return found.withdrawn_to or found.links.get(token.number)


@router.api_route("/c/{token}", methods=["GET", "HEAD"], response_model=None)
async def click(token: str, request: Request, background: BackgroundTasks) -> Response:
    clicks = desk(request)
    try:
        parsed = clicks.signer.read(token)
    except InvalidToken:
        return _refused(
            request,
            400,
            N_("This link is not valid"),
            N_("Links in our emails must be used exactly as they were sent."),
        )
    client = request.client.host if request.client else "unknown"
    wait = await run_in_threadpool(click_limits(request).wait, token, client)
    if wait is not None:
        refused = _refused(
            request,
            429,
            N_("Too many requests"),
            N_("Please wait a while before trying again."),
        )
        refused.headers["Retry-After"] = str(wait)
        return refused
    target = await run_in_threadpool(_target, clicks, parsed, False)
    if target is None:
        # A miss is never taken from the cache: the table cached may predate the one
        # stored since (a test send renders one before the item is first sent).
        target = await run_in_threadpool(_target, clicks, parsed, True)
    if target is None:
        return _refused(
            request,
            404,
            N_("This link is not there"),
            N_("The release this link belongs to has no such link."),
        )
    mode = clicks.runtime.settings.track_clicks
    if mode != "off" and clicks.allow(token):
        kind = first_look(request.method, request.headers.get("user-agent", ""))
        background.add_task(clicks.record, parsed, kind)
    return RedirectResponse(target, status_code=302)


# The smallest transparent GIF.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


@router.get("/o/{token}", response_model=None)
async def opened(token: str, request: Request, background: BackgroundTasks) -> Response:
    """The open-tracking image (ALERTS_TRACK_OPENS=on): a 1x1 GIF whatever happens."""
    clicks = desk(request)
    try:
        parsed = clicks.signer.read(token, opening=True)
    except InvalidToken:
        parsed = None
    if parsed is not None and clicks.runtime.settings.track_opens == "on" and clicks.allow(token):
        background.add_task(clicks.record_open, parsed)
    return Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})


@router.get("/privacy", response_class=HTMLResponse)
def privacy(request: Request) -> HTMLResponse:
    """What is kept about journalists, and how the links in alerts are counted."""
    language = negotiate(request.headers.get("accept-language"), request.query_params.get("lang"))
    opens = _runtime(request).settings.track_opens == "on"
    return _pages(request).render(request, "privacy.html", language, track_opens=opens)
