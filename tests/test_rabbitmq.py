"""RabbitMQ as the broker, end to end: PostgreSQL, a real worker (with its beat), the sink.

The shared ``stack`` fixture runs every pipeline test on the embedded defaults and
on PostgreSQL + Redis; running all of them a third time on RabbitMQ would make the
suite much longer for little more confidence. This file runs the core of it on
RabbitMQ instead: fan-out into batches, retries, a digest, the operators' queue
depths and the events Flower reads, and the broker restarted mid-send.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from amqp.exceptions import NotFound
from sqlalchemy import func, select
from typer.testing import CliRunner

from alerts.cli.root import app as cli
from alerts.core.models import (
    Cadence,
    Delivery,
    DeliveryStatus,
    Digest,
    DigestStatus,
    Item,
    Journalist,
    utcnow,
)
from alerts.core.settings import load_settings
from alerts.ops.status import queue_depths
from alerts.worker.app import BULK, PERIODIC, PLAN_DIGESTS, SEND_DIGEST, SWEEP, create_celery
from tests.conftest import PG_ADMIN_URL, PG_HOST, SECRET, Stack, build_stack
from tests.factories import journalist, published_item
from tests.rabbitmq import restart_app, vhost
from tests.test_faults import FaultSink, Row
from tests.webclient import wait_for_mail

BATCH_SIZE = 7
REPORT = (
    Path(__file__).resolve().parent.parent / "build" / "test-artifacts" / "rabbitmq-fault-report.md"
)
runner = CliRunner()


@pytest.fixture(scope="session")
def rabbitmq_url() -> Iterator[str]:
    """This session's own vhost: other test runs on the same RabbitMQ never see its queues."""
    with vhost() as url:
        yield url


@pytest.fixture(scope="module")
def rabbit_stack(rabbitmq_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    name = f"alerts_rabbit_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    # Short retry and recovery delays, as in test_faults.py: the beat's sweep re-queues
    # the rows a 451 postponed within seconds.
    env = {
        "ALERTS_DATABASE_URL": f"postgresql+psycopg://{PG_HOST}/{name}",
        "ALERTS_BROKER_URL": rabbitmq_url,
        "ALERTS_BATCH_SIZE": str(BATCH_SIZE),
        "ALERTS_RETRY_BASE_SECONDS": "1",
        "ALERTS_RETRY_MAX_SECONDS": "2",
        "ALERTS_BREAKER_COOLDOWN_SECONDS": "1",
        "ALERTS_BREAKER_MAX_COOLDOWN_SECONDS": "3",
        "ALERTS_SWEEP_INTERVAL_SECONDS": "1",
        "ALERTS_LEASE_SECONDS": "10",
        "ALERTS_REQUEUE_AFTER_SECONDS": "6",
        "ALERTS_SMTP_TIMEOUT_SECONDS": "5",
    }
    data_dir = tmp_path_factory.mktemp("stack-rabbitmq")
    try:
        with build_stack("rabbitmq", data_dir, FaultSink(), env, ("--beat",)) as stack:
            yield stack
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def rabbit(rabbit_stack: Stack) -> Stack:
    rabbit_stack.reset()
    return rabbit_stack


def _sink(stack: Stack) -> FaultSink:
    assert isinstance(stack.sink, FaultSink)
    return stack.sink


def _population(stack: Stack, prefix: str, size: int) -> set[str]:
    emails = {f"{prefix}{n:03d}@example.net" for n in range(size)}
    with stack.session() as session:
        for email in sorted(emails):
            journalist(session, email, (["MX"], []))
        journalist(session, f"{prefix}-elsewhere@example.net", (["FR"], []))
        session.commit()
    return emails


def _copies(stack: Stack) -> dict[str, list[str]]:
    """Message-IDs received per recipient."""
    copies: dict[str, list[str]] = {}
    for received in stack.received():
        message_id = str(received.parsed()["Message-ID"])
        for rcpt in received.rcpt_tos:
            copies.setdefault(rcpt, []).append(message_id)
    return copies


class Events:
    """The task events of the stack's vhost, received as Flower receives them."""

    def __init__(self, stack: Stack) -> None:
        self.seen: list[dict[str, Any]] = []
        self._connection = stack.app.connection_for_read()
        self._receiver = stack.app.events.Receiver(
            self._connection, handlers={"*": self.seen.append}
        )
        self._ready = threading.Event()
        # Kombu calls this once the event queue is declared and consumed.
        wake_workers = self._receiver.on_consume_ready

        def ready(*args: Any, **kwargs: Any) -> None:
            wake_workers(*args, **kwargs)  # each worker answers with a heartbeat
            self._ready.set()

        self._receiver.on_consume_ready = ready
        self._thread = threading.Thread(target=self._receiver.capture, daemon=True)

    def __enter__(self) -> Events:
        self._thread.start()
        # Events sent before the queue exists are not kept for anyone: wait for it.
        assert self._ready.wait(30), "the event receiver did not start"
        return self

    def __exit__(self, *_: object) -> None:
        self._receiver.should_stop = True
        self._thread.join(timeout=10)
        self._connection.release()

    def names(self, kind: str) -> Counter[str]:
        """Task names of the events of one kind (``task-received``, ``task-succeeded``…)."""
        seen = list(self.seen)  # appended to by the receiver's thread
        by_uuid = {e["uuid"]: e["name"] for e in seen if e.get("name") and e.get("uuid")}
        return Counter(by_uuid.get(e.get("uuid", ""), "?") for e in seen if e["type"] == kind)


def test_publish_fans_out_in_batches_each_journalist_gets_one_email(rabbit: Stack) -> None:
    expected = _population(rabbit, "p", 50)
    with rabbit.session() as session:
        item_id = published_item(session, title="Mexico: a report", countries=["MX"])
        session.commit()

    assert rabbit.wait_for_item(item_id) == {DeliveryStatus.SENT: len(expected)}
    copies = _copies(rabbit)
    assert set(copies) == expected
    assert all(len(ids) == 1 for ids in copies.values()), copies
    with rabbit.session() as session:
        stored = dict(
            session.execute(
                select(Journalist.email, Delivery.message_id)
                .join(Delivery, Delivery.journalist_id == Journalist.id)
                .where(Delivery.item_id == item_id)
            ).all()
        )
    assert {email: ids[0] for email, ids in copies.items()} == stored


def test_the_events_flower_reads_cross_rabbitmq(rabbit: Stack) -> None:
    expected = _population(rabbit, "e", 3 * BATCH_SIZE)
    with Events(rabbit) as events:
        with rabbit.session() as session:
            item_id = published_item(session, countries=["MX"])
            session.commit()
        assert rabbit.wait_for_item(item_id) == {DeliveryStatus.SENT: len(expected)}
        rabbit.wait_until(
            lambda: events.names("task-succeeded")["alerts.send_batch"] >= 3,
            what="task-succeeded events of the three batches",
        )
    received = events.names("task-received")
    assert received["alerts.fan_out"] == 1
    # Three batches of seven: the sweep re-queues nothing this quick (6 s requeue delay).
    assert received["alerts.send_batch"] == 3
    assert any(e["type"] == "worker-heartbeat" for e in events.seen)


def test_relay_answers_451_then_accepts(rabbit: Stack) -> None:
    expected = _population(rabbit, "t", 40)
    greylisted = sorted(expected)[:10]
    _sink(rabbit).temporary = dict.fromkeys(greylisted, 2)
    with rabbit.session() as session:
        item_id = published_item(session, countries=["MX"])
        session.commit()

    assert rabbit.wait_for_item(item_id) == {DeliveryStatus.SENT: len(expected)}
    copies = _copies(rabbit)
    assert set(copies) == expected and all(len(ids) == 1 for ids in copies.values())
    with rabbit.session() as session:
        attempts = dict(
            session.execute(
                select(Delivery.attempts, func.count())
                .where(Delivery.item_id == item_id)
                .group_by(Delivery.attempts)
            ).all()
        )
    assert attempts == {1: len(expected) - 10, 3: 10}


def test_a_daily_digest_is_sent_once(rabbit: Stack) -> None:
    now = utcnow()
    due = now - timedelta(hours=1)  # due an hour ago (UTC), so it covers the last day
    with rabbit.session() as session:
        reader = journalist(session, "daily@example.net", (["MX"], [], Cadence.DAILY))
        reader.timezone, reader.digest_minute = "UTC", due.hour * 60 + due.minute
        session.flush()
        items = []
        for title in ("First Mexico report", "Second Mexico report"):
            item_id = published_item(session, title=title, countries=["MX"])
            session.get(Item, item_id).published_at = now - timedelta(hours=3)  # type: ignore[union-attr]
            items.append(item_id)
        session.commit()
    for item_id in items:
        rabbit.wait_for_item(item_id)  # the immediate fan-outs: nobody takes them at once
    with rabbit.session() as session:
        immediate = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.digest_id.is_(None))
        )
    assert immediate == 0

    with Events(rabbit) as events:
        rabbit.app.send_task(PLAN_DIGESTS)
        [message] = wait_for_mail(rabbit, "daily@example.net")
        rabbit.wait_until(
            lambda: _digest_statuses(rabbit) == [DigestStatus.SENT],
            what="the digest recorded sent",
        )
        rabbit.app.send_task(PLAN_DIGESTS)  # a second tick in the same period plans nothing
        rabbit.wait_until(
            lambda: events.names("task-succeeded")[PLAN_DIGESTS] >= 2,
            what="both plan_digests runs finished",
        )
        rabbit.wait_until(
            lambda: events.names("task-succeeded")[SEND_DIGEST] >= 1, what="send_digest done"
        )
    assert _digest_statuses(rabbit) == [DigestStatus.SENT]
    assert [list(r.rcpt_tos) for r in rabbit.received()] == [["daily@example.net"]]
    assert str(message["Subject"]).endswith(": 2 items")
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "First Mexico report" in text and "Second Mexico report" in text
    with rabbit.session() as session:
        rows = dict(
            session.execute(
                select(Delivery.item_id, Delivery.status).where(Delivery.digest_id.is_not(None))
            ).all()
        )
    assert rows == dict.fromkeys(items, DeliveryStatus.SENT)


def _digest_statuses(stack: Stack) -> list[str]:
    with stack.session() as session:
        return list(session.scalars(select(Digest.status)))


def _status(stack: Stack) -> dict[str, Any]:
    env = {k: v for k, v in stack.env.items() if k.startswith("ALERTS_")}
    result = runner.invoke(cli, ["status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def test_status_shows_the_messages_waiting_in_each_queue(rabbit: Stack) -> None:
    expected = _population(rabbit, "s", 10)
    rabbit.stop_worker()
    try:
        # What the stopped worker held unacknowledged went back to the queues: start
        # from empty ones, so every message counted below is one this test sent.
        rabbit.app.control.purge()
        with rabbit.session() as session:
            first = published_item(session, title="Queued while stopped", countries=["MX"])
            second = published_item(session, title="Also queued", countries=["MX"])
            session.commit()  # two fan-outs wait in the urgent queue
        rabbit.app.send_task(SEND_DIGEST, args=[10**9], queue=BULK)  # no such digest
        rabbit.app.send_task(SWEEP)
        stopped = _status(rabbit)
    finally:
        rabbit.start_worker()
    assert stopped["broker"] == {"url": "amqp://***@" + _host_and_vhost(rabbit), "reachable": True}
    assert stopped["queues"] == {"urgent": 2, "bulk": 1, "periodic": 1}
    assert stopped["workers"] == {}  # nobody answers the broadcast

    for item_id in (first, second):
        assert rabbit.wait_for_item(item_id) == {DeliveryStatus.SENT: len(expected)}
    rabbit.wait_until(lambda: _status(rabbit)["queues"]["bulk"] == 0, what="the bulk queue drained")
    drained = _status(rabbit)
    assert drained["queues"]["urgent"] == 0
    assert drained["deliveries_last_hour"]["sent"] == 2 * len(expected)
    workers = drained["workers"]
    assert workers and all(q == ["bulk", "periodic", "urgent"] for q in workers.values())


def test_queue_depths_when_some_queues_were_never_declared(tmp_path: Path) -> None:
    # A fresh vhost where only `periodic` exists (no worker has declared the others):
    # RabbitMQ answers the passive declares of the others with a channel error (404),
    # which must not spoil the answer for the queue after them.
    with vhost() as url:
        settings = load_settings(data_dir=tmp_path, broker_url=url, secret_key=SECRET)
        app = create_celery(settings)
        try:
            with app.connection_for_write() as connection:
                app.amqp.queues[PERIODIC].bind(connection.default_channel).declare()
            app.send_task(SWEEP)
            app.send_task(SWEEP)
            assert queue_depths(app) == {"urgent": 0, "bulk": 0, "periodic": 2}
        finally:
            app.runtime.dispose()


def test_a_message_the_broker_refuses_is_an_error_not_silence(tmp_path: Path) -> None:
    # With publisher confirms, send_task waits for RabbitMQ's answer; without them this
    # returned as if sent, and the message was gone (the refusal came later, to nobody).
    with vhost() as url:
        app = create_celery(load_settings(data_dir=tmp_path, broker_url=url, secret_key=SECRET))
        try:
            with pytest.raises(NotFound, match="no exchange 'nowhere'"):
                app.send_task(SWEEP, exchange="nowhere", routing_key=PERIODIC)
        finally:
            app.runtime.dispose()


def _host_and_vhost(stack: Stack) -> str:
    return stack.settings.broker_url.split("@", 1)[1]


def test_rabbitmq_restarted_mid_send_loses_nothing(rabbit: Stack) -> None:
    size = 200
    expected = _population(rabbit, "r", size)
    _sink(rabbit).delay = 0.02
    with rabbit.session() as session:
        item_id = published_item(session, countries=["MX"])
        session.commit()
    rabbit.wait_until(lambda: len(rabbit.received()) >= 30, what="sending under way")
    before = len(rabbit.received())
    restart_app(rabbit.settings.broker_url)
    with rabbit.session() as session:
        after = published_item(session, title="Published after the restart", countries=["US"])
        journalist(session, "us-reader@example.net", (["US"], []))
        session.info.clear()  # its fan-out is sent by hand below, where an error shows
        session.commit()
    # Sent from this process, as the web app or the CLI would, over a producer pool
    # whose connections the restart closed: the publish reconnects (or this raises).
    rabbit.app.enqueue_fan_out(after)

    assert rabbit.wait_for_item(item_id, timeout=120) == {DeliveryStatus.SENT: size}
    assert rabbit.wait_for_item(after, timeout=60) == {DeliveryStatus.SENT: 1}
    expected |= {"us-reader@example.net"}
    copies = _copies(rabbit)
    delivered = sum(1 for e in expected if copies.get(e))
    duplicated = sum(len(ids) - 1 for ids in copies.values())
    row = Row(
        "RabbitMQ stopped 3 s mid-send (stop_app, start_app), an item published after",
        len(expected),
        delivered,
        duplicated,
        len(expected) - delivered,
        f"{before} sent before the stop; the batches running through it were redelivered",
    )
    _write_report(row)
    assert set(copies) == expected
    # One distinct message each: a duplicate could only repeat the same Message-ID.
    assert all(len(set(ids)) == 1 for ids in copies.values()), copies
    assert row.lost == 0
    assert row.duplicated == 0


def _write_report(row: Row) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        "| case | expected | delivered | duplicated | lost | note |\n"
        "|---|---|---|---|---|---|\n"
        f"| {row.case} | {row.expected} | {row.delivered} | {row.duplicated} | {row.lost} "
        f"| {row.note} |\n"
    )
