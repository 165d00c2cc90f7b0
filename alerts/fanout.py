"""Fan-out: turn a published item into one pending delivery per matching journalist."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.delivery import count_for_item, record_fan_out, take_unqueued
from alerts.matching import insert_correction_deliveries, insert_deliveries
from alerts.models import Item, ItemStatus

# Advisory-lock namespace, so two fan-outs of one item queue each row once.
_LOCK_NAMESPACE = 0x616C7274  # "alrt"


def fan_out(session: Session, item_id: int, now: datetime) -> list[int]:
    """Create the item's deliveries and return the ids to queue now (caller commits).

    Safe to run any number of times: existing (item, journalist) pairs are left
    alone and rows already queued are not returned again.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_LOCK_NAMESPACE, item_id)))
    item = session.get(Item, item_id)
    if item is None or item.status != ItemStatus.PUBLISHED:
        return []
    if item.corrects_id is not None:
        insert_correction_deliveries(session, item_id, item.corrects_id, now)
    else:
        insert_deliveries(session, item_id, now)
    record_fan_out(session, item_id, count_for_item(session, item_id), now)
    return take_unqueued(session, item_id, now)
