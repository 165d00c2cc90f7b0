"""Embargoes: verified press at once, everyone else when it lifts; moves and lifts announced."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from alerts.core.models import (
    FanOut,
    Item,
    ItemStatus,
    NoticeKind,
)
from alerts.items.drafts import InvalidItem
from alerts.items.lifecycle import _locked, _notify_recipients, check_ahead


def _future(until: datetime, now: datetime) -> datetime:
    return check_ahead(until, now, "the embargo time", "lift the embargo or publish instead")


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
    item.import_problem = None  # it goes out as it is: as good as published
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
