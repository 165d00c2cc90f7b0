"""Retention: old delivery rows go, and so do the addresses of people long gone.

Done in small batches so no statement holds the tables for long.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from alerts.core.models import (
    ClickEvent,
    ClickSeen,
    Delivery,
    Digest,
    Journalist,
    JournalistStatus,
    Suppression,
)
from alerts.staff import sessions as staff_sessions

BATCH = 2_000


def delete_old_deliveries(
    sessions: sessionmaker[Session], before: datetime, batch: int = BATCH
) -> int:
    total = 0
    while True:
        with sessions() as session, session.begin():
            ids = list(
                session.scalars(
                    select(Delivery.id).where(Delivery.created_at < before).limit(batch)
                )
            )
            if not ids:
                return total
            session.execute(delete(Delivery).where(Delivery.id.in_(ids)))
        total += len(ids)


def delete_old_clicks(sessions: sessionmaker[Session], before: datetime) -> int:
    """Click records follow the deliveries': seen marks and individual clicks go with them
    (the aggregate counters hold nobody and stay with the item)."""
    with sessions() as session, session.begin():
        seen = session.execute(delete(ClickSeen).where(ClickSeen.created_at < before))
        events = session.execute(delete(ClickEvent).where(ClickEvent.created_at < before))
    return int(seen.rowcount or 0) + int(events.rowcount or 0)  # type: ignore[attr-defined]


def delete_old_digests(sessions: sessionmaker[Session], before: datetime) -> int:
    """Digest records go with their deliveries; planning needs only the latest period,
    and a journalist with none left simply starts again one period back."""
    with sessions() as session, session.begin():
        result = session.execute(delete(Digest).where(Digest.created_at < before))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def delete_dead_staff_sessions(sessions: sessionmaker[Session], now: datetime) -> int:
    """Sessions that expired, idled out or lost their key: they open nothing any more."""
    with sessions() as session, session.begin():
        return staff_sessions.delete_dead(session, now)


def forget_unsubscribed(
    sessions: sessionmaker[Session],
    before: datetime,
    hasher: Callable[[str], str],
    now: datetime,
    batch: int = BATCH,
) -> int:
    """Blank the address of everyone unsubscribed before ``before``.

    The address stays suppressed under a keyed hash, so no import brings it back.
    """
    total = 0
    while True:
        with sessions() as session, session.begin():
            people = session.scalars(
                select(Journalist)
                .where(
                    Journalist.status == JournalistStatus.UNSUBSCRIBED,
                    Journalist.unsubscribed_at < before,
                    Journalist.email.is_not(None),
                )
                .limit(batch)
            ).all()
            if not people:
                return total
            for person in people:
                assert person.email is not None
                hashed = hasher(person.email)
                session.execute(delete(Suppression).where(Suppression.email == person.email))
                if session.get(Suppression, hashed) is None:
                    session.add(
                        Suppression(email=hashed, reason="unsubscribed (forgotten)", created_at=now)
                    )
                person.email = None
                person.name = ""
                person.outlet = ""
                person.subscriptions.clear()
        total += len(people)


def run(
    sessions: sessionmaker[Session],
    now: datetime,
    keep_deliveries: timedelta,
    forget_after: timedelta,
    hasher: Callable[[str], str],
) -> dict[str, int]:
    return {
        "deliveries_deleted": delete_old_deliveries(sessions, now - keep_deliveries),
        "digests_deleted": delete_old_digests(sessions, now - keep_deliveries),
        "clicks_deleted": delete_old_clicks(sessions, now - keep_deliveries),
        "addresses_forgotten": forget_unsubscribed(sessions, now - forget_after, hasher, now),
        "staff_sessions_deleted": delete_dead_staff_sessions(sessions, now),
    }
