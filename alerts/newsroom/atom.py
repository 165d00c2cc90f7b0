"""The newsroom as an Atom feed (RFC 4287): the latest visible releases of a filter."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from xml.etree import ElementTree as ET

from alerts.core.models import Item
from alerts.core.text_versions import TextVersion
from alerts.mail.markdown_body import render_body
from alerts.newsroom.slugs import release_path

ATOM = "http://www.w3.org/2005/Atom"
# An empty feed still needs an <updated>: the start of the epoch says "nothing yet".
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# In the ETag's digest: a change to how entries are written changes every tag.
FEED_FORMAT = "atom-3"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# A feed in one language: each entry's translation in it, by item id (none: the original).
Versions = Mapping[int, TextVersion]


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


def updated_of(item: Item, version: TextVersion | None = None) -> datetime:
    """``version``: the translation shown, whose edit is the entry's latest change too."""
    published = item.published_at or item.updated_at
    latest = max(published, item.updated_at)
    if version is not None and version.updated_at is not None:
        return max(latest, version.updated_at)
    return latest


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attributes)
    if text is not None:
        element.text = text
    return element


def validators(
    links: FeedLinks,
    items: list[Item],
    topic_names: dict[str, str],
    versions: Versions | None = None,
) -> FeedValidators:
    """Known before any entry is written, so a reader's poll that changed nothing costs
    one query and a digest (bench/newsroom.py: rendering the bodies was most of a feed).

    Every input of the bytes goes into the digest, the text of each item included: a
    CMS that edits a row without touching ``updated_at`` still changes the tag, and so
    does a translation shown in place of the original (its key is a digest of its words).
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
        version = (versions or {}).get(item.id)
        if version is not None:
            digest.update(f"\2{version.language}\0{version.key}\0{version.updated_at}".encode())
    shown = versions or {}
    updated = max((updated_of(item, shown.get(item.id)) for item in items), default=EPOCH)
    return FeedValidators(updated, f'"{digest.hexdigest()[:32]}"')


@lru_cache(maxsize=1024)
def _content(body: str) -> str:
    # Keyed by the text itself, so an edited body is never served from here; the same
    # newest entries are in every poll of every filter.
    return "\n".join(str(block) for block in render_body(body).html)


def build_feed(
    links: FeedLinks,
    items: list[Item],
    topic_names: dict[str, str],
    versions: Versions | None = None,
) -> BuiltFeed:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    checked = validators(links, items, topic_names, versions)
    updated = checked.updated
    _sub(feed, "id", links.self_url)
    _sub(feed, "title", links.title)
    _sub(feed, "updated", _when(updated))
    _sub(_sub(feed, "author"), "name", links.author)
    _sub(feed, "link", rel="self", type="application/atom+xml", href=links.self_url)
    _sub(feed, "link", rel="alternate", type="text/html", href=links.page_url)
    for item in items:
        version = (versions or {}).get(item.id)
        language = version.language if version else item.language
        entry = _sub(feed, "entry", **{XML_LANG: language})
        # The id never changes, even if the title (and so the slug) does, and is the
        # same in every language: it is one release.
        _sub(entry, "id", f"{links.base_url}/news/{item.id}")
        _sub(entry, "title", version.title_of(item) if version else item.title)
        _sub(entry, "updated", _when(updated_of(item, version)))
        if item.published_at is not None:
            _sub(entry, "published", _when(item.published_at))
        page = links.base_url + release_path(item.id, item.title)
        _sub(
            entry,
            "link",
            rel="alternate",
            type="text/html",
            href=f"{page}?lang={language}" if version else page,
            hreflang=language,
        )
        summary = version.summary_of(item) if version else item.summary
        if summary:
            _sub(entry, "summary", summary)
        body = _content(version.body_of(item) if version else item.body)
        if body:
            _sub(entry, "content", body, type="html")
        for topic in item.topics:
            _sub(entry, "category", term=topic, label=topic_names.get(topic, topic))
        for country in item.countries:
            _sub(entry, "category", term=country, scheme=f"{links.base_url}/news?country=")
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return BuiltFeed(body, updated, checked.etag)
