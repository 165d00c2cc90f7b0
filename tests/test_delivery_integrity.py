"""No delivery row outlives its item, with ``deliveries.item_id`` checked by code.

Migration 0019 dropped the foreign key on ``deliveries.item_id`` (its check ran once
per row of a million-row fan-out). What it guaranteed is kept:

- its writers (the fan-out, the digest planner) lock their items ``FOR KEY SHARE``
  first: an item deleted while they write waits for them, and its trigger then
  deletes what they wrote; one deleted before is not found, and nothing is written;
- deleting an item, by any writer, deletes its deliveries (a trigger, both databases).

Migration 0020 did the same for ``deliveries.digest_id`` (only the planner writes it,
always a digest of its own statement): deleting digests unlinks their rows, by trigger.

The races run with real concurrent sessions on PostgreSQL: the second one is seen
waiting on a lock in ``pg_stat_activity`` before the first commits, so the order is
forced, not hoped for.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from alerts.audience import membership
from alerts.core.db import make_engine, make_session_factory
from alerts.core.migrate import upgrade
from alerts.core.models import (
    BounceEvent,
    Cadence,
    Delivery,
    DeliveryStatus,
    Digest,
    DigestStatus,
    FanOutSlice,
    Item,
    UnsubscribeMethod,
    utcnow,
)
from alerts.delivery import store
from alerts.delivery.fanout import fan_out_in_slices, fan_out_slice
from alerts.digests import planning
from tests.conftest import PG_ADMIN_URL, PG_HOST
from tests.factories import journalist, published_item

LEASE = timedelta(minutes=5)


@pytest.fixture(scope="module")
def pg_engine() -> Iterator[Engine]:
    name = f"alerts_integrity_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://{PG_HOST}/{name}"
    try:
        upgrade(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg(pg_engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield make_session_factory(pg_engine)
    with pg_engine.begin() as conn:
        for table in ("deliveries", "digests", "fan_out_slices", "fan_outs", "items"):
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("DELETE FROM subscriptions"))
        conn.execute(text("DELETE FROM journalists"))


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    if request.param == "postgres":
        yield request.getfixturevalue("pg")
        return
    url = f"sqlite:///{tmp_path / 'integrity.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def _audience(sessions: sessionmaker[Session], n: int = 3) -> int:
    """N journalists who match a Mexico item, and that item, published; its id."""
    with sessions() as session, session.begin():
        for k in range(n):
            journalist(session, f"j{k}@example.net", (["MX"], []))
        return published_item(session, countries=["MX"])


def _rows(sessions: sessionmaker[Session], item_id: int) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).where(Delivery.item_id == item_id)) or 0)


def _pid(conn: Connection) -> int:
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _wait_for_lock(engine: Engine, pid: int) -> None:
    """Until the server process ``pid`` waits on a lock (a row's, or a transaction's)."""
    deadline = time.monotonic() + 20
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            kind = conn.execute(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": pid},
            ).scalar()
            if kind == "Lock":
                return
            conn.rollback()
            time.sleep(0.02)
    raise AssertionError(f"process {pid} never waited on a lock")


class _InThread:
    """Run ``work(connection)`` on a connection of its own in a thread; keep its result."""

    def __init__(self, engine: Engine, work: Callable[[Connection], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.pid: int | None = None
        self._ready = threading.Event()

        def run() -> None:
            try:
                with engine.connect() as conn:
                    self.pid = _pid(conn)
                    conn.commit()
                    self._ready.set()
                    self.result = work(conn)
            except BaseException as exc:  # handed to the test's thread
                self.error = exc
            finally:
                self._ready.set()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        self._ready.wait(20)

    def join(self) -> Any:
        self._thread.join(30)
        assert not self._thread.is_alive(), "the other session never finished"
        if self.error is not None:
            raise self.error
        return self.result


def _delete_item(item_id: int) -> Callable[[Connection], None]:
    def work(conn: Connection) -> None:
        conn.execute(text("DELETE FROM items WHERE id = :id"), {"id": item_id})
        conn.commit()

    return work


def test_an_item_deleted_under_a_fan_out_slice_leaves_no_rows(
    pg: sessionmaker[Session], pg_engine: Engine
) -> None:
    item_id = _audience(pg)
    with pg() as fan, fan.begin():
        assert len(fan_out_slice(fan, item_id, utcnow())) == 3
        # The slice holds the item's lock: the delete waits for the slice's commit.
        deleter = _InThread(pg_engine, _delete_item(item_id))
        assert deleter.pid is not None
        _wait_for_lock(pg_engine, deleter.pid)
    deleter.join()
    with pg() as session:
        assert session.get(Item, item_id) is None
    assert _rows(pg, item_id) == 0  # the delete's trigger saw the committed rows


def test_a_fan_out_after_its_item_was_deleted_writes_nothing(
    pg: sessionmaker[Session], pg_engine: Engine
) -> None:
    item_id = _audience(pg)
    queued: list[list[int]] = []

    def fan_out(conn: Connection) -> list[int]:
        # The whole sliced run, planning included: its plan rows name the item too.
        return list(
            fan_out_in_slices(sessionmaker(bind=conn), item_id, utcnow, 1000, queued.append)
        )

    with pg_engine.connect() as deleting:
        deleting.execute(text("DELETE FROM items WHERE id = :id"), {"id": item_id})
        fan = _InThread(pg_engine, fan_out)
        assert fan.pid is not None
        _wait_for_lock(pg_engine, fan.pid)
        deleting.commit()
    # No IntegrityError from the plan or the slice: the item is simply gone.
    assert fan.join() == []
    assert queued == []
    assert _rows(pg, item_id) == 0
    with pg() as session:
        assert session.scalar(select(func.count()).select_from(FanOutSlice)) == 0


def test_an_item_deleted_under_digest_planning_leaves_no_rows(
    pg: sessionmaker[Session], pg_engine: Engine
) -> None:
    now = datetime(2026, 11, 10, 8, 5, tzinfo=UTC)  # the default digest time is 08:00 UTC
    with pg() as session, session.begin():
        journalist(session, "daily@example.net", ([], [], Cadence.DAILY))
        item_id = published_item(session, countries=["MX"])
        item = session.get(Item, item_id)
        assert item is not None
        item.published_at = now - timedelta(hours=3)
    with pg() as planner, planner.begin():
        assert len(planning.plan(planner, now)) == 1
        assert planner.scalar(select(func.count()).where(Delivery.item_id == item_id)) == 1
        deleter = _InThread(pg_engine, _delete_item(item_id))
        assert deleter.pid is not None
        _wait_for_lock(pg_engine, deleter.pid)
    deleter.join()
    assert _rows(pg, item_id) == 0


def test_digest_planning_after_its_item_was_deleted_reserves_nothing(
    pg: sessionmaker[Session], pg_engine: Engine
) -> None:
    now = datetime(2026, 11, 10, 8, 5, tzinfo=UTC)
    with pg() as session, session.begin():
        journalist(session, "daily@example.net", ([], [], Cadence.DAILY))
        item_id = published_item(session, countries=["MX"])
        item = session.get(Item, item_id)
        assert item is not None
        item.published_at = now - timedelta(hours=3)

    def plan(conn: Connection) -> list[int]:
        with Session(conn) as planner:
            planned = planning.plan(planner, now)
            planner.commit()
            return planned

    with pg_engine.connect() as deleting:
        deleting.execute(text("DELETE FROM items WHERE id = :id"), {"id": item_id})
        planner = _InThread(pg_engine, plan)
        assert planner.pid is not None
        _wait_for_lock(pg_engine, planner.pid)
        deleting.commit()
    assert planner.join() == []  # recorded as empty: nothing left to send
    assert _rows(pg, item_id) == 0
    with pg() as session:
        assert session.scalars(select(Digest.status)).all() == [DigestStatus.EMPTY]


def test_deleting_an_item_deletes_its_deliveries(any_db: sessionmaker[Session]) -> None:
    """What ON DELETE CASCADE did, for any writer: the trigger is there at head."""
    item_id = _audience(any_db)
    other = _audience(any_db, 0)
    with any_db() as session, session.begin():
        ids = fan_out_slice(session, item_id, utcnow())
        someone = session.scalar(select(Delivery.journalist_id).where(Delivery.id == ids[0]))
        assert someone is not None
        session.add(BounceEvent(delivery_id=ids[0], kind="hard"))
        session.add(Delivery(item_id=other, journalist_id=someone, status=DeliveryStatus.SENT))
    with any_db() as session, session.begin():
        session.execute(text("DELETE FROM items WHERE id = :id"), {"id": item_id})
    assert _rows(any_db, item_id) == 0
    assert _rows(any_db, other) == 1  # only that item's
    with any_db() as session:
        # The bounce stays, its delivery gone (bounce_events.delivery_id: ON DELETE SET NULL).
        assert session.scalars(select(BounceEvent.delivery_id)).all() == [None]


def test_an_unsubscribe_cancels_digests_and_the_claim_cancels_queued_alerts(
    any_db: sessionmaker[Session],
) -> None:
    """Nothing reaches a journalist after the one-click commits, with no index by journalist:
    their queued alert rows are cancelled by the claim, their pending digests at once."""
    item_id = _audience(any_db, 2)
    in_digest = _audience(any_db, 0)
    with any_db() as session, session.begin():
        ids = fan_out_slice(session, item_id, utcnow())
        leaving = session.scalar(select(Delivery.journalist_id).where(Delivery.id == ids[0]))
        assert leaving is not None
        digest = Digest(
            journalist_id=leaving,
            cadence=Cadence.DAILY,
            period="2026-11-10",
            since=utcnow() - timedelta(days=1),
            cutoff=utcnow(),
            items=1,
        )
        session.add(digest)
        session.flush()
        session.add(
            Delivery(
                item_id=in_digest,
                journalist_id=leaving,
                status=DeliveryStatus.PENDING,
                digest_id=digest.id,
            )
        )
    with any_db() as session, session.begin():
        assert membership.unsubscribe_all(session, leaving, UnsubscribeMethod.ONE_CLICK, utcnow())
    with any_db() as session:
        assert session.scalars(select(Digest.status)).all() == [DigestStatus.CANCELLED]
        assert session.scalars(
            select(Delivery.status).where(Delivery.item_id == in_digest)
        ).all() == [DeliveryStatus.CANCELLED]
        # The queued alert rows are left to their batch.
        queued = session.scalars(select(Delivery.status).where(Delivery.item_id == item_id))
        assert set(queued) == {DeliveryStatus.PENDING}
    with any_db() as session, session.begin():
        claimed = store.claim(session, ids, utcnow(), LEASE)
    assert len(claimed) == 1 and claimed[0].journalist_id != leaving
    with any_db() as session:
        row = session.execute(
            select(Delivery.status, Delivery.last_reply).where(Delivery.id == ids[0])
        ).one()
    assert row.status == DeliveryStatus.CANCELLED
    assert row.last_reply == "cancelled: recipient unsubscribed or suppressed"


def test_deleting_digests_unlinks_their_deliveries(any_db: sessionmaker[Session]) -> None:
    """What ON DELETE SET NULL did, for any writer: the trigger is there at head, and
    one delete of many digests unlinks each one's rows and nobody else's."""
    item_id = _audience(any_db, 0)
    other_item = _audience(any_db, 0)
    with any_db() as session, session.begin():
        people = [journalist(session, f"d{k}@example.net", ([], [])) for k in range(3)]
        session.flush()
        digests = [
            Digest(
                journalist_id=person.id,
                cadence=Cadence.DAILY,
                period="2026-11-10",
                since=utcnow() - timedelta(days=1),
                cutoff=utcnow(),
                items=1,
            )
            for person in people
        ]
        session.add_all(digests)
        session.flush()
        for person, digest in zip(people, digests, strict=True):
            session.add(Delivery(item_id=item_id, journalist_id=person.id, digest_id=digest.id))
        kept = digests[2].id
        session.add(Delivery(item_id=other_item, journalist_id=people[0].id))
    with any_db() as session, session.begin():
        session.execute(text("DELETE FROM digests WHERE id <> :kept"), {"kept": kept})
    with any_db() as session:
        links = session.scalars(
            select(Delivery.digest_id).where(Delivery.item_id == item_id).order_by(Delivery.id)
        ).all()
        assert links == [None, None, kept]
        assert _rows(any_db, item_id) == 3  # unlinked, not deleted
        assert _rows(any_db, other_item) == 1
