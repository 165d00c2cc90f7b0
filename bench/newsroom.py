"""Newsroom benchmark: 20,000 published items, ``alerts serve`` driven by ``wrk``.

Seeds N items (countries, topics, kinds, four languages, Markdown bodies; a few
drafts and embargoed items among them, so the visibility rule has work to do)
into a fresh database, starts the real ``alerts serve`` process on it and, for
each page, runs ``wrk`` twice:

- **max**: as fast as ``--connections`` connections go, for ``--duration`` seconds;
- **fixed rate**: the same connections paced by wrk's Lua ``delay()`` hook to
  about ``--rate`` requests/s (the delay corrected from the rate reached), reporting
  p50/p99 latency from its ``done()`` hook.

Each page on two servers over the same rows: the default (``ALERTS_NEWSROOM_CACHE_MB``
32: after the first request a page is served from the process's cache until a write)
and ``cache off`` (every request rendered; ``--no-cache-off`` skips it).

    .venv/bin/python -m bench.newsroom                      # SQLite, then PostgreSQL
    .venv/bin/python -m bench.newsroom --only postgres --items 20000
    .venv/bin/python -m bench.newsroom --only sqlite --json
    .venv/bin/python -m bench.newsroom --only postgres --serve-workers 2  # serve --workers 2

Needs ``wrk`` (Debian package ``wrk``; ``make wrk``) and, unless ``--only
sqlite``, PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth, database
``test`` reachable); it creates and drops a database ``alerts_bench_news``.
Everything shares the machine's cores (the server, wrk, PostgreSQL): compare
rows of one run, not runs on different days.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
PG_ADMIN_URL = f"postgresql://postgres@{HOST}:5432/test"
DB_NAME = os.environ.get("BENCH_NEWS_DB_NAME", "alerts_bench_news")
PG_URL = f"postgresql+psycopg://postgres@{HOST}:5432/{DB_NAME}"
SECRET = "bench-newsroom-4f0c9a7e1b2d83c6a5e9f0d1c2b3a4e5"

LANGUAGES = ("en", "en", "en", "es", "es", "fr", "ar")
KINDS = ("press_release", "press_release", "report", "statement", "news")
# Weighted towards the desk's own countries, as a real archive is.
COUNTRY_POOL = ("MX",) * 6 + ("US", "GT", "HN", "SV", "BR", "CO", "VE", "AR", "CL", "PE") * 2
COUNTRY_POOL += ("FR", "ES", "DE", "NG", "KE", "EG", "IN", "PH", "UA", "TR", "IR", "SA")
SEARCH_WORD = "ayotzinapa"  # in one body in 40: a name a journalist would search for

# (name, path): the pages the issue names, and the feed revalidated (a reader polling).
PAGES = (
    ("/news", "/news"),
    ("filtered", "/news?country=MX&topic=asylum"),
    ("search", f"/news?q={SEARCH_WORD}"),
    ("feed", "/news/feed.atom"),
    ("feed, filtered", "/news/feed.atom?country=MX&topic=asylum"),
)

LUA = """
local pace = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local extra = os.getenv("BENCH_HEADER")
if extra and extra ~= "" then
  local k, v = extra:match("^([^:]+):%s*(.*)$")
  wrk.headers[k] = v
end
function delay()
  return pace
end
function done(summary, latency, requests)
  local out = {
    requests = summary.requests,
    duration_us = summary.duration,
    errors = summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    status_errors = summary.errors.status,
    p50_us = latency:percentile(50),
    p90_us = latency:percentile(90),
    p99_us = latency:percentile(99),
    max_us = latency.max,
  }
  local parts = {}
  for k, v in pairs(out) do parts[#parts + 1] = string.format('"%s": %d', k, v) end
  io.write("BENCH_JSON {" .. table.concat(parts, ", ") .. "}\\n")
end
"""


class BenchFailed(RuntimeError):
    pass


@dataclass
class Row:
    setup: str
    page: str
    path: str
    bytes: int
    max_rps: float
    cpu_ms: float  # the server process's CPU time per request in the flat-out run
    max_p99_ms: float
    paced_rps: float
    p50_ms: float
    p99_ms: float
    errors: int


# --------------------------------------------------------------------------- seeding


def _body(rng: random.Random, n: int) -> str:
    name = SEARCH_WORD.capitalize() if n % 40 == 0 else "the region"
    paragraphs = [
        f"## What happened in {name}",
        " ".join(
            "Authorities must investigate the reported abuses promptly, impartially and "
            f"independently (case {n}-{s}), and bring those **responsible** to justice."
            for s in range(rng.randint(2, 4))
        ),
        "Key facts:\n\n" + "\n".join(f"- finding {k}: *documented* by witnesses" for k in range(3)),
        f"Read the [full report](https://example.org/reports/{n}) and the annex.",
        " ".join("Families are still waiting for answers." for _ in range(rng.randint(3, 8))),
    ]
    return "\n\n".join(paragraphs)


def seed(database_url: str, count: int) -> dict[str, int]:
    """Bulk-insert ``count`` items straight into the tables (Core executemany)."""
    from sqlalchemy import insert

    from alerts.core.db import make_engine
    from alerts.core.migrate import upgrade
    from alerts.core.models import Item, ItemCountry, ItemStatus, ItemTopic
    from alerts.core.taxonomy import DEFAULT_TOPICS

    upgrade(database_url)
    rng = random.Random(18)
    topics = sorted(DEFAULT_TOPICS)
    now = datetime.now(UTC).replace(microsecond=0)
    items: list[dict[str, Any]] = []
    countries: list[dict[str, Any]] = []
    item_topics: list[dict[str, Any]] = []
    hidden = 0
    for n in range(1, count + 1):
        # Newest last, about three years back, a few a day.
        published = now - timedelta(minutes=(count - n) * 75 + rng.randint(0, 60))
        status = ItemStatus.PUBLISHED
        embargo_until = None
        if n % 97 == 0:
            status, hidden = ItemStatus.DRAFT, hidden + 1
        elif n % 89 == 0:
            status, hidden = ItemStatus.EMBARGOED, hidden + 1
            embargo_until = now + timedelta(days=2)
        visible = status == ItemStatus.PUBLISHED
        items.append(
            {
                "id": n,
                "kind": rng.choice(KINDS),
                "title": f"Release {n}: families demand answers on case {rng.randint(1, 9999)}",
                "summary": "Authorities must act now; the families have waited long enough.",
                "body": _body(rng, n),
                "language": rng.choice(LANGUAGES),
                "status": status,
                "embargo_until": embargo_until,
                "published_at": published if visible else None,
                "created_at": published,
                "updated_at": published,
            }
        )
        for code in rng.sample(COUNTRY_POOL, rng.randint(1, 3)):
            countries.append({"item_id": n, "country": code})
        for code in rng.sample(topics, rng.randint(1, 3)):
            item_topics.append({"item_id": n, "topic": code})
    # The same country twice in the pool may be drawn twice for one item.
    unique_countries = list({(r["item_id"], r["country"]): r for r in countries}.values())
    engine = make_engine(database_url)
    with engine.begin() as connection:
        for start in range(0, len(items), 2000):
            connection.execute(insert(Item), items[start : start + 2000])
        connection.execute(insert(ItemCountry), unique_countries)
        connection.execute(insert(ItemTopic), item_topics)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            # As an archive built over years is: vacuumed (index-only scans) and analysed.
            connection.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return {"items": count, "hidden": hidden}


# --------------------------------------------------------------------------- databases


@contextmanager
def postgres(keep: bool, name: str = DB_NAME) -> Iterator[str]:
    import psycopg

    def admin(statement: str) -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
            connection.execute(statement)

    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.replace(DB_NAME, name)
    finally:
        if not keep:
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


@contextmanager
def serve(
    database_url: str,
    data_dir: Path,
    tree: Path | None = None,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[str, int]]:
    """``tree``: another checkout whose ``alerts`` package the server runs (``--baseline``);
    ``workers``: ``alerts serve --workers``, processes sharing the port; ``extra_env``:
    settings of this server only (``ALERTS_NEWSROOM_CACHE_MB=0``)."""
    port = _free_port()
    base = f"http://{HOST}:{port}"
    env = os.environ | {
        "ALERTS_DATABASE_URL": database_url,
        "ALERTS_DATA_DIR": str(data_dir),
        "ALERTS_SECRET_KEY": SECRET,
        "ALERTS_BASE_URL": base,
        # serve builds the Celery app but sends nothing here: a local broker file will do.
        "ALERTS_BROKER_URL": f"sqla+sqlite:///{data_dir / 'broker.db'}",
    }
    if workers > 1:
        # Several processes must share the sign-up limits' counters (serve refuses
        # memory://); the newsroom's pages never touch them.
        env["ALERTS_RATE_LIMIT_STORAGE"] = "redis://127.0.0.1:6379/14"
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    env |= extra_env or {}
    alerts = str(Path(sys.executable).with_name("alerts"))
    log = (data_dir / f"serve-{port}.log").open("wb")
    process = subprocess.Popen(
        [alerts, "serve", "--host", HOST, "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise BenchFailed(f"alerts serve exited: see {log.name}")
            try:
                if _get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchFailed("alerts serve did not answer /healthz within 60 s")
            time.sleep(0.2)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


# --------------------------------------------------------------------------- wrk


def wrk(
    url: str, connections: int, seconds: int, delay_ms: int, header: str = ""
) -> dict[str, int]:
    binary = shutil.which("wrk")
    if binary is None:
        raise BenchFailed("wrk not found: apt-get install wrk (or make wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA)
    try:
        env = os.environ | {"BENCH_DELAY_MS": str(delay_ms), "BENCH_HEADER": header}
        result = subprocess.run(
            [binary, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script.name, url],
            env=env,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
    finally:
        os.unlink(script.name)
    for line in result.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            figures: dict[str, int] = json.loads(line.removeprefix("BENCH_JSON "))
            return figures
    raise BenchFailed(f"wrk printed no figures: {result.stdout}\n{result.stderr}")


@contextmanager
def profiled(pid: int, out: Path | None, seconds: int) -> Iterator[None]:
    """py-spy's collapsed stacks of the server while wrk drives it (``--profile DIR``)."""
    if out is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise BenchFailed("--profile needs py-spy: .venv/bin/pip install py-spy")
    recorder = subprocess.Popen(
        [spy, "record", "-p", str(pid), "-d", str(seconds), "-f", "raw", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        recorder.wait(timeout=seconds + 30)


def measure(setup: str, servers: dict[str, tuple[str, int]], args: argparse.Namespace) -> list[Row]:
    """Page by page, each server in turn (``--baseline``): the same load on both."""
    rows = []
    for name, path in PAGES:
        for version, (base, pid) in servers.items():
            if args.pages and name not in args.pages.split(","):
                continue
            label = setup if version == "current" else f"{setup} ({version})"
            rows += _measure_page(label, name, path, base, pid, args)
    return rows


def _cpu_seconds(pid: int) -> float:
    """User + system time of the server so far (/proc), its worker processes included
    (``--serve-workers``): what a request costs whatever else the machine is doing,
    where req/s and latency depend on the other load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_cpu_seconds(child) for child in _children(pid))


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _measure_page(
    setup: str, name: str, path: str, base: str, pid: int, args: argparse.Namespace
) -> list[Row]:
    rows = []
    url = base + path
    status, body, headers = _get(url)
    if status != 200:
        raise BenchFailed(f"{path}: HTTP {status}")
    pages = [(name, path, "")]
    if name == "feed":
        # What a feed reader's poll costs once it holds the ETag.
        pages.append(("feed, 304", path, f"If-None-Match: {headers['etag']}"))
    for label, page_path, header in pages:
        # A few requests first: the server's caches and the database's pages warm.
        for _ in range(5):
            _get(url, dict([header.split(": ", 1)]) if header else None)
        out = None
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
            slug = "".join(c if c.isalnum() else "-" for c in label)
            out = args.profile / f"{setup}-{slug}.txt"
        cpu_before = _cpu_seconds(pid)
        with profiled(pid, out, args.duration):
            top = wrk(url, args.connections, args.duration, 0, header)
        cpu = _cpu_seconds(pid) - cpu_before
        paced = _paced(url, header, args)
        rows.append(
            Row(
                setup=setup,
                page=label,
                path=page_path,
                bytes=0 if header else len(body),
                max_rps=top["requests"] / (top["duration_us"] / 1e6),
                cpu_ms=1000 * cpu / max(1, top["requests"]),
                max_p99_ms=top["p99_us"] / 1000,
                paced_rps=paced["requests"] / (paced["duration_us"] / 1e6),
                p50_ms=paced["p50_us"] / 1000,
                p99_ms=paced["p99_us"] / 1000,
                errors=top["errors"]
                + top["status_errors"]
                + paced["errors"]
                + paced["status_errors"],
            )
        )
        print(f"  {setup:8} {label:15} done", file=sys.stderr, flush=True)
    return rows


def _paced(url: str, header: str, args: argparse.Namespace) -> dict[str, int]:
    """wrk's ``delay()`` waits after each answer, so the rate falls short by the
    answers' own time: the delay is corrected from the rate reached (up to three
    runs), and the run closest to the rate asked for is the one reported."""
    pace = 1000 * args.connections / args.rate
    runs: list[tuple[float, dict[str, int]]] = []
    for _ in range(3):
        paced = wrk(url, args.connections, args.duration, round(pace), header)
        reached = paced["requests"] / (paced["duration_us"] / 1e6)
        runs.append((abs(reached - args.rate), paced))
        if abs(reached - args.rate) <= 0.05 * args.rate or pace < 1:
            break
        pace = max(0.0, pace - 1000 * args.connections * (1 / reached - 1 / args.rate))
    return min(runs, key=lambda run: run[0])[1]


def run_setup(setup: str, args: argparse.Namespace) -> list[Row]:
    with contextlib.ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-news-")))
        databases = {}
        for version in ("current", "baseline") if args.baseline else ("current",):
            if setup == "sqlite":
                databases[version] = f"sqlite:///{data_dir / f'{version}.db'}"
            else:
                name = DB_NAME if version == "current" else f"{DB_NAME}_baseline"
                databases[version] = stack.enter_context(postgres(args.keep_db, name))
        started = time.perf_counter()
        seeded = seed(databases["current"], args.items)
        if args.baseline:
            # Migrated and seeded by the baseline's own code: its schema, the same rows.
            _seed_with(args.baseline, databases["baseline"], args.items)
        print(
            f"{setup}: {seeded['items']} items seeded ({seeded['hidden']} drafts or embargoed)"
            f" in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        servers = {
            "current": stack.enter_context(
                serve(databases["current"], data_dir, workers=args.serve_workers)
            )
        }
        if args.baseline:
            servers["baseline"] = stack.enter_context(
                serve(databases["baseline"], data_dir, args.baseline, args.serve_workers)
            )
        if args.cache_off:
            # The same rows, every request rendered: what a page costs the first time
            # after any write (and the worst case of an archive read at random).
            servers["cache off"] = stack.enter_context(
                serve(
                    databases["current"],
                    data_dir,
                    workers=args.serve_workers,
                    extra_env={"ALERTS_NEWSROOM_CACHE_MB": "0"},
                )
            )
        return measure(setup, servers, args)


def _seed_with(tree: Path, database_url: str, count: int) -> None:
    env = os.environ | {"PYTHONPATH": str(tree)}
    subprocess.run(
        [sys.executable, __file__, "--seed-only", database_url, "--items", str(count)],
        env=env,
        check=True,
        cwd=tree,
    )


def table(rows: list[Row], args: argparse.Namespace) -> str:
    lines = [
        f"| set-up | page | max req/s ({args.connections} conn.) | server CPU/req | p99 at max | "
        f"req/s paced | p50 at ~{args.rate:g}/s | p99 at ~{args.rate:g}/s | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.setup} | `{r.path}`{' (304)' if '304' in r.page else ''} | {r.max_rps:.0f} | "
            f"{r.cpu_ms:.1f} ms | "
            f"{r.max_p99_ms:.1f} ms | {r.paced_rps:.0f} | {r.p50_ms:.1f} ms | "
            f"{r.p99_ms:.1f} ms | {r.errors} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s of the paced run")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--serve-workers", type=int, default=1, help="alerts serve --workers (processes)"
    )
    parser.add_argument(
        "--profile", type=Path, help="write py-spy's collapsed stacks of each max run here"
    )
    parser.add_argument(
        "--no-cache-off",
        dest="cache_off",
        action="store_false",
        help="skip the second server with ALERTS_NEWSROOM_CACHE_MB=0 (run by default)",
    )
    parser.add_argument("--pages", help="only these pages (comma-separated names, e.g. feed)")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout to compare with in the same run (e.g. `git worktree add /tmp/b main`):"
        " its own schema and code, the same rows, each page driven on both in turn",
    )
    parser.add_argument("--seed-only", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed_only:
        seed(args.seed_only, args.items)
        return 0
    if args.baseline is not None:
        args.baseline = args.baseline.resolve()
    setups = [args.only] if args.only else ["sqlite", "postgres"]
    rows: list[Row] = []
    try:
        for setup in setups:
            rows += run_setup(setup, args)
    except BenchFailed as failure:
        print(f"bench failed: {failure}", file=sys.stderr)
        return 1
    print(table(rows, args))
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
