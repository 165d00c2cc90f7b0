"""Item → journalists, as one set-based statement that runs inside the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alerts.models import (
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


def matching_journalists(item_id: int, cadence: str = Cadence.IMMEDIATE) -> Select[Any]:
    """SELECT of the ids of active journalists with a subscription matching the item.

    A subscription matches when it shares a country with the item (or has none)
    and shares a topic (or has none). DISTINCT makes a journalist with several
    matching subscriptions one row, hence one email.
    """
    country_hit = exists().where(
        SubscriptionCountry.subscription_id == Subscription.id,
        SubscriptionCountry.country == ItemCountry.country,
        ItemCountry.item_id == item_id,
    )
    topic_hit = exists().where(
        SubscriptionTopic.subscription_id == Subscription.id,
        SubscriptionTopic.topic == ItemTopic.topic,
        ItemTopic.item_id == item_id,
    )
    suppressed = exists().where(Suppression.email == Journalist.email)
    return (
        select(Subscription.journalist_id)
        .join(Journalist, Journalist.id == Subscription.journalist_id)
        .where(
            Subscription.cadence == cadence,
            Journalist.status == JournalistStatus.ACTIVE,
            Journalist.email.is_not(None),
            ~suppressed,
            or_(Subscription.all_countries, country_hit),
            or_(Subscription.all_topics, topic_hit),
        )
        .distinct()
    )


def insert_deliveries(session: Session, item_id: int, now: datetime) -> int:
    """Create a pending delivery for every matching journalist; returns how many were new.

    ``ON CONFLICT DO NOTHING`` on (item, journalist) makes a second run a no-op,
    whoever runs it and however often.
    """
    dialect = session.get_bind().dialect.name
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    source = matching_journalists(item_id).subquery()
    statement = (
        insert_fn(Delivery)
        .from_select(
            ["item_id", "journalist_id", "status", "attempts", "created_at"],
            select(
                literal(item_id),
                source.c.journalist_id,
                literal(DeliveryStatus.PENDING.value),
                literal(0),
                literal(now, Delivery.__table__.c.created_at.type),
            )
            # SQLite needs a WHERE before ON CONFLICT to parse INSERT … SELECT … upsert.
            .where(source.c.journalist_id.is_not(None)),
        )
        .on_conflict_do_nothing(index_elements=["item_id", "journalist_id"])
    )
    result = session.execute(statement)
    return max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
