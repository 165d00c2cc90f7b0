"""Which journalists digest planning looks at on a tick, and when it looks at each again.

``journalists.next_due_at`` holds, per journalist, the earliest instant any of their
digests can come due (or "now" after a change, see the listeners in core.models).
A tick reads only the rows whose time has come, through the column's index, so a
minute with nothing due costs one index probe however many journalists there are.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, select
from sqlalchemy.orm import Session

from alerts.core.bulk import among, compare_and_set
from alerts.core.models import DIGEST_CADENCES, Journalist, JournalistStatus, Subscription
from alerts.digests.schedule import InvalidSchedule, next_cutoff

log = logging.getLogger(__name__)

# Looked at this many at a time: every statement of a chunk stays well under SQLite's
# limit on bound parameters, and a chunk's rows are few enough to hold at once.
CHUNK = 2000
# A zone this system's tzdata lacks: look again later (the warning is repeated hourly,
# not every minute), in case tzdata is updated.
UNKNOWN_ZONE_RETRY = timedelta(hours=1)


@dataclass(frozen=True)
class Candidate:
    """One journalist whose time has come, as the tick read them."""

    journalist_id: int
    seen: datetime  # next_due_at as read: the compare-and-set's expected value
    timezone: str
    minute: int
    weekday: int
    cadences: tuple[str, ...]  # their digest cadences; empty if none, or not reachable


def _columns() -> Select[int, datetime | None, str, int, int, str, bool]:
    return select(
        Journalist.id,
        Journalist.next_due_at,
        Journalist.timezone,
        Journalist.digest_minute,
        Journalist.digest_weekday,
        Journalist.status,
        Journalist.email.is_not(None),
    )


def candidates(session: Session, now: datetime) -> Iterator[list[Candidate]]:
    """The journalists due to be looked at by ``now``, a chunk at a time, with their cadences."""
    rows = session.execute(
        _columns().where(Journalist.next_due_at <= now).order_by(Journalist.id)
    ).all()
    for start in range(0, len(rows), CHUNK):
        yield _with_cadences(session, rows[start : start + CHUNK])


def due_ids(session: Session, now: datetime) -> list[int]:
    """The ids of the journalists due to be looked at by ``now``, in order."""
    return list(
        session.scalars(
            select(Journalist.id).where(Journalist.next_due_at <= now).order_by(Journalist.id)
        )
    )


def candidates_among(session: Session, now: datetime, ids: list[int]) -> list[Candidate]:
    """Of these journalists (a chunk of ``due_ids``), those still due by ``now``.

    Read again in the chunk's own transaction: one whose row changed since the ids were
    read is seen as it is now.
    """
    rows = session.execute(
        _columns()
        .where(among(session, Journalist.id, ids), Journalist.next_due_at <= now)
        .order_by(Journalist.id)
    ).all()
    return _with_cadences(session, rows)


def _with_cadences(session: Session, chunk: Sequence[Any]) -> list[Candidate]:
    reachable = [r.id for r in chunk if r.status == JournalistStatus.ACTIVE and r[6]]
    cadences: dict[int, list[str]] = {}
    if reachable:
        for journalist_id, cadence in session.execute(
            select(Subscription.journalist_id, Subscription.cadence)
            .where(
                among(session, Subscription.journalist_id, reachable),
                Subscription.cadence.in_(DIGEST_CADENCES),
            )
            .distinct()
        ):
            cadences.setdefault(journalist_id, []).append(cadence)
    return [
        Candidate(
            r.id,
            r.next_due_at,
            r.timezone,
            r.digest_minute,
            r.digest_weekday,
            tuple(sorted(cadences.get(r.id, ()))),
        )
        for r in chunk
    ]


def next_look(candidate: Candidate, now: datetime, settle: timedelta) -> datetime | None:
    """When to look at this journalist again once the periods due by ``now`` are recorded.

    The planner reads periods at ``now - settle``; the next one is due to it ``settle``
    after its cutoff. None: no digest to plan until something changes.
    """
    if not candidate.cadences:
        return None
    try:
        return settle + min(
            next_cutoff(
                now - settle, cadence, candidate.timezone, candidate.minute, candidate.weekday
            )
            for cadence in candidate.cadences
        )
    except InvalidSchedule:
        return now + UNKNOWN_ZONE_RETRY


def set_next(session: Session, looks: Iterable[tuple[Candidate, datetime | None]]) -> None:
    """Store each journalist's next look, unless their row changed since it was read.

    Compare-and-set on the value read: a change committed meanwhile (a new zone, a new
    subscription) wrote "now" there, and must win over a time worked out from old values.
    """
    changes = [(c.journalist_id, c.seen, at) for c, at in looks]
    compare_and_set(session, cast(Table, Journalist.__table__), "next_due_at", changes)
