"""The newsroom as an Atom feed (RFC 4287): the latest visible releases of a filter."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from xml.etree import ElementTree as ET

from alerts.core.models import Item
from alerts.mail.markdown_body import render_body
from alerts.newsroom.slugs import release_path

ATOM = "http://www.w3.org/2005/Atom"
# An empty feed still needs an <updated>: the start of the epoch says "nothing yet".
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# In the ETag's digest: a change to how entries are written changes every tag.
FEED_FORMAT = "atom-2"


@dataclass(frozen=True)
class FeedLinks:
    base_url: str  # the site, no trailing slash
    self_url: str  # this feed, filters and all
    page_url: str  # the same list as a page
    title: str
    author: str


@dataclass(frozen=True)
class FeedValidators:
    updated: datetime  # of the newest entry; Last-Modified
    etag: str  # quoted, strong: a digest of everything the bytes are made from


@dataclass(frozen=True)
class BuiltFeed:
    body: bytes
    updated: datetime
    etag: str


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def updated_of(item: Item) -> datetime:
    published = item.published_at or item.updated_at
    return max(published, item.updated_at)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attributes)
    if text is not None:
        element.text = text
    return element


def validators(links: FeedLinks, items: list[Item], topic_names: dict[str, str]) -> FeedValidators:
    """Known before any entry is written, so a reader's poll that changed nothing costs
    one query and a digest (bench/newsroom.py: rendering the bodies was most of a feed).

    Every input of the bytes goes into the digest, the text of each item included: a
    CMS that edits a row without touching ``updated_at`` still changes the tag.
    """
    digest = hashlib.sha256(FEED_FORMAT.encode())
    for part in (links.base_url, links.self_url, links.page_url, links.title, links.author):
        digest.update(b"\0" + part.encode())
    for code in sorted(topic_names):
        digest.update(f"\0{code}={topic_names[code]}".encode())
    for item in items:
        fields = (
            item.id,
            item.title,
            item.summary,
            item.body,
            item.language,
            item.published_at,
            item.updated_at,
            item.topics,
            item.countries,
        )
        digest.update(b"\1" + "\0".join(map(str, fields)).encode())
    updated = max((updated_of(item) for item in items), default=EPOCH)
    return FeedValidators(updated, f'"{digest.hexdigest()[:32]}"')


@lru_cache(maxsize=1024)
def _content(body: str) -> str:
    # Keyed by the text itself, so an edited body is never served from here; the same
    # newest entries are in every poll of every filter.
    return "\n".join(str(block) for block in render_body(body).html)


def build_feed(links: FeedLinks, items: list[Item], topic_names: dict[str, str]) -> BuiltFeed:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    checked = validators(links, items, topic_names)
    updated = checked.updated
    _sub(feed, "id", links.self_url)
    _sub(feed, "title", links.title)
    _sub(feed, "updated", _when(updated))
    _sub(_sub(feed, "author"), "name", links.author)
    _sub(feed, "link", rel="self", type="application/atom+xml", href=links.self_url)
    _sub(feed, "link", rel="alternate", type="text/html", href=links.page_url)
    for item in items:
        entry = _sub(feed, "entry")
        # The id never changes, even if the title (and so the slug) does.
        _sub(entry, "id", f"{links.base_url}/news/{item.id}")
        _sub(entry, "title", item.title)
        _sub(entry, "updated", _when(updated_of(item)))
        if item.published_at is not None:
            _sub(entry, "published", _when(item.published_at))
        _sub(
            entry,
            "link",
            rel="alternate",
            type="text/html",
            href=links.base_url + release_path(item.id, item.title),
            hreflang=item.language,
        )
        if item.summary:
            _sub(entry, "summary", item.summary)
        body = _content(item.body)
        if body:
            _sub(entry, "content", body, type="html")
        for topic in item.topics:
            _sub(entry, "category", term=topic, label=topic_names.get(topic, topic))
        for country in item.countries:
            _sub(entry, "category", term=country, scheme=f"{links.base_url}/news?country=")
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return BuiltFeed(body, updated, checked.etag)
