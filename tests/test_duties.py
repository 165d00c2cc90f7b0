"""Periodic duties: seen when they stop, and run once per tick by any of several beats.

A worker with no beat leaves retries waiting forever; this shows it is no longer
silent (the worker's first lines, `alerts status --json`, /readyz, /metrics).
Then two `alerts worker --beat` processes share the duties: each tick of each
duty runs once, and when the worker that ran the last tick is killed the other
carries on, publishing a scheduled item and lifting an embargo exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from alerts.core.models import Delivery, DeliveryStatus, DutyRun, Item, utcnow
from alerts.items.drafts import ItemDraft, create_item
from alerts.items.embargoes import embargo
from alerts.items.lifecycle import schedule
from alerts.ops.duties import NO_BEAT
from alerts.web import create_app
from alerts.web.ratelimit import SignUpLimits
from tests.conftest import PG_ADMIN_URL, PG_HOST, ScriptedSink, Stack, _start_worker, build_stack
from tests.factories import TAXONOMY, journalist, published_item

READERS = [f"reader{i}@example.org" for i in range(4)]
INTERVALS = {
    # Short ticks so the test sees many of them; every duty's interval is a setting.
    "ALERTS_SWEEP_INTERVAL_SECONDS": "1",
    "ALERTS_SCHEDULE_POLL_SECONDS": "1",
    "ALERTS_DIGEST_POLL_SECONDS": "1",
    "ALERTS_FEED_POLL_SECONDS": "2",
    "ALERTS_RETENTION_INTERVAL_SECONDS": "2",
}


@pytest.fixture
def duty_stack(tmp_path: Path) -> Iterator[Stack]:
    """PostgreSQL of its own and the embedded broker in its own folder: nobody else's worker."""
    name = f"alerts_duties_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env = INTERVALS | {"ALERTS_DATABASE_URL": f"postgresql+psycopg://{PG_HOST}/{name}"}
    try:
        with build_stack("duties", tmp_path, ScriptedSink(), env) as stack:
            yield stack
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _status_json(stack: Stack) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "alerts", "status", "--json"],
        env=os.environ | stack.env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=True,
    )
    return dict(json.loads(out.stdout))


def _duty(status: dict[str, object], name: str) -> dict[str, object]:
    [entry] = [d for d in status["duties"] if d["name"] == name]  # type: ignore[attr-defined]
    return dict(entry)


def _runs(stack: Stack, duty: str) -> list[DutyRun]:
    with stack.session() as session:
        return list(
            session.scalars(
                select(DutyRun)
                .where(DutyRun.duty == duty, DutyRun.tick.is_not(None))
                .order_by(DutyRun.tick)
            )
        )


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_no_beat_is_seen_then_two_beats_share_the_duties(duty_stack: Stack) -> None:
    stack = duty_stack
    assert NO_BEAT in stack.log_path.read_text(), stack.worker_log()

    # A relay answering 451 to everyone: the rows go back to pending, to wait for a sweep.
    for reader in READERS:
        stack.sink.rcpt_replies[reader] = "451 4.7.1 Try again later"
    with stack.session() as session, session.begin():
        for reader in READERS:
            journalist(session, reader, ([], []))
        item_id = published_item(session, title="Retried by the sweep")

    def waiting() -> bool:
        with stack.session() as session:
            return session.scalar(
                select(func.count()).where(
                    Delivery.item_id == item_id,
                    Delivery.status == DeliveryStatus.PENDING,
                    Delivery.attempts >= 1,
                )
            ) == len(READERS)

    stack.wait_until(waiting, what="all four back to pending after 451")
    _wait(lambda: bool(_duty(_status_json(stack), "sweep")["overdue"]), 30, "sweep overdue")
    sweep = _duty(_status_json(stack), "sweep")
    assert sweep["last_success"] is None and sweep["interval_seconds"] == 1.0

    limits = SignUpLimits("memory://", "100/hour", "1000/hour")
    with TestClient(create_app(stack.app, limits), base_url=stack.settings.base_url) as web:
        ready = web.get("/readyz")
        assert ready.status_code == 503
        duties_check = ready.json()["checks"]["duties"]
        assert not duties_check["ok"] and "sweep" in duties_check["detail"]
        metrics = web.get("/metrics").text
        assert 'alerts_duty_last_success_timestamp_seconds{duty="sweep"} 0.0' in metrics
    assert "duty sweep overdue" in stack.log_path.read_text()  # the worker warns too
    stack.stop_worker()
    stack.sink.rcpt_replies.clear()

    # Two workers, each with a beat, as on two hosts (data folders apart, one database).
    workers = {}
    for n in (1, 2):
        env = stack.env | {"ALERTS_DATA_DIR": str(stack.log_path.parent / f"host{n}")}
        log = stack.log_path.parent / f"host{n}.log"
        workers[n] = (_start_worker(stack.settings, env, log, ("--beat",)), log)
    try:
        started = utcnow()
        _wait(lambda: len(_runs(stack, "sweep")) >= 4, 30, "four sweeps")
        # Both beats send every duty, and still each tick ran once (the (duty, tick) key).
        for _, log in workers.values():
            _wait(lambda log=log: "Sending due task sweep" in log.read_text(), 10, "beats")
        sweeps = _runs(stack, "sweep")
        assert len({run.tick for run in sweeps}) == len(sweeps)
        hosts = {run.host for run in sweeps}

        # Due a few seconds from now, so they come due after the leader is gone.
        with stack.session() as session, session.begin():
            now = utcnow()
            scheduled = create_item(
                session, TAXONOMY, ItemDraft(title="Scheduled", summary="S.", url="https://a.ex/s")
            )
            schedule(scheduled, now + timedelta(seconds=4), now)
            held = create_item(
                session, TAXONOMY, ItemDraft(title="Embargoed", summary="E.", url="https://a.ex/e")
            )
            session.flush()
            embargo(session, held, now + timedelta(seconds=4), now)
            scheduled_id, held_id = scheduled.id, held.id

        leader = _runs(stack, "sweep")[-1].host
        [(victim, _)] = [w for w in workers.values() if f"alerts-{w[0].pid}@" in leader]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        killed = utcnow()

        def taken_over() -> bool:
            return any(r.host != leader and r.started_at > killed for r in _runs(stack, "sweep"))

        # The next tick belongs to the survivor: one interval, plus the broker's polling.
        _wait(taken_over, 15, "the other worker to take over the sweep")
        took = min(
            (r.started_at - killed).total_seconds()
            for r in _runs(stack, "sweep")
            if r.host != leader and r.started_at > killed
        )
        print(f"taken over after {took:.1f} s")
        for subject in ("Scheduled", "Embargoed"):

            def everyone(subject: str = subject) -> bool:
                got = [r for r in stack.received() if r.parsed()["Subject"] == subject]
                return len(got) >= len(READERS)

            _wait(everyone, 60, f"{subject} to reach everyone")
        time.sleep(3)  # a few more ticks: any second publication would show now
        for subject in ("Scheduled", "Embargoed"):
            got = sorted(
                r.rcpt_tos[0] for r in stack.received() if r.parsed()["Subject"] == subject
            )
            assert got == sorted(READERS), (subject, got)
        published = [json.loads(r.result or "null") or [] for r in _runs(stack, "publish_due")]
        for item in (scheduled_id, held_id):
            assert sum(item in ids for ids in published) == 1, published
        with stack.session() as session:
            assert session.get(Item, scheduled_id).status == "published"  # type: ignore[union-attr]
        for duty in ("sweep", "publish_due", "plan_digests"):
            runs = [r for r in _runs(stack, duty) if r.started_at > started]
            assert len({r.tick for r in runs}) == len(runs)
        assert hosts  # who ran what is recorded per tick
    finally:
        for worker, _ in workers.values():
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait()
