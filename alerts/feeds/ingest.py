"""Newsroom feed ingest: poll RSS/Atom feeds and turn each new entry into an item, once.

Plain functions; the beat task and the CLI bring the HTTP client and the session
factory. A poll reads what it needs about a feed, closes its session, fetches
over the network (`feeds.fetch`), parses (`feeds.parse`), and only then opens a
transaction to store the entries: no database transaction is held open while a
slow newsroom server answers.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.core.models import Feed, Item
from alerts.core.taxonomy import Taxonomy
from alerts.feeds import lead_photos
from alerts.feeds.credentials import hide_credentials
from alerts.feeds.enclosures import EntryImage
from alerts.feeds.fetch import FeedSnapshot, Fetched, PollFailed, fetch
from alerts.feeds.lead_photos import LeadPhotos, StoredPhoto
from alerts.feeds.parse import FeedEntry, ParsedFeed, parse_feed
from alerts.feeds.topic_map import InvalidTopicMap, Resolution, TopicMap
from alerts.items.drafts import (
    InvalidItem,
    ItemDraft,
    create_item,
    find_by_external_id,
    parse_draft,
)
from alerts.items.lifecycle import publish_item

log = logging.getLogger(__name__)


SessionFactory = Callable[[], Session]


ERROR_MAX = 1000  # Feed.last_error
IMPORT_PROBLEM_MAX = 1000  # Item.import_problem


# Another poller storing the same entry first costs one rerun of the (in-memory) feed.
STORE_ATTEMPTS = 3


def external_id(feed_id: int, entry_key: str) -> str:
    """``feed:<id>:<hash>``: fixed length whatever the guid, unique per feed and entry."""
    digest = hashlib.sha256(entry_key.encode("utf-8")).hexdigest()[:40]
    return f"feed:{feed_id}:{digest}"


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
    # Entries kept as drafts because their lead photo could not be stored, and why.
    photo_problems: list[dict[str, Any]] = field(default_factory=list)

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
            "photo_problems": self.photo_problems,
        }


def store_entries(
    session: Session,
    taxonomy: Taxonomy,
    feed: Feed,
    topic_map: TopicMap,
    parsed: ParsedFeed,
    now: datetime,
    photos: LeadPhotos | None = None,
    downloads: Mapping[str, bytes | str] | None = None,
    stored: list[str] | None = None,
) -> PollResult:
    """Create an item for each entry not stored before (not committed).

    An entry whose categories map to a topic or a country is published (the
    session hook fans it out after commit); any other is left as a draft for
    staff. Either way its external id means no later poll creates it again.

    With ``photos``, an entry's lead photo (its bytes in ``downloads``, by entry
    key) is stored with it; the ids of photos stored go into ``stored``, so a
    transaction that does not commit can remove their files. An entry whose photo
    could not be had stays a draft, the reason in ``photo_problems``.
    """
    result = PollResult(feed.id, feed.url, problems=list(parsed.problems))
    result.skipped = len(parsed.problems)
    for entry in parsed.entries:
        if find_by_external_id(session, external_id(feed.id, entry.key)) is not None:
            result.skipped += 1
            continue
        resolution = topic_map.resolve(entry.categories)
        result.unmapped.update(resolution.unmapped)
        photo: StoredPhoto | str | None = None
        try:
            draft = _draft(feed, entry, resolution)
            if entry.image is not None and photos is not None:
                got = (downloads or {}).get(entry.key)
                draft, photo = lead_photos.attach(session, photos, entry.image, got, draft, stored)
            item = create_item(session, taxonomy, draft)
        except InvalidItem as exc:
            if isinstance(photo, StoredPhoto) and photos is not None:
                lead_photos.unstore(session, photos, photo)
            result.problems.append(f"{entry.key!r}: {exc}; skipped")
            result.skipped += 1
            continue
        publishable = resolution.publishable and not isinstance(photo, str)
        if publishable:
            publish_item(session, item, now)
        session.flush()  # the id, and the unique external id checked now rather than at commit
        (result.published if publishable else result.drafted).append(item.id)
        if isinstance(photo, str):
            item.import_problem = f"lead photo not stored: {photo}"[:IMPORT_PROBLEM_MAX]
            _photo_problem(result, feed.id, entry, item.id, photo)
    return result


def _photo_problem(
    result: PollResult, feed_id: int, entry: FeedEntry, item_id: int, reason: str
) -> None:
    # The reason names no photo URL: a feed's URLs may carry credentials or tokens.
    result.photo_problems.append({"item_id": item_id, "entry": entry.key, "reason": reason})
    result.problems.append(
        f"{entry.key!r}: lead photo not stored ({reason}); left as draft item {item_id}"
    )
    log.info("feed %s: item %s left a draft, lead photo: %s", feed_id, item_id, reason)


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


def poll_all(
    session_factory: SessionFactory,
    taxonomy: Taxonomy,
    client: httpx.Client,
    now: datetime,
    photos: LeadPhotos | None = None,
) -> dict[str, Any]:
    """Poll every feed, each in its own transaction; one bad feed never stops the others.

    Without ``photos`` the entries' lead photos are not fetched (nor kept).
    """
    with session_factory() as session:
        feed_ids = list(session.scalars(select(Feed.id).order_by(Feed.id)))
    results = [
        _poll_guarded(session_factory, taxonomy, client, fid, now, photos) for fid in feed_ids
    ]
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
    photos: LeadPhotos | None = None,
) -> PollResult:
    try:
        return poll_feed(session_factory, taxonomy, client, feed_id, now, photos)
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
    photos: LeadPhotos | None = None,
) -> PollResult:
    """Fetch one feed with no session open, then store its new entries in one transaction.

    New entries' lead photos are downloaded with no session open either, between the two.
    """
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
    downloads: dict[str, bytes | str] = {}
    if photos is not None:
        images = _new_images(session_factory, feed_id, parsed)
        downloads = lead_photos.download_all(client, images, photos)
    result = _store(
        session_factory, taxonomy, feed_id, topic_map, fetched, parsed, now, photos, downloads
    )
    log.info(
        "feed %s: published %s, drafted %s, skipped %s",
        feed_id,
        result.published,
        result.drafted,
        result.skipped,
    )
    return result


def _new_images(
    session_factory: SessionFactory, feed_id: int, parsed: ParsedFeed
) -> dict[str, EntryImage]:
    """The photos of the entries not stored yet, by entry key: only those are downloaded."""
    named = {e.key: e.image for e in parsed.entries if e.image is not None}
    if not named:
        return {}
    ids = {external_id(feed_id, key): key for key in named}
    with session_factory() as session:
        known = set(session.scalars(select(Item.external_id).where(Item.external_id.in_(ids))))
    return {key: named[key] for ext, key in ids.items() if ext not in known}


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
    photos: LeadPhotos | None = None,
    downloads: Mapping[str, bytes | str] | None = None,
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
            return _store_once(
                session_factory,
                taxonomy,
                feed_id,
                topic_map,
                fetched,
                parsed,
                now,
                photos,
                downloads,
            )
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
    photos: LeadPhotos | None = None,
    downloads: Mapping[str, bytes | str] | None = None,
) -> PollResult:
    stored: list[str] = []  # photos written to the media folder by this transaction
    try:
        with session_factory() as session:  # closing it rolls back whatever did not commit
            feed = session.get(Feed, feed_id)
            if feed is None:
                return PollResult(feed_id, fetched.url, status="failed", error="feed was removed")
            result = store_entries(
                session, taxonomy, feed, topic_map, parsed, now, photos, downloads, stored
            )
            feed.etag, feed.last_modified = fetched.etag, fetched.last_modified
            feed.last_polled_at, feed.last_error = now, None
            session.commit()
            return result
    except BaseException:
        if photos is not None:  # their rows rolled back: their files go too
            lead_photos.discard(photos, stored)
        raise


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
