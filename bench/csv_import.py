"""Journalist CSV import benchmark: N rows on SQLite and on PostgreSQL, rows/s and peak RSS.

Writes a file of N synthetic rows (one journalist and one subscription each,
cadences and countries varied), then imports it with the same code path as
``alerts journalists import`` in a fresh process per database, into an empty
schema, and prints the time, the rate and that process's peak RSS (``VmHWM``),
with its RSS before the import for comparison.

    .venv/bin/python -m bench.csv_import                 # 100,000 rows, both databases
    .venv/bin/python -m bench.csv_import --rows 400000 --only sqlite

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth, database
``test`` reachable) unless ``--only sqlite``; it creates and drops a database
``alerts_bench_csv``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_DATABASE = "alerts_bench_csv"
CADENCES = ("immediate", "daily", "weekly")
COUNTRIES = ("MX", "MX;US", "", "americas", "BR;AR;CL")
TOPICS = ("asylum", "", "torture;asylum", "refugees-and-migrants")


def write_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("email,name,outlet,countries,topics,cadence\n")
        for n in range(rows):
            out.write(
                f"reporter{n}@outlet{n % 997}.example,Reporter {n},Outlet {n % 997},"
                f"{COUNTRIES[n % 5]},{TOPICS[n % 4]},{CADENCES[n % 3]}\n"
            )


def _kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def run_one(database_url: str, csv_path: Path) -> dict[str, float]:
    """In the child process: migrate, import once, report."""
    from alerts.audience.csv_import import import_journalists
    from alerts.audience.membership import address_hasher
    from alerts.core.db import make_engine, make_session_factory
    from alerts.core.migrate import upgrade
    from alerts.core.models import utcnow
    from alerts.core.taxonomy import Taxonomy

    upgrade(database_url)
    sessions = make_session_factory(make_engine(database_url))
    hasher = address_hasher("bench-secret-0123456789-abcdefghij")
    taxonomy = Taxonomy()
    rss_before = _kb("VmRSS")
    started = time.perf_counter()
    with csv_path.open("rb") as source, sessions() as session:
        summary = import_journalists(session, source, taxonomy, utcnow(), hasher)
        session.commit()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "journalists": summary.journalists_created,
        "subscriptions": summary.subscriptions_added,
        "rss_before_mb": rss_before / 1024,
        "peak_rss_mb": _kb("VmHWM") / 1024,
    }


def _pg_database(create: bool) -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        if create:
            conn.execute(f"CREATE DATABASE {PG_DATABASE}")
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DATABASE}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument("--child", nargs=2, metavar=("URL", "CSV"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child[0], Path(args.child[1]))))
        return
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="alerts-bench-csv-") as tmp:
        csv_path = Path(tmp) / "journalists.csv"
        write_file(csv_path, args.rows)
        size_mb = csv_path.stat().st_size / 1e6
        print(f"{args.rows:,} rows, {size_mb:.1f} MB")
        for backend in ("sqlite", "postgres"):
            if args.only and backend != args.only:
                continue
            url = f"sqlite:///{tmp}/alerts.db" if backend == "sqlite" else _pg_database(True)
            try:
                child = subprocess.run(
                    [sys.executable, "-m", "bench.csv_import", "--child", url, str(csv_path)],
                    check=True,
                    capture_output=True,
                    text=True,
                    stdin=subprocess.DEVNULL,
                )
            finally:
                if backend == "postgres":
                    _pg_database(False)
            result = json.loads(child.stdout.strip().splitlines()[-1])
            assert result["journalists"] == args.rows, result
            results[backend] = result
            print(
                f"{backend:9} {result['seconds']:6.1f} s  {args.rows / result['seconds']:8,.0f} "
                f"rows/s  peak RSS {result['peak_rss_mb']:5.0f} MB "
                f"(before the import {result['rss_before_mb']:.0f} MB)"
            )
    if args.json:
        print(json.dumps({"rows": args.rows, "results": results}))


if __name__ == "__main__":
    main()
