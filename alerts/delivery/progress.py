"""How far an item got: its deliveries counted by status."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    func,
    select,
)
from sqlalchemy.orm import Session

from alerts.core.models import (
    Delivery,
)

# record() takes one: callers may name it from here.
from alerts.delivery.outcome import RetryPolicy as RetryPolicy


def counts_for_item(session: Session, item_id: int) -> dict[str, int]:
    """The item's deliveries by status (only the statuses it has)."""
    return counts_for_items(session, [item_id]).get(item_id, {})


def counts_for_items(session: Session, item_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Each item's deliveries by status, in one statement (items without any are absent)."""
    counts: dict[int, dict[str, int]] = {}
    for item_id, status, count in session.execute(
        select(Delivery.item_id, Delivery.status, func.count())
        .where(Delivery.item_id.in_(item_ids))
        .group_by(Delivery.item_id, Delivery.status)
    ):
        counts.setdefault(item_id, {})[str(status)] = int(count)
    return counts


def count_for_item(session: Session, item_id: int) -> int:
    return int(session.scalar(select(func.count()).where(Delivery.item_id == item_id)) or 0)
