"""Fault injection: every alert reaches every matching journalist once, whatever breaks.

Real Celery workers (with the beat running the sweep), PostgreSQL and Redis, and
an SMTP relay this module controls. After each case: every expected journalist
has exactly one distinct message (by Message-ID) in the sink; none is lost.
A table of the cases is written to build/test-artifacts/fault-report.md.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from alerts.core.models import Delivery, DeliveryStatus, Journalist, Suppression, utcnow
from tests.conftest import PG_ADMIN_URL, PG_HOST, ScriptedSink, Stack, build_stack
from tests.factories import fan_out, journalist, published_item

POPULATION = 200
REPORT = Path(__file__).resolve().parent.parent / "build" / "test-artifacts" / "fault-report.md"
FAULT_REDIS = os.environ.get("ALERTS_TEST_FAULT_REDIS_URL", "redis://127.0.0.1:6379/13")


class FaultSink(ScriptedSink):
    """The relay, misbehaving on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.temporary: dict[str, int] = {}  # address → 451s still to answer
        self.drop_every = 0  # drop the connection instead of answering every Nth DATA
        self.delay = 0.0  # seconds per message, to catch a batch mid-way
        self._datas = 0

    def clear(self) -> None:
        super().clear()
        self.temporary, self.drop_every, self.delay, self._datas = {}, 0, 0.0, 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        left = self.temporary.get(address.lower(), 0)
        if left > 0:
            self.temporary[address.lower()] = left - 1
            return "451 4.3.0 temporary failure, try again later"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)  # type: ignore[no-untyped-call]

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if self.delay:
            await asyncio.sleep(self.delay)
        with self._lock:
            self._datas += 1
            drop = self.drop_every and self._datas % self.drop_every == 0
        if drop:
            server.transport.abort()  # gone mid-transaction: nothing was accepted
            return "421 4.4.2 connection dropped"
        return await super().handle_DATA(server, session, envelope)


def _sink(stack: Stack) -> FaultSink:
    assert isinstance(stack.sink, FaultSink)
    return stack.sink


@dataclass
class Row:
    case: str
    expected: int
    delivered: int
    duplicated: int
    lost: int
    note: str = ""


RESULTS: list[Row] = []


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    name = f"alerts_faults_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    redis.Redis.from_url(FAULT_REDIS).flushdb()
    env = {
        "ALERTS_DATABASE_URL": f"postgresql+psycopg://{PG_HOST}/{name}",
        "ALERTS_BROKER_URL": FAULT_REDIS,
        "ALERTS_BATCH_SIZE": "20",
        "ALERTS_RETRY_BASE_SECONDS": "1",
        "ALERTS_RETRY_MAX_SECONDS": "2",
        "ALERTS_BREAKER_COOLDOWN_SECONDS": "1",
        "ALERTS_BREAKER_MAX_COOLDOWN_SECONDS": "3",
        "ALERTS_SWEEP_INTERVAL_SECONDS": "1",
        "ALERTS_LEASE_SECONDS": "10",
        "ALERTS_REQUEUE_AFTER_SECONDS": "6",
        "ALERTS_SMTP_TIMEOUT_SECONDS": "5",
    }
    data_dir = tmp_path_factory.mktemp("faults")
    try:
        with build_stack("faults", data_dir, FaultSink(), env, ("--beat",)) as stack:
            yield stack
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _write_report()


def _write_report() -> None:
    if not RESULTS:
        return
    lines = [
        "| case | expected | delivered | duplicated | lost | note |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.case} | {r.expected} | {r.delivered} | {r.duplicated} | {r.lost} | {r.note} |"
        for r in RESULTS
    ]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")


@pytest.fixture
def fault(faults: Stack) -> Stack:
    faults.reset()
    return faults


def _population(stack: Stack, prefix: str) -> set[str]:
    emails = {f"{prefix}{n:03d}@example.net" for n in range(POPULATION)}
    with stack.session() as session:
        for email in sorted(emails):
            journalist(session, email, (["MX"], []))
        session.commit()
    return emails


def _settle(stack: Stack, item_id: int, timeout: float = 120) -> dict[str, int]:
    return stack.wait_for_item(item_id, timeout=timeout)


def _tally(stack: Stack, case: str, expected: set[str], note: str = "") -> Row:
    """Distinct messages (by Message-ID) per expected journalist, from the sink."""
    copies: dict[str, list[str]] = {}
    for received in stack.received():
        message_id = str(received.parsed()["Message-ID"])
        for rcpt in received.rcpt_tos:
            copies.setdefault(rcpt, []).append(message_id)
    delivered = sum(1 for e in expected if copies.get(e))
    duplicated = sum(len(copies.get(e, [])) - 1 for e in expected if copies.get(e))
    row = Row(case, len(expected), delivered, duplicated, len(expected) - delivered, note)
    RESULTS.append(row)
    # Exactly one distinct message each: a duplicate could only repeat the same Message-ID.
    assert all(len(set(copies.get(e, []))) == 1 for e in expected), row
    assert not set(copies) - expected, set(copies) - expected
    return row


def test_1_temporary_failures_then_accepted(fault: Stack) -> None:
    expected = _population(fault, "t")
    greylisted = sorted(expected)[:50]
    _sink(fault).temporary = dict.fromkeys(greylisted, 2)
    with fault.session() as session:
        item_id = published_item(session, countries=["MX"])
        session.commit()
    assert _settle(fault, item_id) == {DeliveryStatus.SENT: POPULATION}
    row = _tally(fault, "1. relay answers 451 to the first attempts", expected)
    assert row.duplicated == 0
    with fault.session() as session:
        attempts = dict(
            session.execute(
                select(Delivery.attempts, func.count())
                .where(Delivery.item_id == item_id)
                .group_by(Delivery.attempts)
            ).all()
        )
    assert attempts == {1: POPULATION - 50, 3: 50}


def test_2_no_such_user_fails_and_suppresses(fault: Stack) -> None:
    expected = _population(fault, "u")
    gone = set(sorted(expected)[:20])
    _sink(fault).rcpt_replies = {e: "550 5.1.1 no such user" for e in gone}
    with fault.session() as session:
        item_id = published_item(session, countries=["MX"])
        session.commit()
    counts = _settle(fault, item_id)
    assert counts == {DeliveryStatus.SENT: POPULATION - 20, DeliveryStatus.FAILED: 20}
    _tally(
        fault,
        "2. 550 5.1.1 for 20 recipients",
        expected - gone,
        "the 20 failed once, suppressed, no retries",
    )
    with fault.session() as session:
        suppressed = set(session.scalars(select(Suppression.email)))
        retried = session.scalar(
            select(func.count()).where(Delivery.item_id == item_id, Delivery.attempts > 1)
        )
    assert suppressed == gone and retried == 0


def test_3_connection_dropped_mid_batch(fault: Stack) -> None:
    expected = _population(fault, "d")
    _sink(fault).drop_every = 37
    with fault.session() as session:
        item_id = published_item(session, countries=["MX"])
        session.commit()
    assert _settle(fault, item_id) == {DeliveryStatus.SENT: POPULATION}
    row = _tally(fault, "3. connection dropped every 37th message", expected)
    assert row.lost == 0


def test_4_relay_down_then_back_without_hammering(fault: Stack) -> None:
    expected = _population(fault, "r")
    port = fault.controller.port
    fault.controller.stop()
    try:
        with fault.session() as session:
            item_id = published_item(session, countries=["MX"])
            session.commit()
        time.sleep(8)
        with fault.session() as session:
            tries = (
                session.scalar(
                    select(func.sum(Delivery.attempts)).where(Delivery.item_id == item_id)
                )
                or 0
            )
            unsent = session.scalar(
                select(func.count()).where(
                    Delivery.item_id == item_id, Delivery.status != DeliveryStatus.SENT
                )
            )
    finally:
        fault.controller = Controller(fault.sink, hostname="127.0.0.1", port=port, ready_timeout=10)
        fault.controller.start()
    assert unsent == POPULATION
    # Without the breaker every one of the 200 rows would have been tried, and
    # tried again every second or two; with it, a handful of tries per pause.
    assert tries < 40, tries
    assert _settle(fault, item_id) == {DeliveryStatus.SENT: POPULATION}
    _tally(
        fault,
        "4. relay down 8 s, then back",
        expected,
        f"{tries} connection tries in total while down",
    )


def test_5_worker_killed_mid_batch(fault: Stack) -> None:
    expected = _population(fault, "k")
    _sink(fault).delay = 0.02
    with fault.session() as session:
        item_id = published_item(session, countries=["MX"])
        session.commit()
    fault.wait_until(lambda: len(fault.received()) >= 40, what="sending under way")
    os.killpg(fault.worker.pid, signal.SIGKILL)
    fault.worker.wait()
    with fault.session() as session:
        stuck = session.scalar(
            select(func.count()).where(
                Delivery.item_id == item_id, Delivery.status == DeliveryStatus.SENDING
            )
        )
    fault.start_worker()
    assert _settle(fault, item_id) == {DeliveryStatus.SENT: POPULATION}
    row = _tally(
        fault,
        "5. worker SIGKILLed mid-batch",
        expected,
        f"{stuck} rows were mid-send; any duplicate repeats its Message-ID",
    )
    assert row.lost == 0


def test_6_broker_flushed_while_work_is_queued(fault: Stack) -> None:
    expected = _population(fault, "f")
    fault.stop_worker()
    try:
        with fault.session() as session:
            published = published_item(session, title="Fan-out lost", countries=["MX"])
            session.commit()  # its fan-out message now waits in Redis
        with fault.session() as session:
            queued = published_item(session, title="Batches lost", countries=["US"])
            session.info.clear()  # fanned out by hand below, batches queued
            session.commit()
        with fault.session() as session:
            journalist(session, "us-reader@example.net", (["US"], []))
            session.commit()
            ids = fan_out(session, queued, utcnow())
            session.commit()
        fault.app.enqueue_batch(ids)
        redis.Redis.from_url(FAULT_REDIS).flushdb()  # every queued message is gone
    finally:
        fault.start_worker()
    assert _settle(fault, published, timeout=60) == {DeliveryStatus.SENT: POPULATION}
    assert _settle(fault, queued, timeout=60) == {DeliveryStatus.SENT: 1}
    _tally(
        fault,
        "6. Redis flushed with a fan-out and a batch queued",
        expected | {"us-reader@example.net"},
        "the sweep re-created both",
    )


def _pg_restart() -> None:
    versions = sorted(os.listdir("/etc/postgresql"))
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"],
        check=True,
        timeout=60,
    )


def test_7_postgres_restarted_mid_run(fault: Stack) -> None:
    expected = _population(fault, "p")
    _sink(fault).delay = 0.02
    with fault.session() as session:
        item_id = published_item(session, countries=["MX"])
        session.commit()
    fault.wait_until(lambda: len(fault.received()) >= 30, what="sending under way")
    _pg_restart()
    fault.app.runtime.engine.dispose()  # this process's own pool held dead connections
    assert _settle(fault, item_id, timeout=120) == {DeliveryStatus.SENT: POPULATION}
    row = _tally(fault, "7. PostgreSQL restarted mid-run", expected)
    assert row.lost == 0


def test_8_bounces_and_complaints_stop_further_alerts(fault: Stack, tmp_path: Path) -> None:
    from alerts.bounces.server import make_handler, start_bounce_server
    from alerts.dev.sink import free_port
    from tests.test_bounces import BounceServer, Sent, _arf_for, _dsn_for

    expected = _population(fault, "b")
    with fault.session() as session:
        first = published_item(session, title="First", countries=["MX"])
        session.commit()
    assert _settle(fault, first) == {DeliveryStatus.SENT: POPULATION}
    with fault.session() as session:
        rows = session.execute(
            select(Journalist.email, Delivery.id, Delivery.message_id)
            .join(Journalist, Journalist.id == Delivery.journalist_id)
            .where(Delivery.item_id == first)
        ).all()
    stored = {str(e): (int(d), str(m)) for e, d, m in rows}
    sent = {}
    for received in fault.received():
        [to] = received.rcpt_tos
        head = received.data.decode().replace("\r\n", "\n").split("\n\n", 1)[0]
        sent[to] = Sent(to, *stored[to], head, received.mail_from)
    bounced, complained = sorted(expected)[:10], sorted(expected)[10:20]
    handler = make_handler(fault.app.runtime, ["fbl"], tmp_path / "unprocessed")
    controller = start_bounce_server(handler, "127.0.0.1", free_port())
    try:
        server = BounceServer(
            handler, controller.port, tmp_path / "unprocessed", fault.settings.from_domain
        )
        for email in bounced:
            verp = sent[email].return_path
            assert server.send(verp, _dsn_for(sent[email], verp))[0] == 250
        for email in complained:
            assert server.send(f"fbl@{server.domain}", _arf_for(sent[email]))[0] == 250
    finally:
        controller.stop()
        handler.close()
    with fault.session() as session:
        suppressed = set(session.scalars(select(Suppression.email)))
    assert suppressed == set(bounced) | set(complained)

    _sink(fault).clear()
    with fault.session() as session:
        second = published_item(session, title="Second", countries=["MX"])
        session.commit()
    assert _settle(fault, second) == {DeliveryStatus.SENT: POPULATION - 20}
    _tally(
        fault,
        "8. DSNs for 10 and ARF complaints for 10, then a second alert",
        expected - set(bounced) - set(complained),
        "the 20 were suppressed and got nothing more",
    )
