"""Per-row costs of one fan-out slice: the delivery insert without each constraint or index.

    BENCH_DB_NAME=alerts_bench .venv/bin/python -m bench.row_costs --rounds 3

Run against a database ``bench.fanout --fan-out-only --keep-db`` left (1,000,000
journalists and their deliveries). Each variant drops one foreign key or index in a
transaction, times a 20,000-row ``INSERT … SELECT … ON CONFLICT DO NOTHING`` for a
fresh copy of the item, and rolls back: nothing is changed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import psycopg

URL = f"postgresql://postgres@127.0.0.1:5432/{os.environ.get('BENCH_DB_NAME', 'alerts_bench')}"
SLICE = 20_000
INSERT = """INSERT INTO deliveries (item_id, journalist_id, status, attempts, created_at, queued_at)
SELECT %(item)s, j.id, 'pending', 0, now(), now() FROM journalists j
WHERE j.id BETWEEN %(low)s AND %(high)s
ON CONFLICT (item_id, journalist_id) DO NOTHING"""
FK_ITEM = "ALTER TABLE deliveries DROP CONSTRAINT fk_deliveries_item_id_items"
FK_JOURNALIST = "ALTER TABLE deliveries DROP CONSTRAINT fk_deliveries_journalist_id_journalists"
VARIANTS: dict[str, list[str]] = {
    "as is": [],
    "no FK item_id": [FK_ITEM],
    "no FK journalist_id": [FK_JOURNALIST],
    "no FK digest_id": ["ALTER TABLE deliveries DROP CONSTRAINT fk_deliveries_digest_id_digests"],
    "no ix status_next_attempt": ["DROP INDEX ix_deliveries_status_next_attempt"],
    "no ix item_status": ["DROP INDEX ix_deliveries_item_status"],
    "no ix digest_id": ["DROP INDEX ix_deliveries_digest_id"],
    "partial ix digest_id": [
        "DROP INDEX ix_deliveries_digest_id",
        "CREATE INDEX ix_deliveries_digest_id ON deliveries (digest_id) "
        "WHERE digest_id IS NOT NULL",
    ],
    "no FKs, no 3 ix": [
        FK_ITEM,
        FK_JOURNALIST,
        "DROP INDEX ix_deliveries_status_next_attempt",
        "DROP INDEX ix_deliveries_item_status",
        "DROP INDEX ix_deliveries_digest_id",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
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
        conn.commit()
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for r in range(rounds):
            for k, (name, ddl) in enumerate(VARIANTS.items()):
                # A different range each time: no run finds the pages another warmed.
                low = 100_001 + SLICE * (r * len(VARIANTS) + k)
                for statement in ddl:
                    conn.execute(statement)
                started = time.perf_counter()
                conn.execute(INSERT, {"item": row[0], "low": low, "high": low + SLICE - 1})
                times[name].append((time.perf_counter() - started) * 1000)
                conn.rollback()
        conn.execute("DELETE FROM items WHERE id = %s", [row[0]])
        conn.commit()
    base = statistics.median(times["as is"])
    for name, spent in times.items():
        median = statistics.median(spent)
        print(
            f"{name:28s} median {median:7.1f} ms (min {min(spent):6.1f}), "
            f"saves {base - median:6.1f} ms, {(base - median) * 1000 / SLICE:5.2f} µs a row"
        )


if __name__ == "__main__":
    main()
