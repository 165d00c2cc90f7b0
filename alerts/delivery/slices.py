"""The plan of a fan-out: ranges of journalist ids, each done in its own transaction.

Several worker processes may work through one plan at once: a slice is claimed
with ``FOR UPDATE SKIP LOCKED`` for the length of its transaction, so two never
match the same range, and one that dies (its transaction rolled back) leaves its
slice to be claimed again. Slices are ranges of journalists, so no two slices
ever write the same (item, journalist) row and parallel slices never wait on
each other's rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from alerts.core.models import FanOutSlice, Journalist

# The last slice reaches past the highest id known at planning time: a journalist
# who joins while the fan-out runs is matched like any other (an INTEGER's top).
OPEN_END = 2**31 - 1
# Advisory-lock keys (namespace, item id): planning an item's fan-out, and deciding
# which slice was its last. Two keys, so that a slice waiting to finish (holding its
# own slice row) never waits on a planner that is waiting for that row.
PLAN_LOCK = 0x616C7274  # "alrt"
FINISH_LOCK = 0x616C7266  # "alrf"


@dataclass(frozen=True)
class Slice:
    first_id: int
    last_id: int


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def lock(session: Session, key: int, item_id: int) -> None:
    """A transaction-long lock on (key, item) on PostgreSQL; SQLite has one writer anyway."""
    if _postgres(session):
        session.execute(select(func.pg_advisory_xact_lock(key, item_id)))


def boundaries(session: Session, first_rows: int, size: int) -> list[Slice]:
    """Ranges of journalist ids: the first holds ``first_rows`` rows (read from the id
    index, so it is small however sparse the ids), each next one four times more ids
    up to ``size``; the last one open-ended.

    A range of ``size`` ids never holds more than ``size`` rows, so the memory bound
    holds whatever the gaps; the ranges after the first are worked out from the
    highest id alone, which keeps planning a million to two index reads.
    """
    low, high = session.execute(select(func.min(Journalist.id), func.max(Journalist.id))).one()
    if low is None:
        # Nobody yet: one slice all the same, whose end records the fan-out.
        return [Slice(1, OPEN_END)]
    rows = min(size, first_rows)
    end = session.scalar(
        select(Journalist.id)
        .where(Journalist.id >= low)
        .order_by(Journalist.id)
        .offset(rows)
        .limit(1)
    )
    if end is None:
        return [Slice(low, OPEN_END)]
    result = [Slice(low, end - 1)]
    start = end
    while True:
        rows = min(size, rows * 4)
        if start + rows > high:
            result.append(Slice(start, OPEN_END))
            return result
        result.append(Slice(start, start + rows - 1))
        start += rows


def existing_plan(session: Session, item_id: int) -> bool | None:
    """The ``verified_only`` of the item's plan, None if it has none."""
    return session.scalar(
        select(FanOutSlice.verified_only).where(FanOutSlice.item_id == item_id).limit(1)
    )


def write_plan(session: Session, item_id: int, slices: list[Slice], verified_only: bool) -> None:
    """Replace the item's plan (any rows of it still being worked on are waited for)."""
    drop_plan(session, item_id)
    session.execute(
        insert(FanOutSlice),
        [
            {
                "item_id": item_id,
                "first_id": s.first_id,
                "last_id": s.last_id,
                "verified_only": verified_only,
                "done": False,
            }
            for s in slices
        ],
    )


def drop_plan(session: Session, item_id: int) -> None:
    session.execute(delete(FanOutSlice).where(FanOutSlice.item_id == item_id))


def drop_slice(session: Session, item_id: int, part: Slice) -> None:
    """Drop this slice and the done ones: no one else claims those, so no one waits on us."""
    session.execute(
        delete(FanOutSlice).where(
            FanOutSlice.item_id == item_id,
            (FanOutSlice.first_id == part.first_id) | FanOutSlice.done.is_(True),
        )
    )


def claim(session: Session, item_id: int) -> Slice | None:
    """The lowest slice still to do that no other transaction holds; held till commit."""
    row = session.execute(
        select(FanOutSlice.first_id, FanOutSlice.last_id)
        .where(FanOutSlice.item_id == item_id, FanOutSlice.done.is_(False))
        .order_by(FanOutSlice.first_id)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()
    return None if row is None else Slice(row.first_id, row.last_id)


def mark_done(session: Session, item_id: int, part: Slice) -> int:
    """Mark the slice done; returns how many slices are still to do.

    Counted under the item's finish lock, held until commit: of two slices ending
    at once, the second sees the first's commit, so exactly one of them sees none
    left and records the fan-out.
    """
    session.execute(
        update(FanOutSlice)
        .where(FanOutSlice.item_id == item_id, FanOutSlice.first_id == part.first_id)
        .values(done=True)
    )
    lock(session, FINISH_LOCK, item_id)
    return remaining(session, item_id)


def remaining(session: Session, item_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).where(FanOutSlice.item_id == item_id, FanOutSlice.done.is_(False))
        )
        or 0
    )
