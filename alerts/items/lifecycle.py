"""An item's life: publish now or on schedule, withdraw; follow-ups to those it reached.

The after-commit hook fans out what these leave published; the callers commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, inspect, select, update
from sqlalchemy.orm import Session, object_session

from alerts.core.models import (
    Delivery,
    DeliveryStatus,
    Item,
    ItemCountry,
    ItemStatus,
    ItemTopic,
    NoticeKind,
    utcnow,
)
from alerts.core.taxonomy import Taxonomy
from alerts.items.drafts import InvalidItem, ItemDraft, create_item, find_by_external_id


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
    item.import_problem = None  # staff (or a mapped poll) chose to send it as it is
    return item


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


def _locked(item: Item) -> Item:
    """The item re-read under a row lock (PostgreSQL): the beat, or another member of
    staff, may be changing its status. A new item has nothing to re-read."""
    session = object_session(item)
    if session is not None and inspect(item).persistent:
        session.flush()  # refresh would otherwise drop this transaction's own changes
        session.refresh(item, with_for_update=True)
    return item


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
        # Whom to ask about it: the release's own contacts (None: the defaults).
        contacts=item.contacts,
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
