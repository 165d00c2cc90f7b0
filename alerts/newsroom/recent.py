"""What a choice of countries, regions and topics would have sent recently.

Shown beside the sign-up form so a journalist can judge a choice before making
it: the newest visible releases that a subscription with this choice matches
(a country or region in common, or none chosen; and a topic in common, or none).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from alerts.core.models import Item
from alerts.core.taxonomy import regions
from alerts.newsroom.filters import NewsFilter
from alerts.newsroom.listing import release_page

RECENT_COUNT = 5


def recent_matches(
    session: Session, places: Sequence[str], topics: Sequence[str], count: int = RECENT_COUNT
) -> list[Item]:
    """``places``: checked country codes and region slugs, as the form holds them."""
    known_regions = regions()
    news = NewsFilter(
        countries=tuple(p for p in places if p not in known_regions),
        regions=tuple(p for p in places if p in known_regions),
        topics=tuple(topics),
    )
    # The first page of the newsroom's own list: the same visibility rule, newest first.
    return release_page(session, news, 1).items[:count]
