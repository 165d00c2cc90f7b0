"""Fan-out benchmark: one item to N journalists, against a plain smtplib baseline.

Creates N synthetic journalists with overlapping subscriptions, publishes one
item matching a chosen share of them, and times the real pipeline (Celery
worker processes, PostgreSQL + Redis by default) delivering to Postfix's
``smtp-sink``. In the same run it sends the same number of pre-built messages
with plain smtplib from the same number of processes over as many connections,
to the same sink, and prints the ratio pipeline/baseline.

    .venv/bin/python -m bench.fanout --journalists 100000
    .venv/bin/python -m bench.fanout --journalists 1000000 --fan-out-only
    .venv/bin/python -m bench.fanout --journalists 10000 --embedded

Needs ``smtp-sink`` (Debian package ``postfix``); PostgreSQL on 127.0.0.1:5432
(user postgres, trust auth) and Redis on 127.0.0.1:6379 unless ``--embedded``.
It creates and drops its own database and flushes one Redis db.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from multiprocessing.queues import Queue as MpQueue
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

import psycopg
import redis
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from alerts.core.migrate import upgrade
from alerts.core.models import (
    Base,
    Cadence,
    Delivery,
    DeliveryStatus,
    FanOut,
    Item,
    Journalist,
    Subscription,
    SubscriptionCountry,
    SubscriptionTopic,
)
from alerts.core.secret_policy import generate_secret
from alerts.core.settings import Settings, load_settings
from alerts.delivery.fanout import fan_out_in_slices, work_through
from alerts.delivery.progress import counts_for_item
from alerts.items.drafts import ItemDraft, create_item
from alerts.items.lifecycle import publish_item
from alerts.mail.rendering import build_message
from alerts.worker.app import AlertsCelery, create_celery
from bench.dkim_bench import KINDS, SignerSpec, dkim_env, dkim_overrides, signer_spec, signing

HOST = "127.0.0.1"
PG_ADMIN_URL = f"postgresql://postgres@{HOST}:5432/test"
# Overridable, so two benchmarks on one machine do not drop each other's database.
DB_NAME = os.environ.get("BENCH_DB_NAME", "alerts_bench")
PG_URL = f"postgresql+psycopg://postgres@{HOST}:5432/{DB_NAME}"
BROKER_URL = os.environ.get("BENCH_REDIS_URL", f"redis://{HOST}:6379/14")

ITEM_COUNTRIES = ["MX"]
ITEM_TOPICS = ["enforced-disappearances", "torture"]
# Subscriptions of a matching journalist, by journalist id mod 10: (cadence,
# countries, topics). Several shapes give one journalist two or three
# subscriptions, some matching the item and some not: one email each all the same.
IMMEDIATE, DAILY = Cadence.IMMEDIATE.value, Cadence.DAILY.value
MATCHING: list[list[tuple[str, tuple[str, ...], tuple[str, ...]]]] = [
    [(IMMEDIATE, ("MX",), ())],
    [(IMMEDIATE, ("MX",), ())],
    [(IMMEDIATE, ("MX",), ())],
    [(IMMEDIATE, ("MX", "GT", "HN", "SV"), ())],  # a region's worth of codes
    [(IMMEDIATE, (), ())],  # everything
    [(IMMEDIATE, ("MX", "BR"), ()), (IMMEDIATE, (), ("torture",))],  # two that match
    [(IMMEDIATE, ("MX",), ("enforced-disappearances",))],
    [
        (IMMEDIATE, ("FR",), ()),
        (IMMEDIATE, ("MX",), ("torture",)),
        (IMMEDIATE, (), ("journalists",)),
    ],
    [(IMMEDIATE, ("AR", "BR", "CL", "MX"), ())],
    [(DAILY, ("MX",), ()), (IMMEDIATE, ("MX",), ())],  # a digest as well
]
NOT_MATCHING: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    (IMMEDIATE, ("FR",), ()),
    (IMMEDIATE, ("MX",), ("asylum",)),  # right country, a topic the item lacks
    (DAILY, ("MX",), ()),  # only a digest
]

BODY = "\n\n".join(
    " ".join(
        f"Paragraph {p} sentence {s}: authorities must investigate the reported abuses "
        "promptly, impartially and independently, and bring those responsible to justice."
        for s in range(4)
    )
    for p in range(6)
)


class BenchFailed(RuntimeError):
    pass


# --------------------------------------------------------------------------- the sink


class SmtpSink:
    """Postfix's ``smtp-sink``: accepts and discards mail in C, far faster than we send.

    ``-c`` prints running counters (``sess=S quit=Q mesg=M``) on every message
    and session end; a thread reads them and keeps the arrival times.
    """

    _COUNTERS = re.compile(rb"sess=(\d+) quit=(\d+) mesg=(\d+)")

    def __init__(self, port: int) -> None:
        binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        if not Path(binary).exists():
            raise BenchFailed("smtp-sink not found: apt-get install postfix")
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self.port = port
        self._proc = subprocess.Popen(
            [binary, "-c", *user, f"{HOST}:{port}", "1000"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.messages = 0
        self.sessions = 0
        self._base_messages = 0
        self._base_sessions = 0
        self.first_arrival: float | None = None
        self.last_arrival: float | None = None
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        _wait_for_port(port)

    def _read(self) -> None:
        assert self._proc.stdout is not None
        buffer = b""
        while chunk := os.read(self._proc.stdout.fileno(), 4096):
            now = time.monotonic()
            buffer += chunk
            *lines, buffer = re.split(rb"[\r\n]", buffer)
            for line in lines:
                found = self._COUNTERS.search(line)
                if not found:
                    continue
                with self._lock:
                    messages = int(found.group(3))
                    if messages > self.messages:
                        if self.first_arrival is None and messages > self._base_messages:
                            self.first_arrival = now
                        self.last_arrival = now
                    self.messages = messages
                    self.sessions = int(found.group(1))

    def reset(self) -> None:
        with self._lock:
            self._base_messages = self.messages
            self._base_sessions = self.sessions
            self.first_arrival = None
            self.last_arrival = None

    @property
    def received(self) -> int:
        return self.messages - self._base_messages

    @property
    def sessions_since_reset(self) -> int:
        return self.sessions - self._base_sessions

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return
        time.sleep(0.05)
    raise BenchFailed(f"nothing listening on {HOST}:{port}")


# --------------------------------------------------------------------------- database


def recreate_database() -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def drop_database() -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def address(i: int) -> str:
    return f"j{i}@bench.example"


def matches(i: int, share: float) -> bool:
    """Whether journalist ``i`` matches: spread evenly over the ids."""
    return (i * 7919) % 1000 < round(share * 1000)


Rows = dict[str, list[tuple[Any, ...]]]


def journalist_rows(first: int, last: int, share: float, now: datetime) -> Rows:
    """Rows of every table for journalists ``first``..``last`` (subscription ids from 10·i)."""
    rows: Rows = {
        "journalists": [],
        "subscriptions": [],
        "subscription_countries": [],
        "subscription_topics": [],
    }
    for i in range(first, last + 1):
        rows["journalists"].append(
            (i, address(i), f"Journalist {i}", f"Outlet {i % 97}", "en", "active", now, now)
        )
        shapes = MATCHING[i % len(MATCHING)] if matches(i, share) else NOT_MATCHING
        for n, (cadence, countries, topics) in enumerate(shapes):
            sub = i * 10 + n
            rows["subscriptions"].append((sub, i, cadence, not countries, not topics, now))
            rows["subscription_countries"].extend((sub, c) for c in countries)
            rows["subscription_topics"].extend((sub, t) for t in topics)
    return rows


COLUMNS = {
    "journalists": (
        "id",
        "email",
        "name",
        "outlet",
        "language",
        "status",
        "created_at",
        "confirmed_at",
    ),
    "subscriptions": (
        "id",
        "journalist_id",
        "cadence",
        "all_countries",
        "all_topics",
        "created_at",
    ),
    "subscription_countries": ("subscription_id", "country"),
    "subscription_topics": ("subscription_id", "topic"),
}
TABLES: dict[str, type[Base]] = {
    "journalists": Journalist,
    "subscriptions": Subscription,
    "subscription_countries": SubscriptionCountry,
    "subscription_topics": SubscriptionTopic,
}


def seed(engine: Engine, n: int, share: float) -> int:
    """Insert N active journalists (COPY on PostgreSQL); returns how many match the item."""
    now = datetime.now(UTC)
    postgres = engine.dialect.name == "postgresql"
    step = 50_000
    with engine.begin() as conn:
        for first in range(1, n + 1, step):
            rows = journalist_rows(first, min(first + step - 1, n), share, now)
            for table, values in rows.items():
                if postgres:
                    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                    columns = ", ".join(COLUMNS[table])
                    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for row in values:
                            copy.write_row(row)
                else:
                    dicts = [dict(zip(COLUMNS[table], row, strict=True)) for row in values]
                    if dicts:
                        conn.execute(insert(TABLES[table]), dicts)
        if postgres:
            for name in ("journalists", "subscriptions"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT max(id) FROM {name}))"
                    )
                )
    # As autovacuum would soon: the planner should see the real table sizes.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    return sum(1 for i in range(1, n + 1) if matches(i, share))


def delivery_counts(sessions: sessionmaker[Session], item_id: int) -> dict[str, int]:
    with sessions() as session:
        return counts_for_item(session, item_id)


# With --track-clicks, both runs' item carries these too: five links in all to rewrite.
LINKS = (
    "Read [the full report](https://example.org/reports/2026/mexico.pdf), "
    "[the testimonies](https://example.org/reports/2026/testimonies) and "
    "[our earlier statement](https://example.org/news/2025/statement)."
)


def create_published_item(app: AlertsCelery, body: str = BODY) -> tuple[int, float, float]:
    """Publish the item; (id, monotonic and wall time when the publish call returned)."""
    runtime = app.runtime
    draft = ItemDraft(
        title="Mexico: authorities must find the disappeared students",
        summary="A benchmark press release, long enough to look like a real one.",
        body=body,
        url="https://example.org/news/2026/mexico-disappeared",
        countries=ITEM_COUNTRIES,
        topics=ITEM_TOPICS,
    )
    with runtime.sessions() as session:
        item = publish_item(session, create_item(session, runtime.taxonomy, draft))
        session.commit()  # the after-commit hook enqueues the fan-out
        returned, wall = time.monotonic(), time.time()
        return item.id, returned, wall


# --------------------------------------------------------------------------- worker


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTS_")}
    env |= {
        "ALERTS_DATABASE_URL": settings.database_url,
        "ALERTS_BROKER_URL": settings.broker_url,
        "ALERTS_SMTP_URL": settings.smtp_url,
        "ALERTS_SECRET_KEY": settings.secret,
        "ALERTS_DATA_DIR": str(settings.data_dir),
        "ALERTS_BATCH_SIZE": str(settings.batch_size),
        "ALERTS_FAN_OUT_SLICE": str(settings.fan_out_slice),
        "ALERTS_FAN_OUT_LANES": str(settings.fan_out_lanes),
        "ALERTS_SMTP_MESSAGES_PER_CONNECTION": str(settings.smtp_messages_per_connection),
        "ALERTS_TRACK_CLICKS": settings.track_clicks,
    }
    return env | dkim_env(settings)


def start_worker(settings: Settings, concurrency: int, log_path: Path) -> subprocess.Popen[bytes]:
    # The SQLite broker cannot answer a ping: there, "ready." in the log (INFO) tells.
    level = "INFO" if _embedded_broker(settings) else "WARNING"
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "alerts",
                "worker",
                "--concurrency",
                str(concurrency),
                "--loglevel",
                level,
            ],
            env=worker_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until_ready(
    app: AlertsCelery, worker: subprocess.Popen[bytes], timeout: float, log_path: Path
) -> None:
    deadline = time.monotonic() + timeout
    embedded = _embedded_broker(app.runtime.settings)
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise BenchFailed(f"worker exited with {worker.returncode}:\n{tail(log_path)}")
        if embedded:
            if b" ready." in log_path.read_bytes():
                return
            time.sleep(0.2)
        elif app.control.ping(timeout=1.0):
            return
    raise BenchFailed(f"worker not ready after {timeout:.0f}s:\n{tail(log_path)}")


def _embedded_broker(settings: Settings) -> bool:
    return settings.broker_url.startswith("sqla+")


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            pids += process_tree(int(child))
    return pids


def peak_rss_mib(pid: int) -> dict[int, float]:
    """VmHWM (peak resident set) of each process of the worker, in MiB."""
    peaks = {}
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[p] = int(line.split()[1]) / 1024
    return peaks


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is not None:
        return
    worker.terminate()  # warm shutdown of the Celery main process and its pool
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, 9)  # its own session: the worker and its pool children
        worker.wait(timeout=10)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no worker log)"


# --------------------------------------------------------------------------- phases


def wait_for_sink(
    sink: SmtpSink, expected: int, t0: float, timeout: float, label: str, alive: Any = None
) -> None:
    deadline = t0 + timeout
    next_report = time.monotonic() + 5.0
    while sink.received < expected:
        now = time.monotonic()
        if alive is not None:
            alive()
        if now > deadline:
            raise BenchFailed(f"{label}: only {sink.received}/{expected} after {timeout:.0f}s")
        if now >= next_report:
            print(
                f"  {label}: {sink.received}/{expected} after {now - t0:.1f}s "
                f"({sink.received / (now - t0):.0f}/s)",
                flush=True,
            )
            next_report = now + 5.0
        time.sleep(0.01)


def verify_pipeline(
    sessions: sessionmaker[Session], sink: SmtpSink, item_id: int, expected: int
) -> dict[str, int]:
    """Every row recorded as sent, and the sink got exactly that many messages."""
    open_states = {DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value}
    deadline = time.monotonic() + 60
    while True:
        counts = delivery_counts(sessions, item_id)
        if not open_states & counts.keys() or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    time.sleep(1.0)  # let any duplicate still in flight arrive
    with sessions() as session:
        fan_out = session.get(FanOut, item_id)
        matched = fan_out.matched if fan_out else -1
    problems = []
    if matched != expected:
        problems.append(f"fan-out matched {matched}, expected {expected}")
    if counts.get(DeliveryStatus.SENT.value, 0) != expected or len(counts) != 1:
        problems.append(f"delivery rows by status: {counts}")
    if sink.received != expected:
        problems.append(f"the sink accepted {sink.received} messages, expected {expected}")
    if problems:
        raise BenchFailed("pipeline check failed: " + "; ".join(problems))
    return counts


def sample_message(app: AlertsCelery, item_id: int, signed: bool = True) -> bytes:
    """One message exactly as the pipeline builds it, for the baseline to send
    (``signed=False``: without its DKIM signatures, for the baseline that signs)."""
    runtime = app.runtime
    with runtime.sessions() as session:
        item = session.get(Item, item_id)
        assert item is not None
        rendered = runtime.rendered(item)
    sender = runtime.sender if signed else replace(runtime.sender, dkim=None)
    return build_message(rendered, runtime.recipient(1, 1, address(1), "Journalist 1"), sender)


def _baseline_sender(
    port: int,
    recipients: list[str],
    per_connection: int,
    message: bytes,
    ready: MpQueue[Any],
    go: MpEvent,
    results: MpQueue[Any],
    dkim: SignerSpec | None = None,
) -> None:
    """One process: its share of the messages, a fresh connection every ``per_connection``;
    with ``dkim``, each copy signed just before it is sent."""
    finish = signing(dkim)
    ready.put(os.getpid())
    go.wait(120)
    sent, error = 0, ""
    try:
        for start in range(0, len(recipients), per_connection):
            with smtplib.SMTP(HOST, port, timeout=30) as smtp:
                for rcpt in recipients[start : start + per_connection]:
                    smtp.sendmail("alerts@example.org", [rcpt], finish(message))
                    sent += 1
    except (smtplib.SMTPException, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    results.put((sent, error))


@dataclass
class Phase:
    messages: int
    seconds: float
    first_seconds: float
    connections: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else float("nan")


def run_baseline(
    sink: SmtpSink,
    recipients: list[str],
    message: bytes,
    processes: int,
    per_connection: int,
    timeout: float,
    dkim: SignerSpec | None = None,
) -> Phase:
    ctx = mp.get_context("spawn")  # the parent has threads: no fork
    ready: MpQueue[Any] = ctx.Queue()
    results: MpQueue[Any] = ctx.Queue()
    go = ctx.Event()
    procs = [
        ctx.Process(
            target=_baseline_sender,
            args=(
                *(sink.port, recipients[p::processes], per_connection, message),
                *(ready, go, results, dkim),
            ),
        )
        for p in range(processes)
    ]
    sink.reset()
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            ready.get(timeout=60)
        t0 = time.monotonic()
        go.set()
        wait_for_sink(sink, len(recipients), t0, timeout, "baseline")
        outcomes = [results.get(timeout=30) for _ in procs]
    finally:
        go.set()
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
    errors = [error for _, error in outcomes if error]
    if errors:
        raise BenchFailed(f"baseline sender failed: {errors}")
    assert sink.last_arrival is not None and sink.first_arrival is not None
    time.sleep(0.3)  # the session counters arrive at QUIT
    return Phase(
        len(recipients),
        sink.last_arrival - t0,
        sink.first_arrival - t0,
        sink.sessions_since_reset,
    )


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    defaults = Settings.model_fields
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--journalists", type=int, default=100_000, metavar="N")
    parser.add_argument(
        "--share", type=float, default=1.0, help="share of journalists the item matches (1.0)"
    )
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--batch-size", type=int, default=int(defaults["batch_size"].default))
    parser.add_argument(
        "--slice", type=int, default=int(defaults["fan_out_slice"].default), help="fan-out slice"
    )
    parser.add_argument(
        "--per-connection",
        type=int,
        default=int(defaults["smtp_messages_per_connection"].default),
        help="messages per SMTP connection, pipeline and baseline alike",
    )
    parser.add_argument(
        "--embedded", action="store_true", help="SQLite database and broker instead of PG + Redis"
    )
    parser.add_argument(
        "--fan-out-only",
        action="store_true",
        help="time only the fan-out (match + delivery rows), in this process",
    )
    parser.add_argument(
        "--lanes",
        type=lambda v: [int(n) for n in v.split(",")],
        default=[int(defaults["fan_out_lanes"].default)],
        help="processes (threads, with --fan-out-only) matching one item's slices at once; "
        "with --fan-out-only or --fan-out-worker a list (1,2,1,2) runs each in turn",
    )
    parser.add_argument(
        "--fan-out-worker",
        action="store_true",
        help="time the fan-out done by a real worker (until its record), with its peak RSS",
    )
    parser.add_argument(
        "--dkim",
        nargs="?",
        const="rsa",
        choices=KINDS,
        help="sign every message: rsa (2048 bits, the default), ed25519, or dual (both); "
        "adds a baseline that signs each copy with the same keys",
    )
    parser.add_argument(
        "--track-clicks",
        action="store_true",
        help="run the pipeline twice, click tracking off then on (aggregate); report the ratio",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per phase (600)")
    parser.add_argument("--keep-db", action="store_true", help=f"keep the {DB_NAME} database")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)
    if args.journalists < 1 or not 0 < args.share <= 1 or args.concurrency < 1:
        parser.error("--journalists >= 1, 0 < --share <= 1, --concurrency >= 1")
    if not args.lanes or min(args.lanes) < 1:
        parser.error("--lanes: one or more numbers >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = tempfile.TemporaryDirectory(prefix="alerts-bench-")
    data_dir = Path(tmp.name)
    log_path = data_dir / "worker.log"
    broker = None if args.embedded else redis.Redis.from_url(BROKER_URL)
    sink: SmtpSink | None = None
    worker: subprocess.Popen[bytes] | None = None
    app: AlertsCelery | None = None
    db_created = False
    try:
        overrides: dict[str, Any] = {
            "data_dir": data_dir,
            "batch_size": args.batch_size,
            "fan_out_slice": args.slice,
            "fan_out_lanes": args.lanes[0],
            "smtp_messages_per_connection": args.per_connection,
            "worker_concurrency": args.concurrency,
        }
        if not args.embedded:
            assert broker is not None
            broker.flushdb()
            recreate_database()
            db_created = True
            overrides |= {"database_url": PG_URL, "broker_url": BROKER_URL}
            # A fresh key per run; the worker processes get it through the environment.
            overrides["secret_key"] = generate_secret()
        if args.dkim:
            overrides |= dkim_overrides(args.dkim, data_dir)
        sink = SmtpSink(_free_port())
        overrides["smtp_url"] = f"smtp://{HOST}:{sink.port}"
        settings = load_settings(**overrides)
        upgrade(settings.database_url)
        app = create_celery(settings)

        started = time.monotonic()
        matched = seed(app.runtime.engine, args.journalists, args.share)
        print(
            f"{args.journalists} journalists seeded in {time.monotonic() - started:.1f}s on "
            f"{app.runtime.engine.dialect.name}; {matched} match the item",
            flush=True,
        )
        results: dict[str, Any] = {
            "journalists": args.journalists,
            "matched": matched,
            "database": app.runtime.engine.dialect.name,
            "broker": settings.broker_url.split(":", 1)[0],
            "cpus": os.cpu_count(),
        }
        if args.fan_out_only or args.fan_out_worker:
            for run, lanes in enumerate(args.lanes, 1):
                if run > 1:
                    forget_fan_outs(app)
                    if broker is not None:
                        broker.flushdb()  # the last run's batches, not sent by its worker
                settings.fan_out_lanes = lanes
                if args.fan_out_only:
                    found = fan_out_only(app, args.slice, lanes)
                else:
                    found = fan_out_by_worker(app, args, matched, log_path)
                print(f"run {run}: {found}", flush=True)
                results |= {
                    f"run{run}_{k}" if len(args.lanes) > 1 else k: v for k, v in found.items()
                }
        elif args.track_clicks:
            results |= tracking_on_and_off(app, sink, args, matched, log_path)
        else:
            results |= end_to_end(app, sink, args, matched, log_path)
        report(results)
        if args.json:
            print(json.dumps(results, indent=2))
        return 0
    except BenchFailed as exc:
        print(f"benchmark failed: {exc}\nworker log:\n{tail(log_path)}", file=sys.stderr)
        return 1
    finally:
        if worker is not None:
            stop_worker(worker)
        if sink is not None:
            sink.stop()
        if app is not None:
            app.runtime.dispose()
            if "engine" in app.runtime.__dict__:
                app.runtime.engine.dispose()
        if broker is not None:
            with contextlib.suppress(redis.RedisError):
                broker.flushdb()
            broker.close()
        if db_created and not args.keep_db:
            drop_database()
        tmp.cleanup()


def fan_out_only(app: AlertsCelery, size: int, lanes: int) -> dict[str, Any]:
    """Match and write the delivery rows in this process, ``lanes`` threads working
    through the plan as the worker processes do; nothing is queued or sent."""
    runtime = app.runtime
    # No fan-out task must run meanwhile: publish through a session without the hook.
    with Session(runtime.engine) as session:
        draft = ItemDraft(
            title="Fan-out only",
            summary="",
            body=BODY,
            url=None,
            countries=ITEM_COUNTRIES,
            topics=ITEM_TOPICS,
        )
        item = publish_item(session, create_item(session, runtime.taxonomy, draft))
        session.commit()
        item_id = item.id

    def now() -> datetime:
        return datetime.now(UTC)

    counts: list[int] = []
    helpers: list[threading.Thread] = []

    def lane() -> None:
        # As a worker process's fan_out_lane task does; the time is in the database.
        counts.extend(queued for queued, _ in work_through(runtime.sessions, item_id, now, noop))

    def noop(ids: list[int]) -> None:
        pass

    def start_helpers() -> None:
        for _ in range(lanes - 1):
            helpers.append(threading.Thread(target=lane))
            helpers[-1].start()

    server0, bench0 = server_cpu(runtime.engine), time.process_time()
    t0 = time.monotonic()
    first: float | None = None
    for count in fan_out_in_slices(runtime.sessions, item_id, now, size, noop, start_helpers):
        counts.append(count)
        if first is None:
            first = time.monotonic() - t0
    for helper in helpers:
        helper.join()
    seconds = time.monotonic() - t0
    bench_cpu = time.process_time() - bench0
    server = server_cpu(runtime.engine)
    server_seconds = sum(spent - server0.get(pid, 0.0) for pid, spent in server.items())
    rows = sum(counts)
    with runtime.sessions() as session:
        recorded = session.get(FanOut, item_id)
        stored = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.item_id == item_id)
        )
    if recorded is None or recorded.matched != rows or stored != rows:
        raise BenchFailed(f"fan-out: {rows} queued, {stored} stored, record {recorded}")
    return {
        "fan_out_rows": rows,
        "fan_out_seconds": round(seconds, 3),
        "fan_out_first_slice_seconds": round(first or 0.0, 3),
        "fan_out_rows_per_second": round(rows / seconds, 1),
        "fan_out_slice": size,
        "fan_out_lanes": lanes,
        # CPU time, steadier than the wall clock on a shared machine: the database's
        # own (its client processes for this database) and this process's.
        "fan_out_server_cpu_seconds": round(server_seconds, 2),
        "fan_out_bench_cpu_seconds": round(bench_cpu, 2),
    }


def server_cpu(engine: Engine) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL process serving this database (schedstat's
    time on a core). A connection opened later counts from zero; the pool keeps them open."""
    if engine.dialect.name != "postgresql":
        return {}
    with engine.connect() as conn:
        pids = conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND backend_type = 'client backend'"
            )
        ).scalars()
        result = {}
        for pid in pids:
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{pid}/schedstat").read_text()
                result[pid] = int(stat.split()[0]) / 1e9
        return result


def forget_fan_outs(app: AlertsCelery) -> None:
    """Back to no deliveries, so that each run of a series writes into the same table."""
    with app.runtime.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE deliveries, fan_outs, fan_out_slices CASCADE"))
        else:
            for table in ("deliveries", "fan_outs", "fan_out_slices"):
                conn.execute(text(f"DELETE FROM {table}"))


def fan_out_by_worker(
    app: AlertsCelery, args: argparse.Namespace, matched: int, log_path: Path
) -> dict[str, Any]:
    """Publish to a real worker and time its fan-out, to the record the last slice writes.

    Its batches are sent meanwhile (to the sink); the worker is stopped once the
    fan-out is recorded, and its processes' peak RSS read just before.
    """
    settings = app.runtime.settings
    worker = start_worker(settings, args.concurrency, log_path)
    try:
        wait_until_ready(app, worker, 60.0, log_path)
        item_id, t0, wall0 = create_published_item(app)
        deadline = t0 + args.timeout
        while True:
            if worker.poll() is not None:
                raise BenchFailed(f"worker exited with {worker.returncode}:\n{tail(log_path)}")
            with app.runtime.sessions() as session:
                fan_out = session.get(FanOut, item_id)
            if fan_out is not None:
                break
            if time.monotonic() > deadline:
                raise BenchFailed(f"no fan-out record after {args.timeout:.0f}s")
            time.sleep(0.05)
        rss = peak_rss_mib(worker.pid)
    finally:
        stop_worker(worker)
    if fan_out.matched != matched:
        raise BenchFailed(f"fan-out recorded {fan_out.matched} of {matched}")
    seconds = fan_out.last_run_at.timestamp() - wall0
    return {
        "fan_out_rows": fan_out.matched,
        "fan_out_seconds": round(seconds, 3),
        "fan_out_rows_per_second": round(fan_out.matched / seconds, 1),
        "fan_out_slice": settings.fan_out_slice,
        "fan_out_lanes": settings.fan_out_lanes,
        "worker_peak_rss_mib": round(max(rss.values()), 1),
        "worker_processes_rss_mib": sorted(round(v, 1) for v in rss.values()),
    }


def tracking_on_and_off(
    app: AlertsCelery, sink: SmtpSink, args: argparse.Namespace, matched: int, log_path: Path
) -> dict[str, Any]:
    """The same send four times in one run: off, on, on, off (every link through
    /c/TOKEN when on). The second of two back-to-back runs came out slower whichever
    mode it was (0.867 off first, 0.922 on first, same code, quiet machine), so one
    pair measured the order as much as the tracking; ABBA cancels a steady drift."""
    settings = app.runtime.settings
    found: dict[str, Any] = {}
    rates: dict[str, list[float]] = {"off": [], "aggregate": []}
    for run, mode in enumerate(("off", "aggregate", "aggregate", "off"), start=1):
        settings.track_clicks = mode
        print(f"click tracking: {mode} (run {run} of 4)", flush=True)
        phase = end_to_end(app, sink, args, matched, log_path, f"{BODY}\n\n{LINKS}")
        found |= {f"run{run}_{mode}_{key}": value for key, value in phase.items()}
        rates[mode].append(phase["pipeline_emails_per_second"])
    off, on = (sum(rates[m]) / len(rates[m]) for m in ("off", "aggregate"))
    found["off_pipeline_emails_per_second"] = round(off, 1)
    found["aggregate_pipeline_emails_per_second"] = round(on, 1)
    found["tracking_on_off_ratio"] = round(on / off, 3)
    return found


def end_to_end(
    app: AlertsCelery,
    sink: SmtpSink,
    args: argparse.Namespace,
    matched: int,
    log_path: Path,
    body: str = BODY,
) -> dict[str, Any]:
    settings = app.runtime.settings
    worker = start_worker(settings, args.concurrency, log_path)
    try:
        wait_until_ready(app, worker, 60.0, log_path)
        print(f"worker ready (concurrency {args.concurrency}); smtp-sink on {sink.port}")
        sink.reset()
        item_id, t0, wall0 = create_published_item(app, body)
        print(f"published item {item_id}; waiting for {matched} emails", flush=True)

        def alive() -> None:
            if worker.poll() is not None:
                raise BenchFailed(f"worker exited with {worker.returncode}:\n{tail(log_path)}")

        wait_for_sink(sink, matched, t0, args.timeout, "pipeline", alive)
        assert sink.first_arrival is not None and sink.last_arrival is not None
        counts = verify_pipeline(app.runtime.sessions, sink, item_id, matched)
        pipeline = Phase(
            matched, sink.last_arrival - t0, sink.first_arrival - t0, sink.sessions_since_reset
        )
        rss = peak_rss_mib(worker.pid)
        with app.runtime.sessions() as session:
            fan_out = session.get(FanOut, item_id)
            assert fan_out is not None
            fan_out_seconds = fan_out.last_run_at.timestamp() - wall0
        print(f"pipeline check: deliveries {counts}; the sink accepted {sink.received}")
    finally:
        stop_worker(worker)
    message = sample_message(app, item_id)
    recipients = [address(i) for i in range(1, args.journalists + 1) if matches(i, args.share)]
    print(f"baseline: {matched} messages of {len(message)} bytes from {args.concurrency} processes")
    baseline = run_baseline(
        sink, recipients, message, args.concurrency, args.per_connection, args.timeout
    )
    signed: dict[str, Any] = {}
    if args.dkim:
        print(f"baseline signing every copy ({args.dkim}), same keys and signer", flush=True)
        signed_baseline = run_baseline(
            sink,
            recipients,
            sample_message(app, item_id, signed=False),
            args.concurrency,
            args.per_connection,
            args.timeout,
            signer_spec(app.runtime.sender.dkim),
        )
        signed = {
            "signed_baseline_seconds": round(signed_baseline.seconds, 3),
            "signed_baseline_emails_per_second": round(signed_baseline.rate, 1),
            "ratio_to_signed_baseline": round(pipeline.rate / signed_baseline.rate, 3),
        }
    return {
        "concurrency": args.concurrency,
        "batch_size": args.batch_size,
        "dkim": args.dkim,
        "message_bytes": len(message),
        "fan_out_seconds": round(fan_out_seconds, 3),
        "first_email_seconds": round(pipeline.first_seconds, 3),
        "pipeline_seconds": round(pipeline.seconds, 3),
        "pipeline_emails_per_second": round(pipeline.rate, 1),
        "pipeline_connections": pipeline.connections,
        "worker_peak_rss_mib": round(max(rss.values()), 1),
        "worker_processes_rss_mib": sorted(round(v, 1) for v in rss.values()),
        "baseline_seconds": round(baseline.seconds, 3),
        "baseline_emails_per_second": round(baseline.rate, 1),
        "baseline_connections": baseline.connections,
        "ratio": round(pipeline.rate / baseline.rate, 3),
    } | signed


def report(r: dict[str, Any]) -> None:
    width = max(len(k) for k in r)
    print()
    for key, value in r.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    sys.exit(main())
