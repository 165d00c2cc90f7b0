"""The releases a sign-up choice would have sent recently, ready for the form's template."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request

from alerts.newsroom.recent import recent_matches
from alerts.newsroom.slugs import release_path
from alerts.web.newsroom_view import item_view
from alerts.web.state import pages as _pages
from alerts.web.state import runtime as _runtime


def recent_views(
    request: Request, places: Sequence[str], topics: Sequence[str], language: str
) -> list[dict[str, object]]:
    """Nothing until something is chosen: "any of everything" would list the whole newsroom."""
    if not places and not topics:
        return []
    runtime = _runtime(request)
    root = _pages(request).root
    with runtime.sessions() as session:
        items = recent_matches(session, places, topics)
        return [
            item_view(item, runtime.taxonomy, language)
            | {"href": f"{root}{release_path(item.id, item.title)}"}
            for item in items
        ]
