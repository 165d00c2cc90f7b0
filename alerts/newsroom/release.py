"""One release as the public sees it, with the corrections that link it to others."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.core.models import Item, ItemStatus
from alerts.newsroom.visibility import has_page, listed

# Ids past a 32-bit integer are no item's: PostgreSQL would refuse to compare them.
MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class Release:
    item: Item
    corrects: Item | None  # the original this one corrects, when it has a public page
    corrections: list[Item]  # published corrections of this one, oldest first

    @property
    def withdrawn(self) -> bool:
        return self.item.status == ItemStatus.WITHDRAWN


def find_release(session: Session, item_id: int) -> Release | None:
    """The release, or None for an id that has no public page: unknown, draft, scheduled,
    under embargo, a notice. The caller answers all of those alike."""
    if not 0 < item_id <= MAX_ID:
        return None
    item = session.scalar(select(Item).where(Item.id == item_id, has_page()))
    if item is None:
        return None
    corrects = None
    if item.corrects_id is not None:
        corrects = session.scalar(select(Item).where(Item.id == item.corrects_id, has_page()))
    corrections = session.scalars(
        select(Item)
        .where(Item.corrects_id == item.id, listed())
        .order_by(Item.published_at, Item.id)
    ).all()
    return Release(item, corrects, list(corrections))
