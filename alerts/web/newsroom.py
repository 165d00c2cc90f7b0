"""The public newsroom: /news (list, filters, search), one release, the Atom feed.

Every query goes through ``newsroom.visibility``: a draft, a scheduled item or an
item under embargo is answered exactly like an id that was never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from babel.dates import format_date
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from alerts.core.embargo_links import EmbargoLinks
from alerts.core.i18n import LANGUAGES, N_, comma, negotiate, translations
from alerts.core.models import Item, ItemStatus, utcnow
from alerts.core.text_versions import TextVersion
from alerts.items import translations as item_translations
from alerts.mail.rendering import KIND_LABELS
from alerts.mail.rich_blocks import load_rich, translated
from alerts.newsroom.atom import FeedLinks, FeedValidators, build_feed, validators
from alerts.newsroom.filters import FilterError, NewsFilter, parse_filter, parse_page
from alerts.newsroom.listing import feed_items, release_page, shown_versions
from alerts.newsroom.preview import find_preview
from alerts.newsroom.release import Release, find_release
from alerts.newsroom.slugs import release_path, slugify
from alerts.newsroom.version import current_version
from alerts.web.newsroom_cache import CachedPage, body_etag
from alerts.web.newsroom_view import (
    item_view,
    json_ld,
    language_switcher,
    open_graph,
    release_extras,
)
from alerts.web.state import newsroom_cache as _cache
from alerts.web.state import pages as _pages
from alerts.web.state import runtime as _runtime

router = APIRouter(include_in_schema=False)

# Readers' caches may keep these but must ask again each time (the validators make
# that cheap); an embargo lifting is then seen at once.
REVALIDATE = "no-cache"
FEED_TYPE = "application/atom+xml; charset=utf-8"


def _language(request: Request) -> str:
    return negotiate(request.headers.get("accept-language"), request.query_params.get("lang"))


def _params(request: Request) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    return params


def _bad_filter(request: Request, language: str, error: FilterError) -> Response:
    gettext = translations(language).gettext
    text = gettext(error.message) % error.values if error.values else gettext(error.message)
    return _pages(request).render(
        request,
        "message.html",
        language,
        status=400,
        title=N_("This list cannot be shown"),
        paragraphs=[text],
        link=f"{_pages(request).root}/news",
        link_text=N_("All releases"),
    )


def _read(request: Request, language: str) -> tuple[NewsFilter, int] | Response:
    params = _params(request)
    try:
        news = parse_filter(params, _runtime(request).taxonomy)
        return news, parse_page(params.get("page", []))
    except FilterError as error:
        return _bad_filter(request, language, error)


@router.get("/news")
def news_list(request: Request) -> Response:
    language = _language(request)
    read = _read(request, language)
    if isinstance(read, Response):
        return read
    cache = _cache(request)
    version = current_version(_runtime(request).engine) if cache.enabled else None
    key = ("list", request.url.query, language)
    page = cache.get(key, version)
    if page is None:
        response = _list_page(request, language, *read)
        page = CachedPage(
            version=version or 0,
            status=response.status_code,
            body=bytes(response.body),
            media_type="text/html",
            headers=(("ETag", body_etag(bytes(response.body))),),
        )
        if version is not None:
            cache.put(key, page)
    if page.status == 200 and _not_modified(request, page.etag, None):
        return Response(status_code=304, headers=dict(page.headers))
    return page.response()


def _list_page(request: Request, language: str, news: NewsFilter, number: int) -> Response:
    runtime = _runtime(request)
    with runtime.sessions() as session:
        page = release_page(session, news, number)
        # Filtered by language: each release in one of them, translated or not, linked so.
        versions = shown_versions(session, page.items, news.languages)
        views = [
            _in_version(item_view(item, runtime.taxonomy, language, versions.get(item.id)))
            if item.id in versions
            else item_view(item, runtime.taxonomy, language)
            for item in page.items
        ]
    root = _pages(request).root
    lang = {"lang": language} if "lang" in request.query_params else {}
    return _pages(request).render(
        request,
        "news/list.html",
        language,
        status=404 if page.past_end else 200,
        # No form here posts: no cookie, so one rendering serves every reader.
        set_cookie=False,
        news=news,
        page=page,
        releases=views,
        feed_url=f"{root}/news/feed.atom{news.query_string()}",
        subscribe_url=f"{root}/subscribe{news.subscribe_query()}",
        next_url=f"{root}/news{news.query_string(page=str(number + 1), **lang)}",
        previous_url=f"{root}/news{news.query_string(page=str(number - 1), **lang)}",
        last_url=f"{root}/news{news.query_string(page=str(page.pages), **lang)}",
        kinds=[(kind, label) for kind, label in KIND_LABELS.items()],
        keep_lang="lang" in request.query_params,
    )


def _in_version(view: dict[str, Any]) -> dict[str, Any]:
    """A list entry shown in a translation links to the release in that language."""
    return view | {"path": f"{view['path']}?lang={view['language']}"}


@router.get("/news/feed.atom")
def news_feed(request: Request) -> Response:
    read = _read(request, _language(request))
    if isinstance(read, Response):
        return read
    news, _ = read
    cache = _cache(request)
    if not cache.enabled:
        return _feed_uncached(request, news)
    version = current_version(_runtime(request).engine)
    key = ("feed", request.url.query, "")  # the feed's words are the items', not the frame's
    page = cache.get(key, version)
    if page is None:
        page = _feed_page(request, news, version or 0)
        if version is not None:
            cache.put(key, page)
    if _not_modified(request, page.etag, page.updated):
        return Response(status_code=304, headers=dict(page.headers))
    return page.response()


def _feed_links(request: Request, news: NewsFilter) -> FeedLinks:
    base = _runtime(request).settings.base_url.rstrip("/")
    return FeedLinks(
        base_url=base,
        self_url=f"{base}/news/feed.atom{news.query_string()}",
        page_url=f"{base}/news{news.query_string()}",
        title=f"{_pages(request).press_name} · Newsroom",
        author=_pages(request).press_name,
    )


@dataclass(frozen=True)
class _FeedRead:
    """What a feed is written from, read in one session (the rows stay loaded after)."""

    links: FeedLinks
    items: list[Item]
    topic_names: dict[str, str]
    versions: dict[int, TextVersion]
    checked: FeedValidators

    def build(self) -> bytes:
        return build_feed(self.links, self.items, self.topic_names, self.versions).body


def _feed_read(request: Request, news: NewsFilter) -> _FeedRead:
    runtime = _runtime(request)
    links = _feed_links(request, news)
    topic_names = dict(runtime.taxonomy.topics)
    with runtime.sessions() as session:
        items = feed_items(session, news)
        # Filtered by language: each entry in one of them, as the list shows it.
        versions = shown_versions(session, items, news.languages)
    checked = validators(links, items, topic_names, versions)
    return _FeedRead(links, items, topic_names, versions, checked)


def _feed_page(request: Request, news: NewsFilter, version: int) -> CachedPage:
    read = _feed_read(request, news)
    return CachedPage(
        version=version,
        status=200,
        body=read.build(),
        media_type=FEED_TYPE,
        headers=_feed_headers(read.checked),
        updated=read.checked.updated,
    )


def _feed_headers(checked: FeedValidators) -> tuple[tuple[str, str], ...]:
    return (
        ("ETag", checked.etag),
        ("Last-Modified", format_datetime(checked.updated, usegmt=True)),
        ("Cache-Control", REVALIDATE),
    )


def _feed_uncached(request: Request, news: NewsFilter) -> Response:
    """ALERTS_NEWSROOM_CACHE_MB=0: the validators first, the entries only if needed."""
    read = _feed_read(request, news)
    headers = dict(_feed_headers(read.checked))
    if _not_modified(request, read.checked.etag, read.checked.updated):
        # Before any entry is written: most polls end here.
        return Response(status_code=304, headers=headers)
    return Response(read.build(), media_type=FEED_TYPE, headers=headers)


def _not_modified(request: Request, etag: str, updated: datetime | None) -> bool:
    """RFC 9110 13.1: If-None-Match decides when present; If-Modified-Since otherwise
    (for pages that have a Last-Modified)."""
    none_match = request.headers.get("if-none-match")
    if none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in none_match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("if-modified-since")
    if since is None or updated is None:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError, IndexError):
        return False  # a date we cannot read is as if it were not sent
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return updated.replace(microsecond=0) <= when


def _reference(ref: str) -> tuple[int, str | None] | None:
    """``42-some-slug`` or ``42`` → (42, slug); anything else names no release."""
    number, _, slug = ref.partition("-")
    if not number.isascii() or not number.isdigit() or len(number) > 10:
        return None
    return int(number), slug if "-" in ref else None


def _not_found() -> HTTPException:
    # The app's own 404 page, the same for every kind of "not there" (see visibility).
    return HTTPException(404)


@router.get("/news/{ref}")
def release(request: Request, ref: str) -> Response:
    reference = _reference(ref)
    if reference is None:
        raise _not_found()
    item_id, slug = reference
    language = _language(request)
    runtime = _runtime(request)
    token = request.query_params.get("t")
    with runtime.sessions() as session:
        found = find_release(session, item_id)
        if found is None and token:
            found = find_preview(
                session, item_id, token, EmbargoLinks(runtime.settings.secret), utcnow()
            )
        if found is None:
            raise _not_found()
        if slug != slugify(found.item.title):
            # Checked only once the release is known to be public: a redirect would
            # otherwise tell that the id is in use.
            query = f"?{request.url.query}" if request.url.query else ""
            target = f"{_pages(request).root}{release_path(item_id, found.item.title)}{query}"
            return RedirectResponse(target, status_code=308)
        # ?lang= picks the words too: a translation in that language, else the original.
        wanted = request.query_params.get("lang", "")[:16]
        version = item_translations.version_for(session, found.item, wanted) if wanted else None
        shown = version.language if version else found.item.language
        context = _release_context(request, session, found, language, version)
        context["release_languages"] = language_switcher(
            found.item,
            [t.language for t in item_translations.of_item(session, found.item.id)],
            shown,
            f"{_pages(request).root}{release_path(found.item.id, found.item.title)}",
        )
        # The photo, documents, notes and contacts, read while the session is open.
        rich = load_rich(session, [found.item], runtime.settings.media_base_url)[found.item.id]
        context["rich"] = release_extras(translated(rich, version), language)
    # Words in a language the frame has no catalogue for (Persian, Hebrew): the page is theirs.
    html_lang = shown if wanted == shown and shown not in LANGUAGES else None
    page = _pages(request).render(
        request, "news/release.html", language, html_lang=html_lang, **context
    )
    if context["embargo"]:
        # The address carries the token: kept out of shared caches and of the
        # Referer sent to any site the page links to.
        page.headers["Cache-Control"] = "private, no-store"
        page.headers["Referrer-Policy"] = "no-referrer"
    return page


def _release_context(
    request: Request,
    session: Session,
    found: Release,
    language: str,
    version: TextVersion | None,
) -> dict[str, Any]:
    runtime = _runtime(request)
    base = runtime.settings.base_url.rstrip("/")
    item = found.item
    canonical = base + release_path(item.id, item.title)
    view = item_view(item, runtime.taxonomy, language, version)
    press = _pages(request).press_name
    embargo = ""
    if item.status == ItemStatus.EMBARGOED and item.embargo_until is not None:
        when = (
            f"{_date(item.embargo_until, language)}{comma(language)}"
            f"{item.embargo_until.astimezone(UTC):%H:%M} UTC"
        )
        embargo = translations(language).gettext("EMBARGOED UNTIL %(when)s") % {"when": when}
    return {
        "embargo": embargo,
        "release": view,
        "withdrawn": found.withdrawn,
        "withdrawn_on": _date(item.updated_at, language) if found.withdrawn else "",
        # The banners name the linked release in the words shown, where it has them.
        "corrects": _link(request, session, found.corrects, language, version),
        "corrections": [_link(request, session, c, language, version) for c in found.corrections],
        "canonical": canonical,
        # Nothing for link previews to pick up while the release is under embargo.
        "open_graph": [] if embargo else open_graph(item, canonical, press, version),
        "json_ld": Markup(json_ld(item, canonical, press, version)),
        "subscribe_url": f"{_pages(request).root}/subscribe{_subscribe_query(item)}",
    }


def _subscribe_query(item: Item) -> str:
    return NewsFilter(countries=tuple(item.countries), topics=tuple(item.topics)).subscribe_query()


def _link(
    request: Request,
    session: Session,
    item: Item | None,
    language: str,
    shown: TextVersion | None,
) -> dict[str, str] | None:
    """``shown``: the translation the page shows; the linked release's own translation in
    that language (if any) names it, and the link opens it in that language."""
    if item is None:
        return None
    other = item_translations.version_for(session, item, shown.language) if shown else None
    href = f"{_pages(request).root}{release_path(item.id, item.title)}"
    return {
        "href": f"{href}?lang={shown.language}" if other and shown else href,
        "title": other.title_of(item) if other else item.title,
        "language": other.language if other else item.language,
        "published": _date(item.published_at, language),
    }


def _date(when: datetime | None, language: str) -> str:
    return format_date(when, "long", locale=language) if when else ""
