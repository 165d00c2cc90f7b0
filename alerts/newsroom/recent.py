"""What a choice of countries, regions and topics would have sent recently.

Shown beside the sign-up and preferences forms so a journalist can judge a
choice before making it: the newest visible releases of the last
``RECENT_DAYS`` that a subscription with this choice matches (a country in
common, a region counting as its countries, or none chosen; and a topic in
common, or none). Visibility is the newsroom's own rule, so a draft, a
scheduled or an embargoed item is never among them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from alerts.core.models import Item
from alerts.core.taxonomy import regions
from alerts.newsroom.filters import NewsFilter
from alerts.newsroom.listing import newest_since

RECENT_COUNT = 5
RECENT_DAYS = 30


def choice_filter(places: Sequence[str], topics: Sequence[str]) -> NewsFilter:
    """``places``: country codes and region slugs, as the form holds them.

    A subscription matches an item with any one of its countries, a region's
    included; the newsroom's filter would require a country *and* a region.
    """
    known_regions = regions()
    codes: set[str] = set()
    for place in places:
        codes |= set(known_regions[place][1]) if place in known_regions else {place}
    return NewsFilter(countries=tuple(sorted(codes)), topics=tuple(sorted(set(topics))))


def recent_matches(
    session: Session,
    places: Sequence[str],
    topics: Sequence[str],
    now: datetime,
    count: int = RECENT_COUNT,
) -> list[Item]:
    since = now - timedelta(days=RECENT_DAYS)
    return newest_since(session, choice_filter(places, topics), since, count)
