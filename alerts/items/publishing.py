"""Use cases of the comms staff: create items, publish them. Plain functions on a Session."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import delete, func, inspect, select, update
from sqlalchemy.orm import Session, object_session

from alerts.core.models import (
    Delivery,
    DeliveryStatus,
    FanOut,
    Item,
    ItemCountry,
    ItemStatus,
    ItemTopic,
    NoticeKind,
    utcnow,
)
from alerts.core.taxonomy import Taxonomy, TaxonomyError

ITEM_KINDS = ("press_release", "report", "statement", "news")


class InvalidItem(ValueError):
    """The item cannot be stored; the message names the problem."""


class ItemDraft(BaseModel):
    """What staff send to create an item (CLI flags, the seed JSON shape, later the API)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=500)
    summary: str = ""
    body: str = ""
    url: str | None = None
    kind: str = "press_release"
    language: str = "en"
    campaign: str | None = None
    external_id: str | None = Field(default=None, max_length=200)
    countries: list[str] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in ITEM_KINDS:
            raise ValueError(f"unknown kind {value!r} (one of {', '.join(ITEM_KINDS)})")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"url must be an http(s) address, got {value!r}")
        return value


def parse_draft(data: dict[str, Any]) -> ItemDraft:
    try:
        return ItemDraft.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'item'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidItem(problems) from exc


def create_item(session: Session, taxonomy: Taxonomy, draft: ItemDraft) -> Item:
    """Validate the codes against the vocabulary and add a draft item (not committed)."""
    try:
        countries = taxonomy.item_countries(draft.countries)
        topics = taxonomy.topic_codes(draft.topics)
    except TaxonomyError as exc:
        raise InvalidItem(str(exc)) from exc
    item = Item(
        title=draft.title,
        summary=draft.summary,
        body=draft.body,
        url=draft.url,
        kind=draft.kind,
        language=draft.language,
        campaign=draft.campaign,
        external_id=draft.external_id,
        status=ItemStatus.DRAFT,
        country_rows=[ItemCountry(country=c) for c in sorted(countries)],
        topic_rows=[ItemTopic(topic=t) for t in sorted(topics)],
    )
    session.add(item)
    return item


def publish_item(session: Session, item: Item, now: datetime | None = None) -> Item:
    """Mark an item published; the session's after-commit hook enqueues its fan-out."""
    if _locked(item).status == ItemStatus.PUBLISHED:
        return item
    if item.status == ItemStatus.WITHDRAWN:
        raise InvalidItem(f"item {item.id} was withdrawn and cannot be published")
    if item.status == ItemStatus.EMBARGOED:
        raise InvalidItem(f"item {item.id} is under embargo: lift the embargo to publish it now")
    item.status = ItemStatus.PUBLISHED
    item.published_at = now or utcnow()
    item.publish_at = None
    return item


def find_by_external_id(session: Session, external_id: str) -> Item | None:
    return session.scalars(select(Item).where(Item.external_id == external_id)).first()


def create_and_publish(
    session: Session, taxonomy: Taxonomy, drafts: Iterable[ItemDraft]
) -> list[Item]:
    """Create and publish several items in one transaction (all or nothing).

    An item whose ``external_id`` is already stored is not created again, so a
    retried import never publishes twice.
    """
    items = []
    for draft in drafts:
        existing = find_by_external_id(session, draft.external_id) if draft.external_id else None
        if existing is not None:
            items.append(existing)
            continue
        items.append(publish_item(session, create_item(session, taxonomy, draft)))
    return items


def update_draft(session: Session, taxonomy: Taxonomy, item: Item, changes: dict[str, Any]) -> Item:
    """Change a draft (or a scheduled item); published items are corrected, not edited."""
    if item.status not in (ItemStatus.DRAFT, ItemStatus.SCHEDULED):
        raise InvalidItem(f"item {item.id} is {item.status}: only drafts can be edited")
    current = {
        "title": item.title,
        "summary": item.summary,
        "body": item.body,
        "url": item.url,
        "kind": item.kind,
        "language": item.language,
        "campaign": item.campaign,
        "external_id": item.external_id,
        "countries": item.countries,
        "topics": item.topics,
    }
    draft = parse_draft(current | changes)
    try:
        countries = taxonomy.item_countries(draft.countries)
        topics = taxonomy.topic_codes(draft.topics)
    except TaxonomyError as exc:
        raise InvalidItem(str(exc)) from exc
    for name in ("title", "summary", "body", "url", "kind", "language", "campaign", "external_id"):
        setattr(item, name, getattr(draft, name))
    if set(item.countries) != countries:
        item.country_rows = [ItemCountry(country=c) for c in sorted(countries)]
    if set(item.topics) != topics:
        item.topic_rows = [ItemTopic(topic=t) for t in sorted(topics)]
    item.updated_at = utcnow()
    return item


def schedule(item: Item, publish_at: datetime, now: datetime) -> Item:
    """Publish later: the beat publishes it when due, never before and never twice."""
    if _locked(item).status not in (ItemStatus.DRAFT, ItemStatus.SCHEDULED):
        raise InvalidItem(f"item {item.id} is {item.status}: only drafts can be scheduled")
    item.publish_at = check_ahead(publish_at, now, "publish_at", "publish now instead")
    item.status = ItemStatus.SCHEDULED
    return item


def cancel_schedule(item: Item) -> Item:
    if _locked(item).status != ItemStatus.SCHEDULED:
        raise InvalidItem(f"item {item.id} is {item.status}, not scheduled")
    item.status = ItemStatus.DRAFT
    item.publish_at = None
    return item


# Embargoes and schedules reach at most this far ahead: a typo'd year would otherwise
# hold an item back for good (and year 9999 cannot even be shown in every time zone).
MAX_AHEAD = timedelta(days=366)


class NotAhead(InvalidItem):
    """A time to act at that is not in the future, or more than MAX_AHEAD away."""

    def __init__(self, message: str, too_far: bool) -> None:
        super().__init__(message)
        self.too_far = too_far


def check_ahead(when: datetime, now: datetime, what: str, instead: str) -> datetime:
    """The one rule for scheduling and embargoes (and the API's 422): future, at most a year."""
    if when.tzinfo is None:
        raise InvalidItem(f"{what} needs a time zone (e.g. 2026-12-01T09:00:00+00:00)")
    if when <= now:
        raise NotAhead(f"{what} is in the past: {instead}", too_far=False)
    if when > now + MAX_AHEAD:
        raise NotAhead(f"{what} is more than a year ahead", too_far=True)
    return when


def _future(until: datetime, now: datetime) -> datetime:
    return check_ahead(until, now, "the embargo time", "lift the embargo or publish instead")


def _locked(item: Item) -> Item:
    """The item re-read under a row lock (PostgreSQL): the beat, or another member of
    staff, may be changing its status. A new item has nothing to re-read."""
    session = object_session(item)
    if session is not None and inspect(item).persistent:
        session.flush()  # refresh would otherwise drop this transaction's own changes
        session.refresh(item, with_for_update=True)
    return item


def embargo(session: Session, item: Item, until: datetime, now: datetime) -> Item:
    """Send to verified press at once, marked embargoed; to everyone else when it lifts.

    The after-commit hook queues the fan-out, which reaches verified journalists only.
    """
    _locked(item)
    if item.status not in (ItemStatus.DRAFT, ItemStatus.SCHEDULED):
        raise InvalidItem(f"item {item.id} is {item.status}: only drafts can go out under embargo")
    if item.status == ItemStatus.SCHEDULED:
        raise InvalidItem(f"item {item.id} is scheduled: cancel the schedule first")
    if item.corrects_id is not None:
        raise InvalidItem("a correction goes to those who received the original: no embargo")
    item.embargo_until = _future(until, now)
    item.status = ItemStatus.EMBARGOED
    item.publish_at = None
    item.updated_at = now
    return item


def _embargoed(item: Item) -> Item:
    if item.status != ItemStatus.EMBARGOED:
        raise InvalidItem(f"item {item.id} is {item.status}, not under embargo")
    return item


def move_embargo(session: Session, item: Item, until: datetime, now: datetime) -> Item:
    """A new lifting time; those who already received the item are told."""
    _embargoed(_locked(item)).embargo_until = _future(until, now)
    # A new version: emails still to be sent are rendered with the new time.
    item.updated_at = now
    _notify_recipients(session, item, NoticeKind.EMBARGO_MOVED, now)
    return item


def lift_embargo(session: Session, item: Item, now: datetime) -> Item:
    """Lift it now: published for everyone; those who received it are told."""
    _embargoed(_locked(item))
    _notify_recipients(session, item, NoticeKind.EMBARGO_LIFTED, now)
    _lift(session, item, now)
    return item


def _lift(session: Session, item: Item, now: datetime) -> None:
    item.status = ItemStatus.PUBLISHED
    item.published_at = now
    item.embargo_until = min(item.embargo_until or now, now)
    item.updated_at = now
    # The embargoed fan-out reached verified press only: the lifted one must run.
    session.execute(delete(FanOut).where(FanOut.item_id == item.id))


def lift_due(session: Session, now: datetime) -> list[int]:
    """Lift every embargo whose time has come; the caller commits, then fans them out.

    ``published_at`` is the time of lifting, not the planned time: a digest already
    planned for a cutoff before now must not be the only one that could list it.
    """
    # One guarded statement, like publish_due: two beats lift an item once.
    lifted = list(
        session.scalars(
            update(Item)
            .where(Item.status == ItemStatus.EMBARGOED, Item.embargo_until <= now)
            .values(status=ItemStatus.PUBLISHED, published_at=now, updated_at=now)
            .returning(Item.id)
            .execution_options(synchronize_session=False)
        ).all()
    )
    if lifted:
        session.execute(delete(FanOut).where(FanOut.item_id.in_(lifted)))
    return lifted


def embargoed_item_ids(session: Session) -> list[int]:
    """Items under embargo now: a journalist just verified is owed each that matches."""
    return list(session.scalars(select(Item.id).where(Item.status == ItemStatus.EMBARGOED)))


def _notify_recipients(session: Session, item: Item, kind: NoticeKind, now: datetime) -> None:
    """A notice about the item to those it was sent to, threaded under it.

    It is an item of its own that corrects the original: its fan-out reaches
    exactly the journalists recorded as sent the original, nobody else.
    """
    # Those still being sent count too: once recorded sent, the sweep sees that the
    # notice has not reached them and runs its fan-out again.
    reached = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(
            Delivery.item_id == item.id,
            Delivery.status.in_([DeliveryStatus.SENT, DeliveryStatus.SENDING]),
        )
    )
    if not reached:
        return
    _publish_follow_up(
        session,
        item,
        now,
        title=item.title,
        summary="",
        body="",
        url=None,
        kind=kind.value,
        campaign=item.campaign,
        embargo_until=item.embargo_until,
    )


def publish_due(session: Session, now: datetime) -> list[int]:
    """Publish every scheduled item whose time has come (one guarded statement).

    The status guard means two beats, or a beat and a staff click, publish an
    item once; the caller commits and then enqueues the fan-outs.
    """
    return list(
        session.scalars(
            update(Item)
            .where(Item.status == ItemStatus.SCHEDULED, Item.publish_at <= now)
            .values(status=ItemStatus.PUBLISHED, published_at=now, updated_at=now)
            .returning(Item.id)
            .execution_options(synchronize_session=False)
        ).all()
    )


def withdraw(session: Session, item: Item, now: datetime) -> int:
    """Withdraw an item: every delivery not yet sent is cancelled; returns how many.

    Withdrawn under embargo, it is as if it never was for everyone but those who
    received it: they get a withdrawal notice.
    """
    if _locked(item).status == ItemStatus.WITHDRAWN:
        return 0
    if item.status == ItemStatus.EMBARGOED:
        _notify_recipients(session, item, NoticeKind.WITHDRAWAL, now)
    item.status = ItemStatus.WITHDRAWN
    item.updated_at = now
    # Rows already claimed by a worker finish; pending and queued ones stop here,
    # and a batch that claims later sees the item withdrawn and cancels too.
    result = session.execute(
        update(Delivery)
        .where(Delivery.item_id == item.id, Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.CANCELLED, last_reply="cancelled: item withdrawn")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def correct(
    session: Session, item: Item, title: str | None, summary: str, body: str, now: datetime
) -> Item:
    """Publish a correction: mailed only to those who received the original, threaded."""
    if item.status != ItemStatus.PUBLISHED or item.corrects_id is not None:
        raise InvalidItem(f"item {item.id} is not a published original: nothing to correct")
    draft = parse_draft(
        {
            "title": title or f"Correction: {item.title}",
            "summary": summary,
            "body": body,
            "url": item.url,
            "kind": item.kind,
            "language": item.language,
            "campaign": item.campaign,
        }
    )
    return _publish_follow_up(
        session,
        item,
        now,
        title=draft.title,
        summary=draft.summary,
        body=draft.body,
        url=draft.url,
        kind=draft.kind,
        campaign=draft.campaign,
    )


def _publish_follow_up(session: Session, original: Item, now: datetime, **fields: Any) -> Item:
    """A correction or notice: an item of its own that corrects ``original``, with its
    language, countries and topics; its fan-out reaches those sent the original."""
    follow_up = Item(
        language=original.language,
        corrects_id=original.id,
        status=ItemStatus.DRAFT,
        country_rows=[ItemCountry(country=c) for c in original.countries],
        topic_rows=[ItemTopic(topic=t) for t in original.topics],
        **fields,
    )
    session.add(follow_up)
    return publish_item(session, follow_up, now)
