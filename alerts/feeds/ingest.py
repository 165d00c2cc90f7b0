"""Newsroom feed ingest: poll RSS/Atom feeds and turn each new entry into an item, once.

Plain functions; the beat task and the CLI bring the HTTP client and the session
factory. A poll reads what it needs about a feed, closes its session, fetches
over the network, and only then opens a transaction to store the entries: no
database transaction is held open while a slow newsroom server answers.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.core.models import Feed
from alerts.core.taxonomy import Taxonomy, TaxonomyError
from alerts.core.unknown_keys import unknown_keys_message
from alerts.feeds.credentials import hide_credentials
from alerts.feeds.guard import (
    PUBLIC_ONLY,
    AddressPolicy,
    AddressRefused,
    GuardedTransport,
    check_url,
)
from alerts.items.publishing import (
    ITEM_KINDS,
    InvalidItem,
    ItemDraft,
    create_item,
    find_by_external_id,
    parse_draft,
    publish_item,
)

log = logging.getLogger(__name__)

SessionFactory = Callable[[], Session]

USER_AGENT = "newsroom-alerts feed poller"
MAX_FEED_BYTES = 5 * 1024 * 1024  # a newsroom feed is kilobytes; refuse to buffer a runaway one
TITLE_MAX = 500  # Item.title
ERROR_MAX = 1000  # Feed.last_error
# Another poller storing the same entry first costs one rerun of the (in-memory) feed.
STORE_ATTEMPTS = 3


class FeedError(ValueError):
    """Bad input for a feed; the message names the problem."""


class InvalidTopicMap(FeedError):
    """The topic map is malformed or names an unknown topic, country or category."""


class InvalidFeed(FeedError):
    """The feed's URL or kind cannot be used."""


class DuplicateFeed(InvalidFeed):
    """A feed with this URL is already registered."""


class PollFailed(Exception):
    """A poll could not get usable entries (network, HTTP status, not a feed)."""


# --- topic map -----------------------------------------------------------------


def category_key(name: str) -> str:
    """How feed categories are compared: case and runs of whitespace do not matter."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class CategoryMapping:
    topics: frozenset[str] = frozenset()
    countries: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Resolution:
    topics: frozenset[str]
    countries: frozenset[str]
    unmapped: tuple[str, ...]

    @property
    def publishable(self) -> bool:
        return bool(self.topics or self.countries)


@dataclass(frozen=True)
class TopicMap:
    """Feed category → topics and countries, validated against the vocabulary."""

    categories: Mapping[str, CategoryMapping] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: object, taxonomy: Taxonomy) -> TopicMap:
        """``{"categories": {"<category>": {"topics": [...], "countries": [...]}}}``."""
        if not isinstance(data, Mapping):
            raise InvalidTopicMap('expected {"categories": {"<feed category>": {...}}}')
        if problem := unknown_keys_message(map(str, data), {"categories"}):
            raise InvalidTopicMap(problem)
        raw = data.get("categories", {})
        if not isinstance(raw, Mapping):
            raise InvalidTopicMap('"categories" must be an object')
        categories: dict[str, CategoryMapping] = {}
        seen: dict[str, str] = {}
        for name, spec in raw.items():
            key = category_key(name) if isinstance(name, str) else ""
            if not key:
                raise InvalidTopicMap("a category name is empty")
            if key in seen:
                raise InvalidTopicMap(
                    f"categories {seen[key]!r} and {name!r} are the same (case is ignored)"
                )
            seen[key] = name
            categories[name] = _parse_mapping(name, spec, taxonomy)
        return cls(categories)

    @classmethod
    def from_json(cls, text: str, taxonomy: Taxonomy) -> TopicMap:
        try:
            data = json.loads(text or "{}")
        except json.JSONDecodeError as exc:
            raise InvalidTopicMap(f"not JSON: {exc}") from exc
        return cls.parse(data, taxonomy)

    @classmethod
    def load(cls, path: Path, taxonomy: Taxonomy) -> TopicMap:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidTopicMap(f"cannot read {path}: {exc}") from exc
        try:
            return cls.from_json(text, taxonomy)
        except InvalidTopicMap as exc:
            raise InvalidTopicMap(f"{path}: {exc}") from exc

    def to_json(self) -> str:
        return json.dumps(
            {
                "categories": {
                    name: {"topics": sorted(m.topics), "countries": sorted(m.countries)}
                    for name, m in self.categories.items()
                }
            },
            ensure_ascii=False,
            sort_keys=True,
        )

    def resolve(self, categories: Iterable[str | tuple[str, ...]]) -> Resolution:
        """Topics and countries of an entry's categories.

        A category may come with several names (an Atom label and its slug term):
        it is mapped when any of them is, and reported unmapped by its first.
        """
        by_key = {category_key(name): m for name, m in self.categories.items()}
        topics: set[str] = set()
        countries: set[str] = set()
        unmapped: list[str] = []
        for category in categories:
            names = (category,) if isinstance(category, str) else category
            mapping = next((by_key[k] for k in map(category_key, names) if k in by_key), None)
            if mapping is None:
                unmapped.append(names[0])
                continue
            topics |= mapping.topics
            countries |= mapping.countries
        return Resolution(frozenset(topics), frozenset(countries), tuple(unmapped))


def _parse_mapping(name: str, spec: object, taxonomy: Taxonomy) -> CategoryMapping:
    if not isinstance(spec, Mapping):
        raise InvalidTopicMap(
            f'category {name!r}: expected {{"topics": [...], "countries": [...]}}'
        )
    if problem := unknown_keys_message(map(str, spec), {"topics", "countries"}):
        raise InvalidTopicMap(f"category {name!r}: {problem}")
    topics, countries = spec.get("topics", []), spec.get("countries", [])
    for label, values in (("topics", topics), ("countries", countries)):
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidTopicMap(f"category {name!r}: {label} must be a list of codes")
    try:
        # Items name countries only: a region would mail half a continent.
        mapping = CategoryMapping(
            frozenset(taxonomy.topic_codes(topics)), frozenset(taxonomy.item_countries(countries))
        )
    except TaxonomyError as exc:
        raise InvalidTopicMap(f"category {name!r}: {exc}") from exc
    if not mapping.topics and not mapping.countries:
        raise InvalidTopicMap(f"category {name!r} maps to no topic or country")
    return mapping


# --- registering a feed --------------------------------------------------------


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


# --- fetching --------------------------------------------------------------------


def make_client(timeout: float = 20.0, policy: AddressPolicy = PUBLIC_ONLY) -> httpx.Client:
    """The client the beat task and the CLI poll with; every hop passes the address policy."""
    return httpx.Client(
        timeout=timeout,
        follow_redirects=True,
        transport=GuardedTransport(policy),
        # No HTTP(S)_PROXY from the environment: behind a proxy the guard could not
        # know which address is finally reached.
        trust_env=False,
        headers={
            "User-Agent": USER_AGENT,
            "Accept": "application/atom+xml, application/rss+xml, application/xml;q=0.9, */*;q=0.5",
        },
    )


@dataclass(frozen=True)
class FeedSnapshot:
    """What a poll needs to know about a feed, read before the session is closed."""

    id: int
    url: str
    kind: str
    topic_map: str
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class Fetched:
    not_modified: bool
    url: str = ""
    content: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None


def conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def fetch(client: httpx.Client, feed: FeedSnapshot) -> Fetched:
    """GET the feed, conditionally; network and HTTP failures become PollFailed."""
    headers = conditional_headers(feed.etag, feed.last_modified)
    try:
        with client.stream("GET", feed.url, headers=headers) as response:
            if response.status_code == 304:
                return Fetched(not_modified=True)
            if not response.is_success:
                raise PollFailed(f"HTTP {response.status_code} {response.reason_phrase}")
            content = _read_capped(response)
            return Fetched(
                not_modified=False,
                url=str(response.url),
                content=content,
                content_type=response.headers.get("content-type", ""),
                etag=_fits(response.headers.get("etag"), 300),
                last_modified=_fits(response.headers.get("last-modified"), 100),
            )
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise PollFailed(f"{type(exc).__name__}: {exc}") from exc


def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_FEED_BYTES:
            raise PollFailed(f"feed larger than {MAX_FEED_BYTES // (1024 * 1024)} MB")
        chunks.append(chunk)
    return b"".join(chunks)


def _fits(value: str | None, limit: int) -> str | None:
    # A validator cut short would never match; better not to send one at all.
    return value if value and len(value) <= limit else None


# --- parsing -------------------------------------------------------------------------

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_BLOCK_TAGS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt"),
        *("figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header"),
        *("hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr"),
        "ul",
    }
)
_HIDDEN_TAGS = frozenset({"script", "style", "template"})


class _TextExtractor(HTMLParser):
    """Text of an HTML fragment: tags dropped, entities decoded, blocks become paragraphs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return _paragraphs("".join(parser.parts))


def _paragraphs(text: str) -> str:
    """Whitespace tidied; blank lines (the body's paragraph marks) kept."""
    chunks = (" ".join(chunk.split()) for chunk in text.replace("\r", "").split("\n\n"))
    return "\n\n".join(chunk for chunk in chunks if chunk)


def _text_of(detail: Any) -> str:
    """Plain text of a feedparser text construct; only HTML ones are de-tagged.

    A ``text/plain`` title such as "Why <script> tags matter" is text, already
    unescaped by the XML parser: stripping "tags" from it would eat words.
    """
    if not detail:
        return ""
    value = str(detail.get("value") or "")
    return html_to_text(value) if detail.get("type") in _HTML_TYPES else _paragraphs(value)


@dataclass(frozen=True)
class FeedEntry:
    key: str  # the entry's id/guid, else its link: what makes it the same entry next time
    title: str
    summary: str
    body: str
    link: str | None
    categories: tuple[tuple[str, ...], ...]  # each category's names


@dataclass(frozen=True)
class ParsedFeed:
    entries: list[FeedEntry]
    problems: list[str]


def parse_feed(fetched: Fetched) -> ParsedFeed:
    """The usable entries, oldest first, and a note for each unusable one."""
    parsed = feedparser.parse(
        fetched.content,
        response_headers={"content-location": fetched.url, "content-type": fetched.content_type},
    )
    if not parsed.get("version"):
        reason = parsed.get("bozo_exception") or "no RSS or Atom root element"
        raise PollFailed(f"not an RSS or Atom feed ({reason})")
    entries: list[FeedEntry] = []
    problems: list[str] = []
    # Feeds list the newest first; storing oldest first keeps item ids in date order.
    for position, raw in reversed(list(enumerate(parsed.entries, start=1))):
        entry = _entry(raw, fetched.url)
        if isinstance(entry, str):
            problems.append(f"entry {position}: {entry}; skipped")
        else:
            entries.append(entry)
    return ParsedFeed(entries, problems)


def _entry(raw: Any, base_url: str) -> FeedEntry | str:
    """A FeedEntry, or why the entry cannot become an item."""
    link = _absolute_link(raw.get("link"), base_url)
    key = str(raw.get("id") or raw.get("link") or "").strip()
    if not key:
        return "no id, guid or link"
    title = " ".join(_text_of(raw.get("title_detail")).split())
    if not title:
        return f"{key!r} has no title"
    if len(title) > TITLE_MAX:
        title = title[: TITLE_MAX - 1].rstrip() + "…"
    summary = _text_of(raw.get("summary_detail"))
    content = raw.get("content") or []
    body = _text_of(content[0]) if content else ""
    return FeedEntry(
        key=key,
        title=title,
        summary=summary,
        body="" if body == summary else body,
        link=link,
        categories=tuple(_categories(raw)),
    )


def _absolute_link(link: object, base_url: str) -> str | None:
    if not isinstance(link, str) or not link.strip():
        return None
    absolute = urljoin(base_url, link.strip())
    # javascript:, mailto: and the like never become the item's link.
    parts = urlsplit(absolute)
    if parts.scheme in {"http", "https"} and parts.netloc and len(absolute) <= 2000:
        return absolute
    return None


def _categories(raw: Any) -> Iterator[tuple[str, ...]]:
    """Each tag's names, label first: Atom puts words in the label and often a slug in term."""
    for tag in raw.get("tags") or []:
        names = tuple(
            value.strip()
            for value in (tag.get("label"), tag.get("term"))
            if isinstance(value, str) and value.strip()
        )
        if names:
            yield names


def external_id(feed_id: int, entry_key: str) -> str:
    """``feed:<id>:<hash>``: fixed length whatever the guid, unique per feed and entry."""
    digest = hashlib.sha256(entry_key.encode("utf-8")).hexdigest()[:40]
    return f"feed:{feed_id}:{digest}"


# --- storing ----------------------------------------------------------------------------


@dataclass
class PollResult:
    feed_id: int
    url: str
    status: str = "updated"  # updated | not-modified | failed
    published: list[int] = field(default_factory=list)
    drafted: list[int] = field(default_factory=list)
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    unmapped: set[str] = field(default_factory=set)
    error: str | None = None

    @property
    def created(self) -> list[int]:
        return sorted(self.published + self.drafted)

    def as_dict(self) -> dict[str, Any]:
        return {
            "feed_id": self.feed_id,
            "url": hide_credentials(self.url),  # the beat task's result is logged
            "status": self.status,
            "created": len(self.created),
            "published": self.published,
            "drafted": self.drafted,
            "skipped": self.skipped,
            "problems": self.problems,
            "unmapped": sorted(self.unmapped),
            "error": self.error,
        }


def store_entries(
    session: Session,
    taxonomy: Taxonomy,
    feed: Feed,
    topic_map: TopicMap,
    parsed: ParsedFeed,
    now: datetime,
) -> PollResult:
    """Create an item for each entry not stored before (not committed).

    An entry whose categories map to a topic or a country is published (the
    session hook fans it out after commit); any other is left as a draft for
    staff. Either way its external id means no later poll creates it again.
    """
    result = PollResult(feed.id, feed.url, problems=list(parsed.problems))
    result.skipped = len(parsed.problems)
    for entry in parsed.entries:
        if find_by_external_id(session, external_id(feed.id, entry.key)) is not None:
            result.skipped += 1
            continue
        resolution = topic_map.resolve(entry.categories)
        result.unmapped.update(resolution.unmapped)
        try:
            item = create_item(session, taxonomy, _draft(feed, entry, resolution))
        except InvalidItem as exc:
            result.problems.append(f"{entry.key!r}: {exc}; skipped")
            result.skipped += 1
            continue
        if resolution.publishable:
            publish_item(session, item, now)
        session.flush()  # the id, and the unique external id checked now rather than at commit
        (result.published if resolution.publishable else result.drafted).append(item.id)
    return result


def _draft(feed: Feed, entry: FeedEntry, resolution: Resolution) -> ItemDraft:
    return parse_draft(
        {
            "title": entry.title,
            "summary": entry.summary,
            "body": entry.body,
            "url": entry.link,
            "kind": feed.kind,
            "external_id": external_id(feed.id, entry.key),
            "topics": sorted(resolution.topics),
            "countries": sorted(resolution.countries),
        }
    )


# --- polling ---------------------------------------------------------------------------


def poll_all(
    session_factory: SessionFactory, taxonomy: Taxonomy, client: httpx.Client, now: datetime
) -> dict[str, Any]:
    """Poll every feed, each in its own transaction; one bad feed never stops the others."""
    with session_factory() as session:
        feed_ids = list(session.scalars(select(Feed.id).order_by(Feed.id)))
    results = [_poll_guarded(session_factory, taxonomy, client, fid, now) for fid in feed_ids]
    return summarise(results)


def summarise(results: list[PollResult]) -> dict[str, Any]:
    def count(status: str) -> int:
        return sum(r.status == status for r in results)

    return {
        "feeds": len(results),
        "updated": count("updated"),
        "not_modified": count("not-modified"),
        "failed": count("failed"),
        "published": sum(len(r.published) for r in results),
        "drafted": sum(len(r.drafted) for r in results),
        "skipped": sum(r.skipped for r in results),
        "results": [r.as_dict() for r in results],
    }


def _poll_guarded(
    session_factory: SessionFactory,
    taxonomy: Taxonomy,
    client: httpx.Client,
    feed_id: int,
    now: datetime,
) -> PollResult:
    try:
        return poll_feed(session_factory, taxonomy, client, feed_id, now)
    except Exception as exc:  # a database hiccup or a parser bug: record it, go on
        log.exception("polling feed %s failed", feed_id)
        message = f"{type(exc).__name__}: {exc}"
        try:
            record_error(session_factory, feed_id, message, now)
        except Exception:
            log.exception("could not record the error of feed %s", feed_id)
        return PollResult(feed_id, "", status="failed", error=message)


def poll_feed(
    session_factory: SessionFactory,
    taxonomy: Taxonomy,
    client: httpx.Client,
    feed_id: int,
    now: datetime,
) -> PollResult:
    """Fetch one feed with no session open, then store its new entries in one transaction."""
    snapshot = _snapshot(session_factory, feed_id)
    if snapshot is None:
        return PollResult(feed_id, "", status="failed", error="feed was removed")
    try:
        topic_map = TopicMap.from_json(snapshot.topic_map, taxonomy)
        fetched = fetch(client, snapshot)
        parsed = None if fetched.not_modified else parse_feed(fetched)
    except (PollFailed, InvalidTopicMap) as exc:
        # Expected trouble, kept in last_error for `alerts feed list`; validators are
        # kept too, so the next poll is still conditional.
        log.info("feed %s (%s): %s", feed_id, hide_credentials(snapshot.url), exc)
        record_error(session_factory, feed_id, str(exc), now)
        return PollResult(feed_id, snapshot.url, status="failed", error=str(exc))
    if parsed is None:
        _record_not_modified(session_factory, feed_id, now)
        return PollResult(feed_id, snapshot.url, status="not-modified")
    result = _store(session_factory, taxonomy, feed_id, topic_map, fetched, parsed, now)
    log.info(
        "feed %s: published %s, drafted %s, skipped %s",
        feed_id,
        result.published,
        result.drafted,
        result.skipped,
    )
    return result


def _snapshot(session_factory: SessionFactory, feed_id: int) -> FeedSnapshot | None:
    with session_factory() as session:
        feed = session.get(Feed, feed_id)
        if feed is None:
            return None
        return FeedSnapshot(
            feed.id, feed.url, feed.kind, feed.topic_map, feed.etag, feed.last_modified
        )


def _store(
    session_factory: SessionFactory,
    taxonomy: Taxonomy,
    feed_id: int,
    topic_map: TopicMap,
    fetched: Fetched,
    parsed: ParsedFeed,
    now: datetime,
) -> PollResult:
    """Store the entries and the new validators together, or nothing.

    Two polls of one feed at once (a slow beat run overlapping the next, or the
    CLI beside the beat) may both try to insert an entry; the unique external id
    lets one win and the other roll back and run again, now seeing the winner's
    items. Savepoints would also do, but the session's rollback hook forgets the
    items already published in the transaction, and SQLite's driver mishandles
    them; a whole rerun of an in-memory feed is cheap.
    """
    attempt = 1
    while True:
        try:
            return _store_once(session_factory, taxonomy, feed_id, topic_map, fetched, parsed, now)
        except IntegrityError:
            if attempt == STORE_ATTEMPTS:
                raise
            attempt += 1
            log.info("feed %s: another poll stored an entry first; storing again", feed_id)


def _store_once(
    session_factory: SessionFactory,
    taxonomy: Taxonomy,
    feed_id: int,
    topic_map: TopicMap,
    fetched: Fetched,
    parsed: ParsedFeed,
    now: datetime,
) -> PollResult:
    with session_factory() as session:  # closing it rolls back whatever did not commit
        feed = session.get(Feed, feed_id)
        if feed is None:
            return PollResult(feed_id, fetched.url, status="failed", error="feed was removed")
        result = store_entries(session, taxonomy, feed, topic_map, parsed, now)
        feed.etag, feed.last_modified = fetched.etag, fetched.last_modified
        feed.last_polled_at, feed.last_error = now, None
        session.commit()
        return result


def _record_not_modified(session_factory: SessionFactory, feed_id: int, now: datetime) -> None:
    with session_factory() as session:
        feed = session.get(Feed, feed_id)
        if feed is not None:
            feed.last_polled_at, feed.last_error = now, None
            session.commit()


def record_error(
    session_factory: SessionFactory, feed_id: int, message: str, now: datetime
) -> None:
    with session_factory() as session:
        feed = session.get(Feed, feed_id)
        if feed is not None:
            feed.last_polled_at = now
            feed.last_error = message[:ERROR_MAX]
            session.commit()
