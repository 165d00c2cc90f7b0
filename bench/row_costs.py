"""Per-row costs of one fan-out slice: the delivery insert without each constraint or index.

    BENCH_DB_NAME=alerts_bench .venv/bin/python -m bench.row_costs --rounds 3
    .venv/bin/python -m bench.row_costs --rounds 7 --only "no FK item_id"

Run against a database ``bench.fanout --fan-out-only --keep-db`` left (1,000,000
journalists and their deliveries; made by the code before migration 0019 to see
what 0019 removed: on a newer one those variants change nothing). Each variant drops
one foreign key or index in a transaction, times a 20,000-row ``INSERT … SELECT …
ON CONFLICT DO NOTHING`` for a fresh copy of the item, and rolls back: nothing is
changed. It reports the wall time and the server process's CPU time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import psycopg

URL = f"postgresql://postgres@127.0.0.1:5432/{os.environ.get('BENCH_DB_NAME', 'alerts_bench')}"
SLICE = 20_000
INSERT = """INSERT INTO deliveries (item_id, journalist_id, status, attempts, created_at, queued_at)
SELECT %(item)s, j.id, 'pending', 0, now(), now() FROM journalists j
WHERE j.id BETWEEN %(low)s AND %(high)s
ON CONFLICT (item_id, journalist_id) DO NOTHING"""
DROP_FK = "ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS fk_deliveries_"
FK_ITEM = DROP_FK + "item_id_items"
FK_JOURNALIST = DROP_FK + "journalist_id_journalists"
PENDING_IX = "DROP INDEX IF EXISTS ix_deliveries_journalist_pending"


# Tried, not adopted: each key checked by one statement over the new rows (an AFTER
# INSERT … FOR EACH STATEMENT trigger with a transition table), not per row. Keeping the
# new rows in the transition table costs most of what it saves.
def _statement_check(column: str, table: str) -> list[str]:
    return [
        f"{DROP_FK}{column}_{table}",
        f"""CREATE FUNCTION bench_{column}_exists() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE wanted integer; locked integer;
BEGIN
  SELECT count(DISTINCT {column}) INTO wanted FROM new_rows;
  PERFORM 1 FROM {table} WHERE id IN (SELECT {column} FROM new_rows) FOR KEY SHARE;
  GET DIAGNOSTICS locked = ROW_COUNT;
  IF locked < wanted THEN RAISE foreign_key_violation; END IF;
  RETURN NULL;
END $$""",
        f"CREATE TRIGGER bench_{column}_exists AFTER INSERT ON deliveries "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        f"EXECUTE FUNCTION bench_{column}_exists()",
    ]


VARIANTS: dict[str, list[str]] = {
    "as is": [],
    "no FK item_id": [FK_ITEM],
    "FK item_id -> stmt trigger": _statement_check("item_id", "items"),
    "no ix journalist_pending": [PENDING_IX],
    # Migration 0019: the item's check in the code (a lock per statement), and no index.
    "0019 (no FK item_id, no ix)": [FK_ITEM, PENDING_IX],
    "no FK journalist_id": [FK_JOURNALIST],
    "FK journalist_id -> stmt trigger": _statement_check("journalist_id", "journalists"),
    "no FK digest_id": [
        "ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS fk_deliveries_digest_id_digests"
    ],
    "no ix status_next_attempt": ["DROP INDEX IF EXISTS ix_deliveries_status_next_attempt"],
    "no ix item_status": ["DROP INDEX IF EXISTS ix_deliveries_item_status"],
    "no ix digest_id": ["DROP INDEX IF EXISTS ix_deliveries_digest_id"],
    "partial ix digest_id": [
        "DROP INDEX IF EXISTS ix_deliveries_digest_id",
        "CREATE INDEX ix_deliveries_digest_id ON deliveries (digest_id) "
        "WHERE digest_id IS NOT NULL",
    ],
    "no FKs, no 3 ix": [
        FK_ITEM,
        FK_JOURNALIST,
        "DROP INDEX IF EXISTS ix_deliveries_status_next_attempt",
        "DROP INDEX IF EXISTS ix_deliveries_item_status",
        "DROP INDEX IF EXISTS ix_deliveries_digest_id",
    ],
}


def _backend_cpu_ms(pid: int) -> float:
    """CPU time the server process has spent on a core: schedstat's first field, in ns.
    Steadier than the wall clock on a machine shared with other work."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--only", action="append", default=[], help="the variants to run (and 'as is'), by name"
    )
    args = parser.parse_args()
    variants = {
        name: ddl
        for name, ddl in VARIANTS.items()
        if not args.only or name == "as is" or name in args.only
    }
    ranges = (1_000_000 - 100_000) // SLICE
    with psycopg.connect(URL) as conn:
        conn.execute("SET jit = off")
        columns = ", ".join(
            name
            for (name,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'items'"
                " AND column_name NOT IN ('id', 'external_id') AND is_generated = 'NEVER'"
            ).fetchall()
        )
        row = conn.execute(
            f"INSERT INTO items ({columns}) SELECT {columns} FROM items ORDER BY id LIMIT 1 "
            "RETURNING id"
        ).fetchone()
        assert row is not None, "no item: seed with bench.fanout --keep-db first"
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert backend is not None
        conn.commit()
        times: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        for r in range(rounds := args.rounds):
            for k, (name, ddl) in enumerate(variants.items()):
                # A different range each time (while there are enough): no run finds the
                # pages another warmed.
                low = 100_001 + SLICE * ((r * len(variants) + k) % ranges)
                for statement in ddl:
                    conn.execute(statement)
                before = _backend_cpu_ms(backend[0])
                started = time.perf_counter()
                conn.execute(INSERT, {"item": row[0], "low": low, "high": low + SLICE - 1})
                times[name].append((time.perf_counter() - started) * 1000)
                cpu[name].append(_backend_cpu_ms(backend[0]) - before)
                conn.rollback()
        conn.execute("DELETE FROM items WHERE id = %s", [row[0]])
        conn.commit()
    base, base_cpu = statistics.median(times["as is"]), statistics.median(cpu["as is"])
    print(f"{rounds} rounds; medians; server CPU is the backend's own time on a core")
    for name in variants:
        median, median_cpu = statistics.median(times[name]), statistics.median(cpu[name])
        print(
            f"{name:28s} wall {median:7.1f} ms (min {min(times[name]):6.1f}), "
            f"server CPU {median_cpu:7.1f} ms, saves {base_cpu - median_cpu:6.1f} ms CPU "
            f"({(base_cpu - median_cpu) * 1000 / SLICE:5.2f} µs a row; wall "
            f"{(base - median) * 1000 / SLICE:5.2f})"
        )


if __name__ == "__main__":
    main()
