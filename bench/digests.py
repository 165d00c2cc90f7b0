"""Digest planning benchmark: a beat tick over N digest journalists, with nothing or many due.

    .venv/bin/python -m bench.digests                       # 1,000,000 journalists, 100,000 due
    .venv/bin/python -m bench.digests --journalists 200000 --due 50000 --sqlite

Seeds N active journalists with one daily digest each (PostgreSQL ``COPY``; SQLite:
plain inserts), ``--due`` of them at 12:00 UTC and the rest spread over other zones
and times, with ``next_due_at`` as the planner leaves it; publishes ``--items`` items
that every digest holds. Then times, on the planner's own code (``digests.planning.plan``
and, for the due tick, ``digests.lanes.plan_in_lanes`` as the beat task runs it):

1. ``--repeat`` ticks at 12:01 UTC, when nothing is due (min and median);
2. the tick at 12:02 UTC, when the ``--due`` digests are planned: each recorded once,
   its items reserved as delivery rows, the next look of each journalist set; once
   for each of ``--lanes`` (e.g. ``1,2``: one connection, then two), the digests and
   their deliveries removed and the journalists made due again in between;

and checks each time that exactly ``--due`` digests were recorded, each holding
``--items`` items.
PostgreSQL: 127.0.0.1:5432, user postgres, trust auth; it creates and drops a database
``alerts_bench`` (shared with bench.fanout: don't run both at once).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, event, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from alerts.core.db import make_engine, make_session_factory
from alerts.core.migrate import upgrade
from alerts.core.models import Delivery, Digest, Item, Journalist, Subscription
from alerts.digests.lanes import plan_in_lanes
from alerts.digests.planning import SETTLE, plan
from alerts.digests.schedule import next_cutoff
from bench.fanout import server_cpu

HOST = "127.0.0.1"
PG_ADMIN_URL = f"postgresql://postgres@{HOST}:5432/test"
# Overridable, so two benchmarks on one machine do not drop each other's database.
DB_NAME = os.environ.get("BENCH_DB_NAME", "alerts_bench")
PG_URL = f"postgresql+psycopg://postgres@{HOST}:5432/{DB_NAME}"

# The ticks timed, and where the seeded state stands: as if every journalist's latest
# period had been planned already, and the due ones' time came at 12:00 UTC today.
NOTHING_DUE = datetime(2026, 11, 10, 12, 1, tzinfo=UTC)
DUE = datetime(2026, 11, 10, 12, 2, tzinfo=UTC)
# Everyone else: other zones (DST and not), other local times.
OTHER_ZONES = ("Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "UTC")


@cache
def _next_look(zone: str, minute: int) -> datetime:
    """As the planner sets it after the 12:01 tick: the next cutoff after its reading time."""
    return next_cutoff(NOTHING_DUE - SETTLE, "daily", zone, minute, 0) + SETTLE


def schedule_of(i: int, due: int) -> tuple[str, int]:
    """(zone, local minute) of journalist ``i``: the first ``due`` at 12:00 UTC."""
    if i <= due:
        return "UTC", 12 * 60
    zone = OTHER_ZONES[i % len(OTHER_ZONES)]
    minute = (i * 37) % (24 * 60)
    if _next_look(zone, minute) <= DUE:  # due at 12:02 after all: move it an hour on
        minute = (minute + 60) % (24 * 60)
    return zone, minute


def recreate_database() -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def drop_database() -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


JOURNALIST_COLUMNS = (
    "id",
    "email",
    "name",
    "outlet",
    "language",
    "status",
    "created_at",
    "confirmed_at",
    "timezone",
    "digest_minute",
    "digest_weekday",
    "next_due_at",
)
SUBSCRIPTION_COLUMNS = (
    "id",
    "journalist_id",
    "cadence",
    "all_countries",
    "all_topics",
    "created_at",
)


def seed(engine: Engine, n: int, due: int) -> None:
    created = datetime(2026, 11, 1, tzinfo=UTC)
    postgres = engine.dialect.name == "postgresql"
    step = 50_000
    with engine.begin() as conn:
        for first in range(1, n + 1, step):
            people, subs = [], []
            for i in range(first, min(first + step, n + 1)):
                zone, minute = schedule_of(i, due)
                at = DUE if i <= due else _next_look(zone, minute)
                person = (i, f"d{i}@bench.example", "", "", "en", "active", created, created)
                people.append((*person, zone, minute, 0, at))
                subs.append((i, i, "daily", True, True, created))
            if postgres:
                cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                for table, columns, rows in (
                    ("journalists", JOURNALIST_COLUMNS, people),
                    ("subscriptions", SUBSCRIPTION_COLUMNS, subs),
                ):
                    naive = [
                        tuple(v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in r)
                        for r in rows
                    ]
                    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in naive:
                            copy.write_row(row)
            else:
                conn.execute(
                    insert(Journalist),
                    [dict(zip(JOURNALIST_COLUMNS, r, strict=True)) for r in people],
                )
                conn.execute(
                    insert(Subscription),
                    [dict(zip(SUBSCRIPTION_COLUMNS, r, strict=True)) for r in subs],
                )
        if postgres:
            for name in ("journalists", "subscriptions"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT max(id) FROM {name}))"
                    )
                )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))


def publish_items(sessions: sessionmaker[Session], count: int) -> None:
    """Items every digest holds: published in the day before the 12:00 cutoff."""
    with sessions() as session, session.begin():
        for k in range(count):
            at = DUE - timedelta(hours=3 + k)
            session.add(
                Item(
                    kind="press_release",
                    title=f"Digest item {k}",
                    summary="A benchmark item.",
                    body="",
                    url=f"https://example.org/news/{k}",
                    language="en",
                    status="published",
                    published_at=at,
                    created_at=at,
                )
            )


class StatementClock:
    """Time spent in the database per kind of statement (its verb and table), for a tick."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.spent: dict[str, list[float]] = {}
        self.started: list[float] = []
        self.on = False
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_: Any) -> None:
        self.started.append(time.perf_counter())

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        took = time.perf_counter() - self.started.pop()
        if self.on:
            words = re.findall(r"[A-Za-z_]+", statement)[:6]
            key = " ".join(w for w in words if w.isupper() or "_" in w or w.islower())[:60]
            entry = self.spent.setdefault(key, [0.0, 0.0])
            entry[0] += took
            entry[1] += 1

    def report(self) -> dict[str, str]:
        return {
            key: f"{seconds:.2f}s in {int(count)}"
            for key, (seconds, count) in sorted(self.spent.items(), key=lambda kv: -kv[1][0])
        }


def _cpu_of(pid: int | None) -> float:
    """CPU seconds so far of a process (schedstat's time on a core), 0 if not readable."""
    if pid is None:
        return 0.0
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except OSError:
        return 0.0


def timed_tick(sessions: sessionmaker[Session], now: datetime) -> tuple[float, int]:
    return cpu_timed_tick(sessions, now)[:2]


def cpu_timed_tick(
    sessions: sessionmaker[Session], now: datetime
) -> tuple[float, int, float, float]:
    """The tick's wall time, its digests planned, and its CPU seconds: the database
    server's (the session's own process) and this process's, steadier than the wall
    clock on a shared machine."""
    with sessions() as session, session.begin():
        backend = None
        if session.get_bind().dialect.name == "postgresql":
            backend = session.scalar(select(func.pg_backend_pid()))
        server0, bench0 = _cpu_of(backend), time.process_time()
        started = time.perf_counter()
        planned = plan(session, now)
        session.flush()
    took = time.perf_counter() - started
    return took, len(planned), _cpu_of(backend) - server0, time.process_time() - bench0


def lanes_tick(
    engine: Engine, sessions: sessionmaker[Session], now: datetime, lanes: int
) -> tuple[float, int, float, float]:
    """``cpu_timed_tick`` as the beat task plans: in chunks, ``lanes`` at once; the
    server's CPU summed over every connection the lanes used."""
    server0, bench0 = server_cpu(engine), time.process_time()
    started = time.perf_counter()
    planned = plan_in_lanes(sessions, now, lanes, lambda _ids: None)
    took = time.perf_counter() - started
    bench = time.process_time() - bench0
    server = sum(cpu - server0.get(pid, 0.0) for pid, cpu in server_cpu(engine).items())
    return took, len(planned), server, bench


def make_due_again(engine: Engine, due: int) -> None:
    """Back to the state before the due tick: no digests, the first ``due`` due at 12:00."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE deliveries, digests CASCADE"))
        else:
            conn.execute(text("DELETE FROM deliveries"))
            conn.execute(text("DELETE FROM digests"))
        conn.execute(
            Journalist.__table__.update()  # type: ignore[attr-defined]
            .where(Journalist.id <= due)
            .values(next_due_at=DUE)
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if conn.dialect.name == "postgresql" else "ANALYZE"))


def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = tempfile.TemporaryDirectory(prefix="alerts-bench-digests-")
    if args.sqlite:
        url = f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    else:
        recreate_database()
        url = PG_URL
    engine = make_engine(url)
    try:
        upgrade(url)
        started = time.monotonic()
        seed(engine, args.journalists, args.due)
        seeded = time.monotonic() - started
        print(f"{args.journalists} digest journalists seeded in {seeded:.1f}s", flush=True)
        sessions = make_session_factory(engine)
        publish_items(sessions, args.items)
        idle = []
        for _ in range(args.repeat):
            seconds, planned = timed_tick(sessions, NOTHING_DUE)
            if planned:
                raise SystemExit(f"{planned} digests planned at 12:01, none expected")
            idle.append(seconds)
        clock = StatementClock(engine)
        ticks = []
        for n, lanes in enumerate(args.lanes):
            if n:
                make_due_again(engine, args.due)
            clock.on = args.statements and n == 0
            busy, planned, server, bench = lanes_tick(engine, sessions, DUE, lanes)
            clock.on = False
            recorded, reserved = check_due_tick(sessions, args, planned)
            ticks.append(
                {
                    "lanes": lanes,
                    "seconds": round(busy, 2),
                    "server_cpu_seconds": round(server, 2),
                    "bench_cpu_seconds": round(bench, 2),
                }
            )
            print(f"due tick, {lanes} lane(s): {busy:.2f}s", flush=True)
        after, _ = timed_tick(sessions, DUE + timedelta(minutes=1))
        first = ticks[0]
        return {
            "database": engine.dialect.name,
            "journalists": args.journalists,
            "due": args.due,
            "items_per_digest": args.items,
            "idle_tick_ms_min": round(min(idle) * 1000, 1),
            "idle_tick_ms_median": round(statistics.median(idle) * 1000, 1),
            "due_tick_lanes": first["lanes"],
            "due_tick_seconds": first["seconds"],
            "due_tick_server_cpu_seconds": first["server_cpu_seconds"],
            "due_tick_bench_cpu_seconds": first["bench_cpu_seconds"],
            "due_ticks": ticks,
            "digests_recorded": recorded,
            "deliveries_reserved": reserved,
            "tick_after_ms": round(after * 1000, 1),
        } | ({"due_tick_statements": clock.report()} if args.statements else {})
    finally:
        engine.dispose()
        if not args.sqlite and not args.keep_db:
            drop_database()
        tmp.cleanup()


def check_due_tick(
    sessions: sessionmaker[Session], args: argparse.Namespace, planned: int
) -> tuple[int, int]:
    """Exactly ``--due`` digests recorded, their items reserved, nobody left due."""
    with sessions() as session:
        recorded = session.scalar(select(func.count()).select_from(Digest)) or 0
        reserved = session.scalar(select(func.count()).select_from(Delivery)) or 0
        looks = session.scalar(select(func.count()).where(Journalist.next_due_at <= DUE)) or 0
    if (recorded, planned, reserved, looks) != (
        args.due,
        args.due if args.items else 0,
        args.due * args.items,
        0,
    ):
        raise SystemExit(
            f"recorded {recorded}, planned {planned}, reserved {reserved}, "
            f"{looks} still due: expected {args.due} digests of {args.items} items"
        )
    return recorded, reserved


def lanes_list(value: str) -> list[int]:
    try:
        lanes = [int(part) for part in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {value!r}") from None
    if not lanes or min(lanes) < 1:
        raise argparse.ArgumentTypeError("lanes are 1 or more")
    return lanes


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--journalists", type=int, default=1_000_000, metavar="N")
    parser.add_argument("--due", type=int, default=100_000, help="due at one minute (100,000)")
    parser.add_argument("--items", type=int, default=2, help="items in each digest (2)")
    parser.add_argument("--repeat", type=int, default=10, help="idle ticks timed (10)")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PG")
    parser.add_argument(
        "--lanes",
        type=lanes_list,
        default=None,
        help="connections planning the due tick at once, one tick each: 1,2 (default 2; SQLite 1)",
    )
    parser.add_argument(
        "--statements", action="store_true", help="time the due tick's statements by kind"
    )
    parser.add_argument("--keep-db", action="store_true", help=f"keep the {DB_NAME} database")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)
    args.lanes = args.lanes or [1 if args.sqlite else 2]
    if not 0 <= args.due <= args.journalists:
        parser.error("--due must be between 0 and --journalists")
    if args.sqlite and max(args.lanes) > 1:
        parser.error("SQLite has one writer: --lanes 1 with --sqlite")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = run(args)
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
