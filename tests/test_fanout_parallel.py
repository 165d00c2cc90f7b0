"""One item's fan-out matched by two worker processes at once, and finished after a kill.

A real worker (two processes), PostgreSQL and Redis. The test holds row locks on
journalists of the second and third slices, so that the slices' inserts (whose
foreign-key checks lock those rows) wait: two slices in flight at once is then
seen in ``pg_stat_activity``, whatever the timing. Killing the worker there
leaves a half-done plan, which the sweep's run finishes: every journalist gets
exactly one delivery row and one email.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest
import redis
from sqlalchemy import func, select, text

from alerts.core.models import Delivery, DeliveryStatus, FanOut, FanOutSlice, Journalist
from alerts.items.drafts import ItemDraft, create_item
from alerts.items.lifecycle import publish_item
from alerts.worker.app import SWEEP
from tests.conftest import PG_ADMIN_URL, PG_HOST, ScriptedSink, Stack, build_stack
from tests.factories import TAXONOMY, journalist

POPULATION = 200
SLICE = 20  # ten slices
OWN_REDIS = os.environ.get("ALERTS_TEST_FAULT_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture(scope="module")
def lanes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    name = f"alerts_lanes_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    redis.Redis.from_url(OWN_REDIS).flushdb()
    env = {
        "ALERTS_DATABASE_URL": f"postgresql+psycopg://{PG_HOST}/{name}",
        # Not the session stack's Redis database: its worker would take our messages.
        "ALERTS_BROKER_URL": OWN_REDIS,
        "ALERTS_FAN_OUT_SLICE": str(SLICE),
        "ALERTS_FAN_OUT_LANES": "2",
        "ALERTS_LEASE_SECONDS": "10",
    }
    try:
        with build_stack("lanes", tmp_path_factory.mktemp("lanes"), ScriptedSink(), env) as stack:
            yield stack
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _database(stack: Stack) -> str:
    return stack.settings.database_url.replace("postgresql+psycopg", "postgresql")


def _seed(stack: Stack) -> list[int]:
    """The population, every one matching; their ids in order."""
    stack.reset()
    with stack.session() as session:
        for n in range(POPULATION):
            journalist(session, f"reader{n:03d}@example.net", (["MX"], []))
        session.commit()
        return list(session.scalars(select(Journalist.id).order_by(Journalist.id)))


def _hold_slices_two_and_three(stack: Stack, ids: list[int]) -> psycopg.Connection:
    """A transaction holding a journalist of the second and of the third slice."""
    holder = psycopg.connect(_database(stack))
    # The first slice is SLICE rows, as are the next (SLICE is below the first's 1,000).
    held = [ids[SLICE + 5], ids[2 * SLICE + 5]]
    holder.execute("SELECT id FROM journalists WHERE id = ANY(%s) FOR UPDATE", [held])
    return holder


def _publish(stack: Stack) -> int:
    with stack.session() as session:
        draft = ItemDraft(title="Parallel", summary="S.", countries=["MX"], topics=[])
        item = publish_item(session, create_item(session, TAXONOMY, draft))
        session.commit()  # the hook queues the fan-out
        return item.id


def _slices_waiting(stack: Stack) -> int:
    """Slice transactions waiting on the held journalists (blocked inserts)."""
    with stack.session() as session:
        return int(
            session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO deliveries%'"
                )
            )
            or 0
        )


def _first_slice_sent(stack: Stack, item_id: int) -> bool:
    with stack.session() as session:
        sent = session.scalar(
            select(func.count()).where(
                Delivery.item_id == item_id, Delivery.status == DeliveryStatus.SENT
            )
        )
    return sent == SLICE


def _exactly_once(stack: Stack, item_id: int, ids: list[int]) -> None:
    counts = stack.wait_for_item(item_id)
    assert counts == {DeliveryStatus.SENT: POPULATION}
    with stack.session() as session:
        rows = Counter(
            session.scalars(select(Delivery.journalist_id).where(Delivery.item_id == item_id))
        )
        fan_out = session.get(FanOut, item_id)
        plan = session.scalar(select(func.count()).select_from(FanOutSlice))
    assert set(rows) == set(ids) and set(rows.values()) == {1}
    assert fan_out is not None and fan_out.matched == POPULATION and fan_out.runs == 1
    assert plan == 0  # dropped by the slice that recorded the fan-out
    recipients = Counter(r for message in stack.received() for r in message.rcpt_tos)
    assert len(recipients) == POPULATION and set(recipients.values()) == {1}


def test_two_processes_match_slices_of_one_item_at_once(lanes: Stack) -> None:
    ids = _seed(lanes)
    holder = _hold_slices_two_and_three(lanes, ids)
    try:
        item_id = _publish(lanes)
        # One process is in the second slice, the other (a lane queued after the
        # first slice) skipped it and is in the third.
        lanes.wait_until(lambda: _slices_waiting(lanes) == 2, what="two slices in flight")
    finally:
        holder.rollback()
        holder.close()
    _exactly_once(lanes, item_id, ids)
    log = lanes.log_path.read_text(errors="replace")
    assert f"fan-out lane item_id={item_id} queued=" in log


def test_a_worker_killed_mid_fan_out_leaves_it_to_the_sweep(lanes: Stack) -> None:
    ids = _seed(lanes)
    holder = _hold_slices_two_and_three(lanes, ids)
    try:
        item_id = _publish(lanes)
        lanes.wait_until(lambda: _slices_waiting(lanes) == 2, what="two slices in flight")
        # The first slice's emails are out, so the kill doubles none of them.
        lanes.wait_until(lambda: _first_slice_sent(lanes, item_id), what="first slice sent")
        os.killpg(lanes.worker.pid, signal.SIGKILL)
        lanes.worker.wait()
    finally:
        holder.rollback()
        holder.close()
    # The two slices in flight died with their transactions: a plan half done, no record.
    with lanes.session() as session:
        assert session.get(FanOut, item_id) is None
        assert session.scalar(select(func.count()).where(Delivery.item_id == item_id)) == SLICE
        done = session.scalars(select(FanOutSlice.done).where(FanOutSlice.item_id == item_id))
        assert sorted(done) == [False] * 9 + [True]
    lanes.start_worker()
    lanes.app.send_task(SWEEP, queue="periodic")
    _exactly_once(lanes, item_id, ids)
