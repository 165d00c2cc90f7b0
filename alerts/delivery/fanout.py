"""Fan-out: turn a published item into one pending delivery per matching journalist.

Done in slices of ids, each its own transaction, so the first
batches are on their way while the rest of a large audience is still being
matched, and no process ever holds a million ids at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from alerts.core.models import NOTICE_KINDS, Item, ItemStatus, Journalist, Subscription
from alerts.delivery.matching import insert_correction_deliveries, insert_deliveries
from alerts.delivery.progress import count_for_item
from alerts.delivery.store import record_fan_out

# Advisory-lock namespace: two fan-outs of one item take turns, slice by slice.
_LOCK_NAMESPACE = 0x616C7274  # "alrt"
# The first slice: a few batches' worth, matched in milliseconds.
_FIRST_SLICE = 1_000


def _published(session: Session, item_id: int) -> Item | None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_LOCK_NAMESPACE, item_id)))
    item = session.get(Item, item_id)
    live = (ItemStatus.PUBLISHED, ItemStatus.EMBARGOED)
    return item if item is not None and item.status in live else None


def _slice_column(item: Item) -> InstrumentedAttribute[int]:
    """Subscription ids for an alert; journalist ids for a correction (its audience is
    the recipients of the original)."""
    return Journalist.id if item.corrects_id is not None else Subscription.id


def _slice_end(
    session: Session, column: InstrumentedAttribute[int], start: int, rows: int, high: int
) -> int:
    """The id ``rows`` rows on from ``start`` (or the last id): reads ``rows`` index entries.

    Slices hold a number of rows, not of ids, so gaps in the ids cost nothing.
    """
    end = session.scalar(
        select(column).where(column >= start).order_by(column).offset(rows - 1).limit(1)
    )
    return high if end is None else min(end, high)


def _bounds(session: Session, item_id: int) -> tuple[InstrumentedAttribute[int], int, int] | None:
    """The column to slice on, its lowest and highest id (an empty range if it has no
    rows); None if the item is not published."""
    item = _published(session, item_id)
    if item is None:
        return None
    column = _slice_column(item)
    low, high = session.execute(select(func.min(column), func.max(column))).one()
    return (column, 1, 0) if low is None else (column, low, high)


def _next_size(rows: int, size: int) -> int:
    # Small first, so the first emails leave while the bulk is being matched.
    return min(size, rows * 4)


def fan_out_slice(
    session: Session, item_id: int, now: datetime, ids: tuple[int, int] | None = None
) -> list[int]:
    """Create the deliveries of one slice; returns the new ids, to queue after commit.

    Safe to run any number of times: existing (item, journalist) pairs are left
    alone and are not returned again.
    """
    item = _published(session, item_id)
    if item is None:
        return []
    if item.corrects_id is not None:
        # A notice about an embargo: only to those who had the item before it.
        before = item.published_at if item.kind in NOTICE_KINDS else None
        return insert_correction_deliveries(session, item_id, item.corrects_id, now, ids, before)
    # Under embargo, verified press only; the rest are matched again when it lifts.
    return insert_deliveries(session, item_id, now, ids, item.status == ItemStatus.EMBARGOED)


def finish_fan_out(session: Session, item_id: int, now: datetime) -> int:
    """Record that the item's fan-out ran to the end; returns its number of deliveries."""
    matched = count_for_item(session, item_id)
    record_fan_out(session, item_id, matched, now)
    return matched


def fan_out_in_slices(
    sessions: Callable[[], Session],
    item_id: int,
    now: Callable[[], datetime],
    size: int,
    queue: Callable[[list[int]], None],
) -> Iterator[int]:
    """Fan out slice by slice, committing each and handing its new ids to ``queue``.

    Yields the number queued per slice (none once the item is withdrawn). The
    fan-out is recorded only when every slice is done, so a run that dies
    half-way is finished by the sweep.
    """
    with sessions() as session, session.begin():
        bounds = _bounds(session, item_id)
    if bounds is None:
        return
    column, start, high = bounds
    rows = min(size, _FIRST_SLICE)
    # With nothing to slice (nobody subscribed yet) the fan-out is still recorded.
    while start <= high:
        with sessions() as session, session.begin():
            end = _slice_end(session, column, start, rows, high)
            ids = fan_out_slice(session, item_id, now(), (start, end))
            if end == high:
                # Editing a subscription replaces it with a new, higher id: one whose
                # old id lay in a slice still to come must not fall between the two.
                high = session.scalar(select(func.max(column))) or high
        # Committed: the rows exist before any worker is told to look at them.
        queue(ids)
        yield len(ids)
        start, rows = end + 1, _next_size(rows, size)
    with sessions() as session, session.begin():
        if _published(session, item_id) is not None:
            finish_fan_out(session, item_id, now())
