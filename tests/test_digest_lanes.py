"""A planning tick in lanes (digests/lanes.py): chunks planned at once, each committed whole.

Chunks are made small here (40 journalists) so that 150 digest journalists make four
of them; the chunks are planned on a real database, by real threads.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import psycopg
import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from alerts.core.db import make_engine, make_session_factory
from alerts.core.models import Cadence, Delivery, Digest, Journalist, utcnow
from alerts.digests import lanes
from tests.factories import journalist
from tests.test_digests import (
    _publish,
    sessions,  # noqa: F401  (the fixture: SQLite and PostgreSQL)
)

PEOPLE = 150
CHUNK = 40


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _seed(factory: sessionmaker[Session]) -> list[int]:
    with factory() as session, session.begin():
        people = [
            journalist(session, f"d{n}@example.org", ([], [], Cadence.DAILY)) for n in range(PEOPLE)
        ]
        session.flush()
        ids = sorted(p.id for p in people)
    _publish(factory, "held by every digest")
    return ids


def _count(factory: sessionmaker[Session], what: type) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(what)) or 0


def test_every_due_digest_is_planned_once_and_queued_after_its_chunk_commits(
    sessions: sessionmaker[Session],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lanes, "CHUNK", CHUNK)
    postgres = sessions.kw["bind"].dialect.name == "postgresql"
    handed: list[tuple[list[int], int, str]] = []

    def committed(ids: list[int]) -> None:
        # Read from a session of its own: only what has committed is there.
        with sessions() as reader:
            visible = reader.scalar(
                select(func.count()).select_from(Digest).where(Digest.id.in_(ids))
            )
        handed.append((ids, visible or 0, threading.current_thread().name))

    with time_machine.travel(utc("2026-11-10T09:00"), tick=False) as clock:
        _seed(sessions)
        clock.move_to(utc("2026-11-11T08:30"))
        planned = lanes.plan_in_lanes(sessions, utcnow(), 2 if postgres else 1, committed)
        again = lanes.plan_in_lanes(sessions, utcnow(), 2, committed)
        with sessions() as session:
            still_due = session.scalar(
                select(func.count()).where(Journalist.next_due_at <= utcnow())
            )

    assert len(planned) == PEOPLE == len(set(planned))
    assert again == []
    assert [len(ids) for ids, _, _ in handed] != [] and sum(len(i) for i, _, _ in handed) == PEOPLE
    assert len(handed) == 4  # 40, 40, 40, 30: one call per chunk; none by the second tick
    assert all(visible == len(ids) for ids, visible, _ in handed)  # committed, then handed on
    assert {name for _, _, name in handed} == {threading.current_thread().name}
    assert sorted(i for ids, _, _ in handed for i in ids) == planned
    assert _count(sessions, Digest) == PEOPLE
    assert _count(sessions, Delivery) == PEOPLE  # the one item, reserved once each
    assert still_due == 0


@pytest.mark.parametrize("sessions", ["postgres"], indirect=True)  # row locks, lock_timeout
def test_a_chunk_that_fails_leaves_its_journalists_due_and_the_others_planned(
    sessions: sessionmaker[Session],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A row lock held elsewhere makes one chunk time out: the other chunks commit,
    the error is raised after them, and the next tick plans that chunk alone."""
    url = sessions.kw["bind"].url
    monkeypatch.setattr(lanes, "CHUNK", CHUNK)
    engine = make_engine(
        url.render_as_string(hide_password=False),
        connect_args={"options": "-c jit=off -c lock_timeout=500"},
    )
    impatient = make_session_factory(engine)
    handed: list[list[int]] = []
    try:
        with time_machine.travel(utc("2026-11-10T09:00"), tick=False) as clock:
            ids = _seed(sessions)
            second_chunk = ids[CHUNK : 2 * CHUNK]
            clock.move_to(utc("2026-11-11T08:30"))
            plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
            with psycopg.connect(plain) as holder:
                holder.execute(
                    "SELECT id FROM journalists WHERE id = %s FOR UPDATE", [second_chunk[5]]
                )
                with pytest.raises(OperationalError, match="lock"):
                    lanes.plan_in_lanes(impatient, utcnow(), 2, handed.append)
                holder.rollback()
            assert _count(sessions, Digest) == PEOPLE - CHUNK
            with sessions() as session:
                waiting = session.scalars(
                    select(Journalist.id)
                    .where(Journalist.next_due_at <= utcnow())
                    .order_by(Journalist.id)
                ).all()
            assert waiting == second_chunk
            assert len(handed) == 3
            later = lanes.plan_in_lanes(impatient, utcnow(), 2, handed.append)
    finally:
        engine.dispose()
    assert len(later) == CHUNK
    assert _count(sessions, Digest) == PEOPLE
    assert _count(sessions, Delivery) == PEOPLE
