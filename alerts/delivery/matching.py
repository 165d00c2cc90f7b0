"""Item → journalists, as one set-based statement that runs inside the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from alerts.core.db import upsert_insert
from alerts.core.models import (
    Cadence,
    Delivery,
    DeliveryStatus,
    ItemCountry,
    ItemTopic,
    Journalist,
    JournalistStatus,
    Subscription,
    SubscriptionCountry,
    SubscriptionTopic,
    Suppression,
)


def matching_journalists(
    item_id: int,
    cadence: str | None = Cadence.IMMEDIATE,
    only_country: str | None = None,
    only_topic: str | None = None,
    subscriptions: tuple[int, int] | None = None,
    journalists: tuple[int, int] | None = None,
) -> Select[Any]:
    """SELECT of the ids of active journalists with a subscription matching the item.

    A subscription matches when it shares a country with the item (or has none)
    and shares a topic (or has none). ``only_country``/``only_topic`` narrow the
    item to one of its countries or topics, for the reach estimate;
    ``subscriptions`` (first, last id) to a slice of the subscriptions, for a
    fan-out in slices, and ``journalists`` to the journalist ids those
    subscriptions hold: every table is read only within the slice. DISTINCT
    makes a journalist with several matching subscriptions one row, hence one
    email. ``cadence`` None: verified press of any cadence, for an embargoed item
    (it cannot wait for a digest).
    """
    within = subscriptions or (None, None)
    country_hit = exists().where(
        SubscriptionCountry.subscription_id == Subscription.id,
        *_between(SubscriptionCountry.subscription_id, within),
        SubscriptionCountry.country == ItemCountry.country,
        ItemCountry.item_id == item_id,
        *([ItemCountry.country == only_country] if only_country else []),
    )
    topic_hit = exists().where(
        SubscriptionTopic.subscription_id == Subscription.id,
        *_between(SubscriptionTopic.subscription_id, within),
        SubscriptionTopic.topic == ItemTopic.topic,
        ItemTopic.item_id == item_id,
        *([ItemTopic.topic == only_topic] if only_topic else []),
    )
    suppressed = exists().where(Suppression.email == Journalist.email)
    return (
        select(Subscription.journalist_id)
        .join(Journalist, Journalist.id == Subscription.journalist_id)
        .where(
            Subscription.cadence == cadence
            if cadence is not None
            else Journalist.verified_at.is_not(None),
            # Every cadence, spelt out: the (cadence, journalist) index serves a slice.
            *([Subscription.cadence.in_(list(Cadence))] if cadence is None else []),
            Journalist.status == JournalistStatus.ACTIVE,
            Journalist.email.is_not(None),
            ~suppressed,
            or_(Subscription.all_countries, country_hit),
            or_(Subscription.all_topics, topic_hit),
            *_between(Subscription.id, within),
            *_between(Subscription.journalist_id, journalists or (None, None)),
            *_between(Journalist.id, journalists or (None, None)),
        )
        .distinct()
    )


def _between(column: Any, bounds: tuple[int | None, int | None]) -> list[Any]:
    """The slice's bounds on a column; repeated on each table so the planner needs no hash."""
    low, high = bounds
    return [] if low is None or high is None else [column.between(low, high)]


def _pending_rows(item_id: int, journalist_id: Any, now: datetime) -> Select[Any]:
    """The columns of a new pending delivery, queued now, for INSERT … SELECT."""
    at = literal(now, Delivery.__table__.c.created_at.type)
    return select(
        literal(item_id),
        journalist_id,
        literal(DeliveryStatus.PENDING.value),
        literal(0),
        at,
        at,
    )


def _insert_new(session: Session, rows: Select[Any]) -> list[int]:
    """INSERT the rows, skipping (item, journalist) pairs that exist; returns the new ids.

    ``ON CONFLICT DO NOTHING`` makes a second run a no-op, whoever runs it; a
    concurrent run waits on the unique index and then inserts (and returns)
    nothing, so every new row is returned, and queued, exactly once. The rows
    are written already marked queued: the caller publishes their batches right
    after commit, and the sweep re-queues them should it die in between.
    """
    statement = (
        upsert_insert(session)(Delivery)
        .from_select(
            ["item_id", "journalist_id", "status", "attempts", "created_at", "queued_at"], rows
        )
        .on_conflict_do_nothing(index_elements=["item_id", "journalist_id"])
        .returning(Delivery.id)
    )
    return sorted(session.scalars(statement))


def insert_deliveries(
    session: Session,
    item_id: int,
    now: datetime,
    journalists: tuple[int, int] | None = None,
    verified_only: bool = False,
) -> list[int]:
    """A pending delivery for every matching journalist (or verified one); the new ids.

    ``journalists``: a slice of journalist ids. All of a journalist's subscriptions
    are in their slice, so two slices never write the same row.
    """
    cadence = None if verified_only else Cadence.IMMEDIATE
    subscriptions = None
    if journalists is not None:
        # A redundant bound on the subscription ids, repeated on the country and topic
        # rows, so that each table is read only within the slice.
        subscriptions = session.execute(
            select(func.min(Subscription.id), func.max(Subscription.id)).where(
                Subscription.cadence.in_(list(Cadence) if cadence is None else [cadence]),
                Subscription.journalist_id.between(*journalists),
            )
        ).one()
        if subscriptions[0] is None:
            return []
    source = matching_journalists(
        item_id, cadence, subscriptions=subscriptions, journalists=journalists
    ).subquery()
    return _insert_new(
        session,
        _pending_rows(item_id, source.c.journalist_id, now)
        # SQLite needs a WHERE before ON CONFLICT to parse INSERT … SELECT … upsert.
        .where(source.c.journalist_id.is_not(None)),
    )


def insert_correction_deliveries(
    session: Session,
    item_id: int,
    original_id: int,
    now: datetime,
    journalists: tuple[int, int] | None = None,
    before: datetime | None = None,
) -> list[int]:
    """A correction goes to exactly those who were sent the original (and still may be).

    ``before``: for a notice about an embargo, only those whose row for the original
    existed by then, that is who had it under embargo; not those it reached after.
    """
    original = Delivery.__table__.alias("original")
    return _insert_new(
        session,
        _pending_rows(item_id, original.c.journalist_id, now)
        .join(Journalist, Journalist.id == original.c.journalist_id)
        .where(
            original.c.item_id == original_id,
            original.c.status == DeliveryStatus.SENT,
            Journalist.status == JournalistStatus.ACTIVE,
            ~exists().where(Suppression.email == Journalist.email),
            *_between(original.c.journalist_id, journalists or (None, None)),
            *([original.c.created_at < before] if before is not None else []),
        ),
    )


def reach(
    session: Session, item_id: int, countries: list[str], topics: list[str]
) -> dict[str, Any]:
    """How many journalists the item would reach now, and how many per country and topic."""

    def count(statement: Select[Any]) -> int:
        return int(session.scalar(select(func.count()).select_from(statement.subquery())) or 0)

    return {
        "total": count(matching_journalists(item_id)),
        "by_country": {c: count(matching_journalists(item_id, only_country=c)) for c in countries},
        "by_topic": {t: count(matching_journalists(item_id, only_topic=t)) for t in topics},
    }
