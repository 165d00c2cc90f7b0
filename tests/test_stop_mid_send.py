"""A supervisor stops a command in the middle of its work: nothing half done, nothing lost.

systemd (KillMode=control-group) and supervisord's stopasgroup send SIGTERM to the
whole process group, the pool processes of a worker included. Here that signal
lands while a worker is sending an item to a slow relay, and while ``alerts serve``
is receiving a CSV import. Each command must exit 0 within 30 s; every message the
relay accepted must be recorded ``sent`` (the rest handed back, none left leased);
a fresh worker then sends the rest, and the relay sees each Message-ID once.
Embedded (SQLite, the SQLite broker) and PostgreSQL + Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from sqlalchemy import func, select

from alerts.core.models import Delivery, DeliveryStatus, Journalist, utcnow
from alerts.core.net import free_port
from alerts.staff.keys import create_key
from tests.conftest import PG_ADMIN_URL, PG_HOST, ScriptedSink, Stack, build_stack
from tests.factories import journalist, published_item

ALERTS = str(Path(sys.executable).with_name("alerts"))
POPULATION = 160
BATCH = 20
STOP_WITHIN = 30.0
# The fault suite's database: its module and this one never run at the same time.
OWN_REDIS = os.environ.get("ALERTS_TEST_FAULT_REDIS_URL", "redis://127.0.0.1:6379/13")


class SlowSink(ScriptedSink):
    """A relay that takes its time over each message, so a stop lands mid-batch."""

    def __init__(self) -> None:
        super().__init__()
        self.delay = 0.0

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if self.delay:
            await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture(scope="module", params=["embedded", "postgres"])
def slow(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One stack per backend, its journalists seeded once; each case publishes its own item."""
    env = {
        "ALERTS_BATCH_SIZE": str(BATCH),
        "ALERTS_SWEEP_INTERVAL_SECONDS": "1",
        "ALERTS_REQUEUE_AFTER_SECONDS": "2",
        "ALERTS_RETRY_BASE_SECONDS": "1",
        "ALERTS_RETRY_MAX_SECONDS": "2",
        # Longer than any case: a row a stopped worker left `sending` stays so, and shows.
        "ALERTS_LEASE_SECONDS": "120",
    }
    name = f"alerts_stops_{uuid.uuid4().hex[:8]}"
    if request.param == "postgres":
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        env["ALERTS_DATABASE_URL"] = f"postgresql+psycopg://{PG_HOST}/{name}"
        # Not the session stack's Redis database: its worker would take our messages.
        redis.Redis.from_url(OWN_REDIS).flushdb()
        env["ALERTS_BROKER_URL"] = OWN_REDIS
    data_dir = tmp_path_factory.mktemp(f"stops-{request.param}")
    try:
        with build_stack(request.param, data_dir, SlowSink(), env) as stack:
            with stack.session() as session:
                for n in range(POPULATION):
                    journalist(session, f"reader{n:03d}@example.net", (["MX"], []))
                session.commit()
            yield stack
    finally:
        if request.param == "postgres":
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _sink(stack: Stack) -> SlowSink:
    assert isinstance(stack.sink, SlowSink)
    return stack.sink


def _copies(stack: Stack, item_id: int) -> Counter[str]:
    """How many times the relay accepted each Message-ID of this item."""
    prefix = f"<alert.{item_id}."
    ids = (str(r.parsed()["Message-ID"]) for r in stack.received())
    return Counter(i for i in ids if i.startswith(prefix))


def _rows(stack: Stack, item_id: int) -> list[tuple[str, str | None, str]]:
    with stack.session() as session:
        return [
            (str(status), message_id, str(email))
            for status, message_id, email in session.execute(
                select(Delivery.status, Delivery.message_id, Journalist.email)
                .join(Journalist, Journalist.id == Delivery.journalist_id)
                .where(Delivery.item_id == item_id)
            ).all()
        ]


def _stop_group(proc: subprocess.Popen[bytes], log: str) -> int:
    """SIGTERM to the whole process group, as a supervisor sends it; the exit code."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=STOP_WITHIN)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"still running {STOP_WITHIN:.0f} s after SIGTERM:\n{log}") from None


@pytest.mark.parametrize("args", [(), ("--beat",)], ids=["worker", "worker-beat"])
def test_worker_stopped_mid_send(slow: Stack, args: tuple[str, ...]) -> None:
    stack = slow
    since = stack.log_path.stat().st_size
    if stack.worker_args != args or stack.worker.poll() is not None:
        stack.stop_worker()
        stack.worker_args = args
        stack.start_worker()
    _sink(stack).delay = 0.03
    with stack.session() as session:
        item_id = published_item(session, title=f"Stopped {' '.join(args)}", countries=["MX"])
        session.commit()
    stack.wait_until(lambda: sum(_copies(stack, item_id).values()) >= 30, what="sending")

    code = _stop_group(stack.worker, stack.worker_log())
    log = stack.log_path.read_text(errors="replace")[since:]
    assert code == 0, log[-4000:]
    # No pool process was killed under a task (it would be a lost worker).
    assert "exited with" not in log and "WorkerLostError" not in log, log[-4000:]

    accepted = _copies(stack, item_id)
    rows = _rows(stack, item_id)
    sent = {mid for status, mid, _ in rows if status == DeliveryStatus.SENT}
    assert 0 < sum(accepted.values()) < POPULATION, "the stop did not land mid-send"
    # Every message the relay took is recorded sent, and nothing else is.
    assert sent == set(accepted), (len(sent), len(accepted))
    # The rest was handed back, not left leased to a process that is gone.
    statuses = Counter(status for status, _, _ in rows)
    assert statuses == {
        DeliveryStatus.SENT: len(sent),
        DeliveryStatus.PENDING: POPULATION - len(sent),
    }, statuses

    # A fresh worker (its beat runs the sweep) sends the rest.
    _sink(stack).delay = 0.0
    stack.worker_args = ("--beat",)
    stack.start_worker()
    assert stack.wait_for_item(item_id) == {DeliveryStatus.SENT: POPULATION}
    copies = _copies(stack, item_id)
    assert len(copies) == POPULATION and set(copies.values()) == {1}, copies.most_common(3)
    delivered = {email for _, _, email in _rows(stack, item_id)}
    assert delivered == {f"reader{n:03d}@example.net" for n in range(POPULATION)}


def _csv(prefix: str, count: int) -> bytes:
    lines = ["email,name,outlet,countries,topics,cadence"]
    lines += [f"{prefix}{n:03d}@example.org,Reader {n},Desk,FR,,daily" for n in range(count)]
    return ("\n".join(lines) + "\n").encode()


def _request(key: str, body_length: int, port: int) -> bytes:
    return (
        f"POST /api/journalists/import HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: text/csv\r\n"
        f"Content-Length: {body_length}\r\n\r\n"
    ).encode()


def _imported(stack: Stack, prefix: str) -> int:
    with stack.session() as session:
        return (
            session.scalar(
                select(func.count()).where(Journalist.email.like(f"{prefix}%@example.org"))
            )
            or 0
        )


def _read_response(conn: socket.socket) -> tuple[int, dict[str, object]]:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), data[:500]
    try:
        return int(head.split()[1]), json.loads(body)
    except ValueError:
        raise AssertionError(data[:500]) from None


def _served(port: int) -> None:
    """One whole request on a connection of its own: by the time it is answered, the
    server's one event loop has taken in what reached it earlier on the others."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")


def test_serve_stopped_mid_import(slow: Stack, tmp_path: Path) -> None:
    """SIGTERM while two CSV imports are half uploaded: the one finished is imported
    whole, the one its client abandons writes nothing, and serve exits 0."""
    stack = slow
    with stack.session() as session:
        key = create_key(session, f"desk-{uuid.uuid4().hex[:6]}", "publisher", utcnow())[1]
        session.commit()
    port = free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [ALERTS, "serve", "--port", str(port)],
            env=os.environ | stack.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, log_path.read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)

    tag = uuid.uuid4().hex[:6]
    finished, abandoned = _csv(f"done{tag}-", 300), _csv(f"gone{tag}-", 300)
    done = socket.create_connection(("127.0.0.1", port), timeout=30)
    gone = socket.create_connection(("127.0.0.1", port), timeout=30)
    for conn, body in ((done, finished), (gone, abandoned)):
        conn.sendall(_request(key, len(body), port) + body[: len(body) // 2])
    # Both requests are now being read by the server: a sleep alone was not enough
    # on a loaded machine (the stop came before the server had read the headers).
    time.sleep(0.5)
    _served(port)
    os.killpg(proc.pid, signal.SIGTERM)
    time.sleep(0.5)  # the server is shutting down, with both bodies half read
    gone.close()
    done.sendall(finished[len(finished) // 2 :])
    status, payload = _read_response(done)
    done.close()
    try:
        code = proc.wait(timeout=STOP_WITHIN)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"serve still running:\n{log_path.read_text()}") from None
    output = log_path.read_text(errors="replace")
    assert code == 0, output
    assert status == 200, payload
    assert _imported(stack, f"done{tag}-") == 300
    assert _imported(stack, f"gone{tag}-") == 0
    assert "Traceback" not in output, output
