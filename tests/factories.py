"""Building test populations through the project's own use cases."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from alerts.audience.subscriptions import SubscriptionSpec, add_subscription
from alerts.core.models import (
    Cadence,
    Item,
    ItemStatus,
    Journalist,
    JournalistStatus,
    Suppression,
    utcnow,
)
from alerts.core.taxonomy import Taxonomy
from alerts.delivery.fanout import fan_out_slice, finish_fan_out
from alerts.items.drafts import ItemDraft, create_item
from alerts.items.lifecycle import publish_item

TAXONOMY = Taxonomy()


def journalist(
    session: Session,
    email: str,
    *subscriptions: tuple[list[str], list[str]] | tuple[list[str], list[str], str],
    status: str = JournalistStatus.ACTIVE,
    name: str = "",
    language: str = "en",
) -> Journalist:
    """A journalist with subscriptions given as (countries-or-regions, topics[, cadence])."""
    person = Journalist(
        email=email, name=name or email.split("@")[0], status=status, language=language
    )
    session.add(person)
    for sub in subscriptions:
        countries, topics = sub[0], sub[1]
        cadence = sub[2] if len(sub) == 3 else Cadence.IMMEDIATE
        add_subscription(
            person,
            SubscriptionSpec(
                frozenset(TAXONOMY.country_codes(countries)),
                frozenset(TAXONOMY.topic_codes(topics)),
                cadence,
            ),
        )
    return person


def suppress(session: Session, email: str) -> None:
    session.add(Suppression(email=email, reason="test: hard bounce", created_at=utcnow()))


def published_item(session: Session, **fields: object) -> int:
    draft = ItemDraft.model_validate(
        {"title": "A title", "summary": "A summary.", "url": "https://ngo.example/a"} | fields
    )
    item = publish_item(session, create_item(session, TAXONOMY, draft))
    session.flush()
    return item.id


def fan_out(session: Session, item_id: int, now: datetime) -> list[int]:
    """The whole fan-out in the caller's transaction, for small test audiences.

    The same two steps the worker's sliced run takes, without the slicing; the caller
    commits. Returns the new delivery ids.
    """
    ids = fan_out_slice(session, item_id, now)
    item = session.get(Item, item_id)
    if item is not None and item.status in (ItemStatus.PUBLISHED, ItemStatus.EMBARGOED):
        finish_fan_out(session, item_id, now)  # as the worker records a finished run
    return ids
