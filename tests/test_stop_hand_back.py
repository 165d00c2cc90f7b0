"""A batch asked to stop part way: what was sent is recorded, the rest handed back due now.

The send-batch use case with an in-memory transport; the "stop" is the callable the
worker's pool process answers from its SIGTERM (alerts/worker/stopping.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from alerts.core.models import Delivery, DeliveryStatus, utcnow
from alerts.delivery.batch import send_deliveries
from tests.test_batch import RULES, MemoryTransport, _runtime


def _naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)  # SQLite gives them back without a zone


class StopAfter(MemoryTransport):
    """Answers 250, and after ``count`` messages says the process was asked to stop."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    def stopping(self) -> Callable[[], bool]:
        return lambda: len(self.sent) >= self.count


def test_a_stop_ends_the_batch_between_messages_and_hands_back_the_rest(
    tmp_path: Path,
) -> None:
    runtime, ids = _runtime(tmp_path)
    transport = StopAfter(1)
    before = utcnow()

    counts = send_deliveries(
        ids, runtime.sessions, transport, runtime, RULES, stopping=transport.stopping()
    )

    assert len(transport.sent) == 1  # the message on the wire was finished, no other begun
    assert counts == {"sent": 1, "pending": 2}
    with runtime.sessions() as session:
        rows = session.query(Delivery).filter(Delivery.id.in_(ids)).all()
    [sent] = [d for d in rows if d.status == DeliveryStatus.SENT]
    assert sent.message_id is not None
    handed_back = [d for d in rows if d.status == DeliveryStatus.PENDING]
    assert len(handed_back) == 2
    for row in handed_back:
        # Not an attempt, and no backoff: the relay did nothing wrong.
        assert row.attempts == 0
        assert row.next_attempt_at is not None
        assert _naive(before) <= _naive(row.next_attempt_at) <= _naive(utcnow())
        assert row.last_reply == "not attempted: the worker was stopping"


def test_without_a_stop_the_whole_batch_is_sent(tmp_path: Path) -> None:
    runtime, ids = _runtime(tmp_path)
    transport = StopAfter(99)

    counts = send_deliveries(
        ids, runtime.sessions, transport, runtime, RULES, stopping=transport.stopping()
    )

    assert counts == {"sent": 3}
