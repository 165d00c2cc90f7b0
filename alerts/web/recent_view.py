"""What a sign-up choice would have sent lately: in the forms' templates, and as JSON.

``GET /news/matching?country=MX&region=americas&topic=asylum`` is what
static/recent.js asks as the choice changes; the forms render the same list on
the server, so without JavaScript the page shows it too (for the choice the
page was opened with). Public and read-only, like the newsroom: only releases
the newsroom lists, and unknown codes are a 400, never an empty list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import QueryParams

from alerts.core.i18n import direction, negotiate, translations
from alerts.core.models import Item, utcnow
from alerts.newsroom.filters import FilterError, parse_filter
from alerts.newsroom.recent import recent_matches
from alerts.newsroom.slugs import release_path
from alerts.web.newsroom_view import item_view
from alerts.web.state import pages as _pages
from alerts.web.state import runtime as _runtime

router = APIRouter(include_in_schema=False)

# Shared caches may answer the same choice for a minute: the list changes only when
# something is published, and a picker sends a request for each click.
CACHE = "public, max-age=60"
CHOICE_KEYS = ("country", "region", "topic")


def _entry(item: Item, root: str, language: str, request: Request) -> dict[str, Any]:
    view = item_view(item, _runtime(request).taxonomy, language)
    return {
        "title": item.title,
        "href": f"{root}{release_path(item.id, item.title)}",
        "published": view["published"],
        "language": item.language,
        "dir": direction(item.language),
    }


def recent_views(
    request: Request, places: Sequence[str], topics: Sequence[str], language: str
) -> list[dict[str, Any]]:
    """Nothing until something is chosen: "any of everything" would list the whole newsroom."""
    if not places and not topics:
        return []
    runtime = _runtime(request)
    root = _pages(request).root
    with runtime.sessions() as session:
        items = recent_matches(session, places, topics, utcnow())
        return [_entry(item, root, language, request) for item in items]


def _choice(params: QueryParams, request: Request) -> tuple[list[str], list[str]]:
    """The choice as the forms hold it (countries and region slugs; topics), checked strictly."""
    picked = {key: params.getlist(key) for key in CHOICE_KEYS if key in params}
    news = parse_filter(picked, _runtime(request).taxonomy)
    return [*news.countries, *news.regions], list(news.topics)


@router.get("/news/matching")
def matching(request: Request) -> Response:
    language = negotiate(request.headers.get("accept-language"), request.query_params.get("lang"))
    try:
        places, topics = _choice(request.query_params, request)
    except FilterError as error:
        gettext = translations(language).gettext
        message = gettext(error.message) % error.values if error.values else gettext(error.message)
        return JSONResponse({"error": message}, status_code=400, headers={"Cache-Control": CACHE})
    items = recent_views(request, places, topics, language)
    return JSONResponse(
        {"items": items},
        headers={"Cache-Control": CACHE, "Vary": "Accept-Language"},
    )
