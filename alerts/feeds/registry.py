"""Registering a feed: its URL checked (public hosts only), its kind and topic map."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.core.models import Feed
from alerts.core.taxonomy import Taxonomy
from alerts.feeds.credentials import hide_credentials
from alerts.feeds.guard import PUBLIC_ONLY, AddressPolicy, AddressRefused, check_url
from alerts.feeds.topic_map import FeedError, TopicMap
from alerts.items.drafts import ITEM_KINDS


class InvalidFeed(FeedError):
    """The feed's URL or kind cannot be used."""


class DuplicateFeed(InvalidFeed):
    """A feed with this URL is already registered."""


def check_feed_url(url: str) -> str:
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises for a port out of range
    except ValueError as exc:  # "http://[::1/": a bracket left open
        raise InvalidFeed(f"feed URL {hide_credentials(url)[:100]!r} is malformed: {exc}") from exc
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidFeed(f"feed URL must be an http(s) address, got {hide_credentials(url)!r}")
    if len(url) > 2000 or any(c.isspace() or ord(c) < 32 for c in url):
        raise InvalidFeed(
            f"feed URL is too long or contains spaces: {hide_credentials(url)[:100]!r}"
        )
    return url


def add_feed(
    session: Session,
    taxonomy: Taxonomy,
    url: str,
    kind: str = "press_release",
    topic_map: TopicMap | Mapping[str, Any] | None = None,
    policy: AddressPolicy = PUBLIC_ONLY,
) -> Feed:
    """Register a feed (not committed). ``topic_map`` is a TopicMap or its JSON shape.

    A feed whose host is not public is refused now, for a clear message; the poller
    checks again on every request, since DNS may change.
    """
    url = check_feed_url(url)
    if kind not in ITEM_KINDS:
        raise InvalidFeed(f"unknown kind {kind!r} (one of {', '.join(ITEM_KINDS)})")
    if not isinstance(topic_map, TopicMap):
        topic_map = TopicMap.parse(topic_map if topic_map is not None else {}, taxonomy)
    try:
        check_url(url, policy)
    except AddressRefused as exc:
        raise InvalidFeed(f"feed URL {hide_credentials(url)}: {exc}") from exc
    # The unique constraint still guards a concurrent add; this gives the usual case a
    # clear message instead of an IntegrityError at commit.
    if session.scalar(select(Feed.id).where(Feed.url == url)) is not None:
        raise DuplicateFeed(f"feed {hide_credentials(url)} is already registered")
    feed = Feed(url=url, kind=kind, topic_map=topic_map.to_json())
    session.add(feed)
    session.flush()
    return feed
