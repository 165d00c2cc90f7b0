# mypy: disable-error-code="no-untyped-call"
"""The embedded broker (worker/sqlite_broker.py): real Kombu, real SQLite files."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from kombu import Connection, Consumer, Exchange, Message, Producer, Queue  # type: ignore[attr-defined]
from sqlalchemy import create_engine, text

from alerts.worker import sqlite_broker
from tests.conftest import Stack
from tests.factories import journalist, published_item


def _messages(url: str) -> tuple[int, int]:
    """(visible, invisible) rows in a broker file."""
    engine = create_engine(sqlite_broker.broker_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT visible, count(*) FROM kombu_message GROUP BY 1"))
            counts = {bool(visible): count for visible, count in rows}
    finally:
        engine.dispose()
    return counts.get(True, 0), counts.get(False, 0)


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
def test_a_sent_alert_leaves_no_fetched_message_behind(pipeline: Stack) -> None:
    """Every message the worker fetched is gone from the file, not kept invisible for
    each later poll to scan past."""
    with pipeline.session() as session:
        for i in range(20):  # batches of 7: a fan-out message and three batch messages
            journalist(session, f"reader{i:02d}@example.net", (["MX"], []))
        item_id = published_item(session, countries=["MX"], topics=["asylum"])
        session.commit()
    assert pipeline.wait_for_item(item_id) == {"sent": 20}
    assert len(pipeline.received()) == 20
    assert _messages(pipeline.settings.broker_url)[1] == 0


QUEUE = Queue("work", Exchange("work", type="direct"), routing_key="work")


def _publish(url: str, transport: str | None, count: int) -> None:
    with Connection(sqlite_broker.broker_url(url), transport=transport) as conn:
        producer = Producer(conn.channel())
        for n in range(count):
            producer.publish({"n": n}, exchange=QUEUE.exchange, routing_key="work", declare=[QUEUE])


def test_rows_the_stock_transport_left_invisible_are_deleted_on_opening(tmp_path: Path) -> None:
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    _publish(url, "sqlalchemy", 3)
    with Connection(sqlite_broker.broker_url(url), transport="sqlalchemy") as conn:
        queue = QUEUE(conn.channel())
        for _ in range(2):
            message = queue.get(no_ack=True)
            assert message is not None
    assert _messages(url) == (1, 2)

    with Connection(sqlite_broker.broker_url(url), transport=sqlite_broker.TRANSPORT) as conn:
        queue = QUEUE(conn.channel())
        message = queue.get(no_ack=True)
        assert message is not None and message.payload == {"n": 2}
    assert _messages(url) == (0, 0)


def test_an_acknowledgement_wakes_the_poller_at_once(tmp_path: Path) -> None:
    """With prefetch 1 the next message can only be fetched once the last is acked:
    the ack ends the wait, however long the polling interval."""
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    _publish(url, sqlite_broker.TRANSPORT, 2)
    received: list[Message] = []
    connection = Connection(
        sqlite_broker.broker_url(url),
        transport=sqlite_broker.TRANSPORT,
        # An hour between polls: only the wake-up can deliver the second message.
        transport_options={"polling_interval": 3600},
    )
    channel = connection.channel()
    consumer = Consumer(channel, [QUEUE], callbacks=[lambda _body, m: received.append(m)])
    consumer.qos(prefetch_count=1)
    consumer.consume()
    try:
        connection.drain_events(timeout=10)
        assert [m.payload for m in received] == [{"n": 0}]

        second = threading.Event()

        def drain() -> None:
            connection.drain_events()  # sleeps until woken: no timeout of its own
            second.set()

        threading.Thread(target=drain, daemon=True).start()
        # Not fetched while the prefetch is full, whatever it polls meanwhile.
        assert not second.wait(0.5)
        received[0].ack()
        assert second.wait(10), "the ack did not wake the poller"
        assert [m.payload for m in received] == [{"n": 0}, {"n": 1}]
    finally:
        connection.release()
