"""Real parts: a Celery worker process, a broker, a database and an SMTP server.

The pipeline tests run twice: on the embedded defaults (SQLite files, Kombu's
SQLAlchemy transport) and on PostgreSQL + Redis. The SMTP server is an aiosmtpd
sink in this process, so every assertion about delivered mail is about bytes
that crossed a real SMTP connection.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import redis
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from alerts.core.migrate import upgrade
from alerts.core.models import Base, Delivery, DeliveryStatus, FanOut
from alerts.core.settings import Settings, load_settings
from alerts.dev.sink import Received, SinkHandler, free_port, start_sink
from alerts.worker.app import AlertsCelery, create_celery

PG_ADMIN_URL = os.environ.get("ALERTS_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
PG_HOST = os.environ.get("ALERTS_TEST_PG_HOST", "postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("ALERTS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Random-looking, as start-up requires (alerts/secret_policy.py); for tests only.
SECRET = "tS7vQ2xLr9KpW4mZc8NfJ3hYb6GdE1uA-oRkVnXs5Ti"


class ScriptedSink(SinkHandler):
    """The sink, plus scripted refusals for chosen recipients (as a relay would)."""

    def __init__(self, pipelining: bool = True) -> None:
        super().__init__(keep_in_memory=True, pipelining=pipelining)
        self.rcpt_replies: dict[str, str] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        reply = self.rcpt_replies.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
        self.rcpt_replies.clear()


@dataclass
class Stack:
    name: str
    settings: Settings
    app: AlertsCelery
    sink: ScriptedSink
    worker: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]
    controller: Controller
    worker_args: tuple[str, ...] = ()
    # What else holds state about rows a reset deletes (a long-lived web app's caches):
    # SQLite hands the same ids out again after it, to different rows.
    on_reset: list[Callable[[], None]] = field(default_factory=list)

    def stop_worker(self) -> None:
        """Warm shutdown of the worker and its pool; the whole process group if it lingers."""
        self.worker.terminate()
        try:
            self.worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait()

    def start_worker(self) -> None:
        self.worker = _start_worker(self.settings, self.env, self.log_path, self.worker_args)

    def session(self) -> Session:
        return self.app.runtime.sessions()

    def received(self) -> list[Received]:
        return self.sink.snapshot()

    def worker_log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_for_item(self, item_id: int, timeout: float = 60.0) -> dict[str, int]:
        """Until the item is fanned out and none of its deliveries is pending or sending."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.worker.poll() is None, f"worker died:\n{self.worker_log()}"
            with self.session() as session:
                fanned = session.get(FanOut, item_id) is not None
                counts = {
                    status: count
                    for status, count in session.execute(
                        select(Delivery.status, func.count())
                        .where(Delivery.item_id == item_id)
                        .group_by(Delivery.status)
                    ).all()
                }
            if (
                fanned
                and not counts.get(DeliveryStatus.PENDING)
                and not counts.get(DeliveryStatus.SENDING)
            ):
                return counts
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"item {item_id} not delivered in {timeout}s: {counts}\n{self.worker_log()}"
                )
            time.sleep(0.1)

    def wait_until(self, predicate, timeout: float = 30.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self.worker.poll() is None, f"worker died:\n{self.worker_log()}"
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.worker_log()}")
            time.sleep(0.1)

    def reset(self) -> None:
        """Empty every table between tests.

        DELETE rather than TRUNCATE: the worker may still be reading (a late sweep
        or a duplicate message of the last test), and TRUNCATE's exclusive locks
        can deadlock with it. A lock conflict is simply tried again.
        """
        engine = self.app.runtime.engine
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
        for attempt in range(5):
            try:
                with engine.begin() as conn:
                    for table in tables:
                        conn.execute(text(f"DELETE FROM {table}"))
                break
            except OperationalError:
                if attempt == 4:
                    raise
                time.sleep(0.5)
        self.sink.clear()
        for forget in self.on_reset:
            forget()


def _start_worker(
    settings: Settings, env: dict[str, str], log_path: Path, extra_args: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    start = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as log:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "alerts",
                "worker",
                "--concurrency",
                "2",
                "--loglevel",
                "INFO",
                *extra_args,
            ],
            env=os.environ | env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: nothing outlives the tests
        )
    deadline = time.monotonic() + 60
    while b" ready." not in log_path.read_bytes()[start:]:
        if worker.poll() is not None or time.monotonic() > deadline:
            os.killpg(worker.pid, signal.SIGKILL)
            raise RuntimeError(f"worker did not start:\n{log_path.read_text()}")
        time.sleep(0.1)
    return worker


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"alerts_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{PG_HOST}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url() -> str:
    redis.Redis.from_url(REDIS_URL).flushdb()
    return REDIS_URL


@contextmanager
def build_stack(
    name: str,
    data_dir: Path,
    handler: ScriptedSink,
    extra_env: dict[str, str],
    worker_args: tuple[str, ...] = (),
) -> Iterator[Stack]:
    """A real stack: the sink in this process, a worker process, a database, a broker."""
    controller, _ = start_sink("127.0.0.1", 0, handler)
    # The web pages are served on this port when a test asks for them (live_server).
    web_port = free_port()
    env = {
        "ALERTS_DATA_DIR": str(data_dir),
        "ALERTS_SMTP_URL": f"smtp://127.0.0.1:{controller.port}",
        "ALERTS_SECRET_KEY": SECRET,
        "ALERTS_BASE_URL": f"http://127.0.0.1:{web_port}",
        "ALERTS_FROM": "Press Office <press-alerts@ngo.example>",
        "ALERTS_REPLY_TO": "press@ngo.example",
        "ALERTS_BATCH_SIZE": "7",  # several batches even for small populations
        "ALERTS_REQUEUE_AFTER_SECONDS": "1",
        "ALERTS_RETRY_BASE_SECONDS": "600",
        # The worker's counters land where this stack's /metrics reads them.
        "PROMETHEUS_MULTIPROC_DIR": str(data_dir / "metrics"),
    } | extra_env
    settings = load_settings(
        **{
            k[len("ALERTS_") :].lower(): v
            for k, v in env.items()
            if k.startswith("ALERTS_") and k != "ALERTS_FROM"
        }
        | {"from_address": env["ALERTS_FROM"]}
    )
    env["ALERTS_DATABASE_URL"] = settings.database_url
    env["ALERTS_BROKER_URL"] = settings.broker_url
    upgrade(settings.database_url)
    app = create_celery(settings)
    log_path = data_dir / "worker.log"
    worker = _start_worker(settings, env, log_path, worker_args)
    stack = Stack(name, settings, app, handler, worker, log_path, env, controller, worker_args)
    try:
        yield stack
    finally:
        stack.stop_worker()  # the current worker: a test may have restarted it
        stack.controller.stop()
        app.runtime.dispose()


@pytest.fixture(scope="session", params=["embedded", "postgres"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    extra = {}
    if request.param == "postgres":
        extra = {
            "ALERTS_DATABASE_URL": request.getfixturevalue("postgres_url"),
            "ALERTS_BROKER_URL": request.getfixturevalue("redis_url"),
        }
    data_dir = tmp_path_factory.mktemp(f"stack-{request.param}")
    with build_stack(request.param, data_dir, ScriptedSink(), extra) as built:
        yield built


@pytest.fixture
def pipeline(stack: Stack) -> Stack:
    stack.reset()
    return stack


@pytest.fixture(scope="session")
def live_server(stack: Stack) -> Iterator[str]:
    """The web app on a real socket, at the stack's ALERTS_BASE_URL."""
    import threading

    import uvicorn

    from alerts.web import create_app
    from alerts.web.ratelimit import SignUpLimits

    base = stack.settings.base_url
    port = int(base.rsplit(":", 1)[1])
    app = create_app(stack.app, SignUpLimits("memory://", "100/hour", "1000/hour"))
    # The click endpoint caches link tables by item id, which a reset gives out again.
    stack.on_reset.append(lambda: setattr(app.state, "click_desk", None))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "web server did not start"
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
