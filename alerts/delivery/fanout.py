"""Fan-out: turn a published item into one pending delivery per matching journalist.

Done in slices of journalist ids (delivery/slices.py), each its own transaction,
so the first batches are on their way while the rest of a large audience is
still being matched, several worker processes can match one item at once, and no
process ever holds a million ids at once.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.core.models import NOTICE_KINDS, Item, ItemStatus
from alerts.delivery import slices
from alerts.delivery.matching import insert_correction_deliveries, insert_deliveries
from alerts.delivery.progress import count_for_item
from alerts.delivery.store import record_fan_out

# The first slice: a few batches' worth, matched in milliseconds.
_FIRST_SLICE = 1_000


def _published(session: Session, item_id: int) -> Item | None:
    """The item if it is live, locked ``FOR KEY SHARE`` until the transaction ends.

    ``deliveries.item_id`` has no foreign key (migration 0019), whose check took this
    lock once per row: taken here once per transaction, it keeps the item from being
    deleted while rows are written for it (a delete waits, then its trigger deletes
    them), and an item deleted before is not found, so nothing is written for it.
    """
    item = session.scalars(
        select(Item)
        .where(Item.id == item_id)
        .with_for_update(read=True, key_share=True)
        .execution_options(populate_existing=True)
    ).first()
    live = (ItemStatus.PUBLISHED, ItemStatus.EMBARGOED)
    return item if item is not None and item.status in live else None


def fan_out_slice(
    session: Session, item_id: int, now: datetime, ids: tuple[int, int] | None = None
) -> list[int]:
    """Create the deliveries of one range of journalist ids; returns the new ids, to
    queue after commit.

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


def plan_fan_out(session: Session, item_id: int, size: int) -> bool:
    """Make sure the item has a plan of slices to work through; False if not published.

    A plan left by a run that stopped half-way is kept, so its done slices are not
    matched again; one made under embargo is made anew once the embargo has lifted
    (its done slices went to verified press only).
    """
    slices.lock(session, slices.PLAN_LOCK, item_id)
    item = _published(session, item_id)
    if item is None:
        slices.drop_plan(session, item_id)  # withdrawn half-way: nothing more to do
        return False
    verified_only = item.status == ItemStatus.EMBARGOED
    if slices.existing_plan(session, item_id) != verified_only:
        plan = slices.boundaries(session, min(size, _FIRST_SLICE), size)
        slices.write_plan(session, item_id, plan, verified_only)
    return True


def next_slice(session: Session, item_id: int, now: datetime) -> tuple[list[int], int] | None:
    """Claim and do one slice of the plan: (its new delivery ids, slices still to do),
    or None when none is free (all done, or being done by others).

    The slice that leaves none to do records the fan-out and drops the plan. Of an
    item withdrawn meanwhile each process drops the slices it claims, unrecorded
    (only its own: two dropping each other's rows would deadlock).
    """
    part = slices.claim(session, item_id)
    if part is None:
        return None
    if _published(session, item_id) is None:
        slices.drop_slice(session, item_id, part)
        return [], slices.remaining(session, item_id)
    ids = fan_out_slice(session, item_id, now, (part.first_id, part.last_id))
    left = slices.mark_done(session, item_id, part)
    if left == 0:
        finish_fan_out(session, item_id, now)
        slices.drop_plan(session, item_id)
    return ids, left


def work_through(
    sessions: Callable[[], Session],
    item_id: int,
    now: Callable[[], datetime],
    queue: Callable[[list[int]], None],
) -> Iterator[tuple[int, int]]:
    """Do free slices of the item's plan until none is left; yields (queued, still to do)
    per slice. Any number of processes may run this at once over one plan."""
    while True:
        with sessions() as session, session.begin():
            done = next_slice(session, item_id, now())
        if done is None:
            return
        ids, left = done
        # Committed: the rows exist before any worker is told to look at them.
        queue(ids)
        yield len(ids), left


def fan_out_in_slices(
    sessions: Callable[[], Session],
    item_id: int,
    now: Callable[[], datetime],
    size: int,
    queue: Callable[[list[int]], None],
    helpers: Callable[[], None] = lambda: None,
) -> Generator[int]:
    """Plan the fan-out, then do its slices, committing each and handing its new ids to
    ``queue``; yields the number queued per slice (none once the item is withdrawn).

    ``helpers`` is called once the first slice is committed and queued, if slices
    remain: it may start other processes on ``work_through``. The first emails so
    leave before anyone else is busy matching. The fan-out is recorded by whichever
    process commits the last slice; a run that dies half-way leaves its plan, and
    the sweep's new run finishes it.
    """
    with sessions() as session, session.begin():
        if not plan_fan_out(session, item_id, size):
            return
    first = True
    for queued, left in work_through(sessions, item_id, now, queue):
        yield queued
        if first and left:
            helpers()
        first = False
