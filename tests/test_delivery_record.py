"""The delivery record's guards, on a real SQLite database (no network needed)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.core.db import make_engine, make_session_factory
from alerts.core.migrate import upgrade
from alerts.core.models import Delivery, DeliveryStatus, utcnow
from alerts.delivery import progress, recovery
from alerts.delivery import store as delivery
from alerts.delivery.outcome import Outcome, Verdict
from tests.factories import fan_out, journalist, published_item

POLICY = delivery.RetryPolicy(30, 3600, 86400)
LEASE = timedelta(seconds=60)


def _one_delivery(tmp_path: Path) -> tuple[Session, int]:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    upgrade(url)
    session = make_session_factory(make_engine(url))()
    journalist(session, "a@example.net", ([], []))
    item_id = published_item(session, countries=["MX"])
    [delivery_id] = fan_out(session, item_id, utcnow())
    session.commit()
    return session, delivery_id


def test_a_worker_whose_lease_ran_out_cannot_undo_the_next_claim(tmp_path: Path) -> None:
    session, delivery_id = _one_delivery(tmp_path)
    [first] = delivery.claim(session, [delivery_id], utcnow(), LEASE)
    session.commit()
    # The first worker stalls; the lease expires, the sweep frees the row, another claims it.
    later = utcnow() + LEASE + timedelta(seconds=1)
    recovery.sweep(session, later, timedelta(seconds=900))
    [second] = delivery.claim(session, [delivery_id], later, LEASE)
    session.commit()
    assert (first.attempts, second.attempts) == (1, 2)

    # The stale worker's temporary failure must not put the row back to pending...
    delivery.record(session, [(first, Outcome(Verdict.RETRY, "451 later"), "<m>")], later, POLICY)
    session.commit()
    row = session.get(Delivery, delivery_id)
    assert row is not None
    session.refresh(row)
    assert (row.status, row.attempts) == (DeliveryStatus.SENDING, 2)
    # ...while the current holder's result is recorded.
    delivery.record(session, [(second, Outcome(Verdict.SENT, "250 ok"), "<m>")], later, POLICY)
    session.commit()
    session.refresh(row)
    assert row.status == DeliveryStatus.SENT


def test_retry_deadline_turns_a_temporary_failure_into_a_failure(tmp_path: Path) -> None:
    session, delivery_id = _one_delivery(tmp_path)
    [claimed] = delivery.claim(session, [delivery_id], utcnow(), LEASE)
    late = claimed.created_at + timedelta(seconds=POLICY.deadline_seconds + 1)
    delivery.record(session, [(claimed, Outcome(Verdict.RETRY, "451 later"), "<m>")], late, POLICY)
    session.commit()
    status, reply = session.execute(select(Delivery.status, Delivery.last_reply)).one()
    assert status == DeliveryStatus.FAILED and str(reply).startswith("gave up after 1 attempts")


def test_backoff_grows_and_is_capped() -> None:
    import random

    rng = random.Random(7)
    delays = [POLICY.delay(n, rng) for n in range(1, 12)]
    assert 15 <= delays[0] <= 30
    assert delays[3] > delays[0]
    assert max(delays) <= POLICY.max_seconds


def test_counts_for_items_agrees_with_counts_for_item(tmp_path: Path) -> None:
    session, delivery_id = _one_delivery(tmp_path)
    [claimed] = delivery.claim(session, [delivery_id], utcnow(), LEASE)
    delivery.record(session, [(claimed, Outcome(Verdict.SENT, "250 ok"), "<m>")], utcnow(), POLICY)
    session.commit()
    row = session.get(Delivery, delivery_id)
    assert row is not None
    counts = progress.counts_for_items(session, [row.item_id, 10_000])
    assert counts == {row.item_id: progress.counts_for_item(session, row.item_id)}
    assert counts[row.item_id] == {"sent": 1}
