"""Proven across machines: fault cases on a bed of network namespaces (tests/multihost/bed.py).

A data host (its own PostgreSQL and Redis), three worker hosts each running
``alerts worker --beat``, and a relay host. Each case publishes to a population
and counts, by Message-ID, what the relay accepted per recipient: delivered,
duplicated, lost. The table goes to build/test-artifacts/multi-host-report.md.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from alerts.core.migrate import upgrade
from alerts.core.models import (
    Base,
    Delivery,
    DeliveryStatus,
    Duty,
    DutyRun,
    FanOut,
    Item,
    ItemStatus,
    RelayBreaker,
    utcnow,
)
from alerts.core.settings import load_settings
from alerts.items.drafts import ItemDraft, create_item
from alerts.items.lifecycle import schedule
from alerts.worker.app import AlertsCelery, create_celery
from tests.factories import TAXONOMY, journalist, published_item
from tests.multihost.bed import SECRET, Bed, BedUnavailable, probe

REPORT = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "multi-host-report.md"
POPULATION = 150
LEASE = 10  # seconds: the smallest the settings allow
CUT = 15  # seconds: case 2's partition, longer than the lease
SETTINGS = {
    "ALERTS_BATCH_SIZE": "10",
    "ALERTS_LEASE_SECONDS": str(LEASE),
    "ALERTS_REQUEUE_AFTER_SECONDS": "6",
    "ALERTS_SWEEP_INTERVAL_SECONDS": "1",
    "ALERTS_SCHEDULE_POLL_SECONDS": "1",
    "ALERTS_RETRY_BASE_SECONDS": "1",
    "ALERTS_RETRY_MAX_SECONDS": "2",
    "ALERTS_BREAKER_COOLDOWN_SECONDS": "2",
    "ALERTS_BREAKER_MAX_COOLDOWN_SECONDS": "4",
    "ALERTS_SMTP_TIMEOUT_SECONDS": "1.5",
}
RELAY_DELAY = 0.08  # seconds per message: a batch of ten is in flight for about a second


@dataclass
class Row:
    case: str
    expected: int
    delivered: int
    duplicated: int
    lost: int
    note: str = ""


RESULTS: dict[int, Row] = {}


@dataclass
class World:
    bed: Bed
    app: AlertsCelery

    def session(self) -> Session:
        return self.app.runtime.sessions()

    def reset(self) -> None:
        """Every table emptied, the relay's notes too; every host healed and running."""
        bed = self.bed
        for name in bed.worker_names:
            bed.heal(name)
        engine = self.app.runtime.engine
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
        for attempt in range(5):
            try:
                with engine.begin() as conn:
                    conn.execute(text("SET lock_timeout = '5s'"))
                    for table in tables:
                        conn.execute(text(f"DELETE FROM {table}"))
                break
            except OperationalError:
                if attempt == 4:
                    raise
                time.sleep(0.5)
        bed.clear_accepted()
        bed.relay_delay(RELAY_DELAY)

    def population(self, prefix: str, size: int = POPULATION) -> set[str]:
        emails = {f"{prefix}{n:03d}@example.net" for n in range(size)}
        with self.session() as session:
            for email in sorted(emails):
                journalist(session, email, (["MX"], []))
            session.commit()
        return emails

    def publish(self, title: str) -> int:
        with self.session() as session:
            item_id = published_item(session, title=title, countries=["MX"])
            session.commit()
        return item_id

    def counts(self, item_id: int) -> dict[str, int]:
        with self.session() as session:
            return dict(
                session.execute(
                    select(Delivery.status, func.count())
                    .where(Delivery.item_id == item_id)
                    .group_by(Delivery.status)
                ).all()
            )

    def settle(self, item_id: int, timeout: float = 120) -> dict[str, int]:
        """Until the item is fanned out and none of its rows is pending or sending."""
        deadline = time.monotonic() + timeout
        while True:
            with self.session() as session:
                fanned = session.get(FanOut, item_id) is not None
            counts = self.counts(item_id)
            busy = counts.get(DeliveryStatus.PENDING) or counts.get(DeliveryStatus.SENDING)
            if fanned and not busy:
                return counts
            if time.monotonic() > deadline:
                logs = "\n".join(self.bed.worker_log(n)[-1500:] for n in self.bed.worker_names)
                raise AssertionError(f"item {item_id} not settled in {timeout}s: {counts}\n{logs}")
            time.sleep(0.2)

    def wait_accepted_from(self, host: str, count: int, timeout: float = 60) -> None:
        """Until the relay has accepted ``count`` messages from ``host``: it is mid-batch."""
        addr = self.bed.hosts[host].addr
        wait_for(
            lambda: sum(1 for a in self.bed.accepted() if a["peer"] == addr) >= count,
            timeout,
            f"{count} messages from {host}",
        )

    def copies(self) -> dict[str, list[dict[str, object]]]:
        found: dict[str, list[dict[str, object]]] = {}
        for accepted in self.bed.accepted():
            found.setdefault(str(accepted["rcpt"]), []).append(accepted)
        return found

    def tally(self, number: int, case: str, expected: set[str], note: str = "") -> Row:
        copies = self.copies()
        delivered = sum(1 for e in expected if copies.get(e))
        duplicated = sum(len(copies[e]) - 1 for e in expected if copies.get(e))
        row = Row(case, len(expected), delivered, duplicated, len(expected) - delivered, note)
        RESULTS[number] = row
        # A copy of a message is the same message: one Message-ID per recipient.
        assert all(len({c["mid"] for c in copies.get(e, [])}) <= 1 for e in expected), row
        assert not set(copies) - expected, set(copies) - expected
        return row

    def host_name(self, addr: object) -> str:
        return next((h.name for h in self.bed.hosts.values() if h.addr == addr), str(addr))


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    try:
        probe()
    except BedUnavailable as exc:
        pytest.skip(f"multi-host bed unavailable: {exc}")
    bed = Bed(workers=3, env=SETTINGS)
    try:
        bed.start()
        upgrade(bed.database_url())
        bed.relay_delay(RELAY_DELAY)
        bed.start_workers()
        settings = load_settings(
            database_url=bed.database_url(),
            broker_url=bed.broker_url(),
            smtp_url=bed.smtp_url,
            secret_key=SECRET,
            data_dir=bed.dir / "root",
            lease_seconds=LEASE,
        )
        app = create_celery(settings)
        try:
            yield World(bed, app)
        finally:
            app.runtime.dispose()
    finally:
        bed.close()
        _write_report()


@pytest.fixture
def w(world: World) -> World:
    world.reset()
    return world


def _write_report() -> None:
    if not RESULTS:
        return
    lines = [
        "# Multi-host fault cases",
        "",
        "Three worker hosts, a data host (PostgreSQL, Redis) and a relay host, each its own",
        f"network namespace; lease {LEASE} s, sweep every 1 s; counts by Message-ID at the relay.",
        "",
        "| case | expected | delivered | duplicated | lost | note |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.case} | {r.expected} | {r.delivered} | {r.duplicated} | {r.lost} | {r.note} |"
        for _, r in sorted(RESULTS.items())
    ]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")


def test_1_partition_from_data_shorter_than_the_lease(w: World) -> None:
    expected = w.population("a")
    item_id = w.publish("Short partition")
    w.wait_accepted_from("w1", 2)
    w.bed.partition("w1", "data")
    time.sleep(4)
    w.bed.heal("w1")
    assert w.settle(item_id) == {DeliveryStatus.SENT: POPULATION}
    row = w.tally(
        1,
        "1. w1 cut off from the data host for 4 s (lease 10 s)",
        expected,
        "w1 recorded its batch once the network healed, within the lease",
    )
    assert row.lost == 0
    assert row.duplicated == 0


def test_2_partition_from_data_longer_than_the_lease(w: World) -> None:
    expected = w.population("b")
    item_id = w.publish("Long partition")
    w.wait_accepted_from("w1", 2)
    start = time.time()
    w.bed.partition("w1", "data")
    time.sleep(CUT)
    end = time.time()
    w.bed.heal("w1")
    assert w.settle(item_id) == {DeliveryStatus.SENT: POPULATION}
    copies = w.copies()
    twice = {e: c for e, c in copies.items() if len(c) > 1}
    # Only what the cut-off host's batch in flight sent comes twice: a message the relay
    # took from w1 during the cut, or just before it and not yet recorded. That batch
    # began at most 0.8 lease before the cut (a batch stops sending by then).
    w1 = w.bed.hosts["w1"].addr
    in_flight = start - 0.8 * LEASE
    for email, got in twice.items():
        first = got[0]
        assert first["peer"] == w1 and in_flight <= float(str(first["t"])) <= end, (email, got)
        assert all(c["peer"] != w1 for c in got[1:]), (email, got)
    during = sum(1 for c in copies.values() if c[0]["peer"] == w1 and start <= _t(c[0]) <= end)
    before = sum(1 for c in twice.values() if _t(c[0]) < start)
    row = w.tally(
        2,
        f"2. w1 cut off from the data host for {CUT} s (lease {LEASE} s)",
        expected,
        f"the relay took {during} from w1 during the cut; {len(twice)} sent again by "
        f"w2/w3 after the lease, same Message-ID ({before} of them taken just before "
        "the cut, not yet recorded)",
    )
    assert row.lost == 0


def _t(accepted: dict[str, object]) -> float:
    return float(str(accepted["t"]))


def test_3_worker_host_lost_for_good(w: World) -> None:
    expected = w.population("c")
    item_id = w.publish("Lost host")
    w.wait_accepted_from("w3", 2)
    lost_at = time.time()
    w.bed.link("w3", up=False)
    frozen = w.bed.freeze("w3")
    try:
        assert w.settle(item_id) == {DeliveryStatus.SENT: POPULATION}
    finally:
        w.bed.stop_processes("w3")
        w.bed.link("w3", up=True)
        w.bed.start_worker("w3")
    copies = w.copies()
    w3 = w.bed.hosts["w3"].addr
    after = [c for c in copies.values() if any(float(str(a["t"])) > lost_at for a in c)]
    finished_by_others = sum(1 for c in after if all(a["peer"] != w3 for a in c))
    twice = sum(1 for c in copies.values() if len(c) > 1)
    # A copy sent twice was first taken from w3 as it went (the relay notes a message
    # after its own per-message delay, so up to a moment after the link went down),
    # then by another host.
    for got in (c for c in copies.values() if len(c) > 1):
        assert got[0]["peer"] == w3 and _t(got[0]) <= lost_at + 1, got
        assert all(a["peer"] != w3 for a in got[1:]), got
    row = w.tally(
        3,
        "3. w3 lost mid-batch (link down, processes frozen)",
        expected,
        f"{len(frozen)} processes frozen; {finished_by_others} finished by w1/w2 after the loss; "
        f"{twice} sent twice (the relay had taken them from w3 as it was lost)",
    )
    assert row.lost == 0


def test_5_beat_leaders_host_partitioned(w: World) -> None:
    expected = w.population("e", 20)
    wait_for(lambda: _last_host(w, "publish_due") is not None, 30, "a publish_due tick")
    leader_label = _last_host(w, "publish_due")
    leader = _host_of_label(w, str(leader_label))
    partitioned_at = utcnow()
    w.bed.partition(leader, "data")
    try:
        with w.session() as session:
            draft = ItemDraft.model_validate(
                {
                    "title": "Scheduled",
                    "summary": "A summary.",
                    "url": "https://ngo.example/s",
                    "countries": ["MX"],
                }
            )
            item = create_item(session, TAXONOMY, draft)
            schedule(item, utcnow() + timedelta(seconds=3), utcnow())
            session.commit()
            item_id = item.id
        assert w.settle(item_id, timeout=60) == {DeliveryStatus.SENT: 20}
        with w.session() as session:
            runners = set(
                session.scalars(
                    select(DutyRun.host).where(
                        DutyRun.duty == "publish_due", DutyRun.started_at > partitioned_at
                    )
                )
            )
    finally:
        w.bed.heal(leader)
    # Healed, its beat's late messages must not publish it again.
    time.sleep(3)
    with w.session() as session:
        fan_out = session.get(FanOut, item_id)
        status = session.scalar(select(Item.status).where(Item.id == item_id))
    assert fan_out is not None and fan_out.runs == 1
    assert status == ItemStatus.PUBLISHED
    took_over = sorted({_host_of_label(w, h) for h in runners} - {leader})
    assert took_over, runners
    row = w.tally(
        5,
        f"5. beat leader's host ({leader}) cut off from the data host",
        expected,
        f"publish_due taken over by {', '.join(took_over)}; fan-out ran once",
    )
    assert row.lost == 0 and row.duplicated == 0


def _last_host(w: World, duty: str) -> str | None:
    with w.session() as session:
        host = session.scalar(select(Duty.last_host).where(Duty.name == duty))
        return None if host is None else str(host)


def _host_of_label(w: World, label: str) -> str:
    """A worker's node name is alerts-PID@machine: the PID says which namespace."""
    match = re.match(r"alerts-(\d+)@", label)
    assert match, label
    host = w.bed.host_of_pid(int(match.group(1)))
    assert host is not None, label
    return host


def test_6_relay_unreachable_from_one_worker_host(w: World) -> None:
    expected = w.population("f")
    w.bed.partition("w1", "relay")
    opened: list[str] = []
    stop = threading.Event()

    def watch_breaker() -> None:
        while not stop.is_set():
            with w.session() as session:
                rows = session.execute(select(RelayBreaker.relay, RelayBreaker.open_until)).all()
            opened.extend(relay for relay, until in rows if until is not None and until > utcnow())
            time.sleep(0.1)

    watcher = threading.Thread(target=watch_breaker, daemon=True)
    watcher.start()
    try:
        item_id = w.publish("Relay cut off from one host")
        assert w.settle(item_id) == {DeliveryStatus.SENT: POPULATION}
    finally:
        stop.set()
        watcher.join(timeout=5)
        w.bed.heal("w1")
    copies = w.copies()
    by_host: dict[str, int] = {}
    for got in copies.values():
        name = w.host_name(got[0]["peer"])
        by_host[name] = by_host.get(name, 0) + 1
    with w.session() as session:
        handed_back = session.scalar(
            select(func.count()).where(Delivery.item_id == item_id, Delivery.attempts > 1)
        )
    row = w.tally(
        6,
        "6. relay unreachable from w1 only",
        expected,
        f"sent by {dict(sorted(by_host.items()))}; {handed_back} rows tried more than once; "
        f"breaker rows seen open: {sorted(set(opened)) or 'none'}",
    )
    assert "w1" not in by_host
    assert row.lost == 0 and row.duplicated == 0
    # One host's trouble with the relay is that host's: no one else pauses for it.
    assert {r.rsplit(" via ", 1)[-1] for r in opened} <= {"w1"}, sorted(set(opened))


def test_4_delay_and_loss_between_workers_and_data(w: World) -> None:
    """Last: the workers are restarted behind the delaying proxy."""
    bed = w.bed
    for name in bed.worker_names:
        bed.stop_processes(name)
    bed.start_delay_proxy()
    # Batches nearer a deployment's (500): over a slow link a batch costs its round
    # trips to the database (claim, record), whatever its size.
    bed.start_workers(proxied=True, extra={"ALERTS_BATCH_SIZE": "25"})
    # Started on a fast line, then slowed: a worker's start-up is not the case.
    bed.line_delay(0.2)
    for name in bed.worker_names:
        bed.lossy(name, "data", 5)
    time.sleep(1)  # the proxy has read the new delay
    size = 100
    expected = w.population("d", size)
    bed.relay_delay(0)
    started = time.monotonic()
    item_id = w.publish("Slow and lossy")
    assert w.settle(item_id, timeout=150) == {DeliveryStatus.SENT: size}
    seconds = time.monotonic() - started
    times = sorted(_t(a) for a in bed.accepted())
    sending = times[-1] - times[0]
    row = w.tally(
        4,
        "4. 200 ms each way and 5 % loss between workers and the data host",
        expected,
        f"{size / seconds:.1f} messages/s from publish to the last recorded "
        f"({seconds:.1f} s for {size}, batches of 25); {size / max(sending, 0.001):.1f}/s "
        f"between the relay's first and last message ({sending:.1f} s)",
    )
    assert row.lost == 0 and row.duplicated == 0
