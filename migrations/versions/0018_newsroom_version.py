"""newsroom_version: a number that changes whenever what the newsroom shows may have

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 15:10:00.000000

The public newsroom keeps rendered lists and feeds (web/newsroom_cache.py) while
this number stays the same. It is moved by the database itself, on every write
to the tables those pages read (items, their countries, topics and
translations), so the CLI, the API, the worker, the feed poller and a CMS
writing straight into the tables all invalidate the pages alike: no write can
forget to.

The value is a time in microseconds, or the last value plus one if that is
larger: it only grows, even if the row is deleted and written again.

PostgreSQL: a row-level *deferred* constraint trigger, so the row is written
once per transaction, at commit, after the transaction has taken every other
lock it needs. A plain trigger would take the row's lock at the first write
and hold it to the end, making every writer of items wait for every other one
(and deadlock where two of them touch the same items in turn). TRUNCATE has no
row triggers: a statement trigger covers it. SQLite: per-row triggers (SQLite
has one writer at a time anyway).

Like the search triggers of 0010, a later migration that rebuilds one of these
tables on SQLite (a batch ALTER) drops its triggers and must create them again
(``create_sqlite_triggers``); ``tests/test_newsroom_cache.py`` checks head.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("items", "item_countries", "item_topics", "item_translations")

PG_NOW_US = "(extract(epoch from clock_timestamp()) * 1000000)::bigint"
SQLITE_NOW_US = "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)"
UPSERT = (
    "INSERT INTO newsroom_version (id, version) VALUES (1, {now}) "
    "ON CONFLICT (id) DO UPDATE SET version = {greatest}(newsroom_version.version + 1, "
    "excluded.version)"
)

PG_FUNCTION = f"""
CREATE FUNCTION newsroom_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Once per transaction: the first deferred event at commit writes the row.
  IF coalesce(current_setting('alerts.newsroom_bumped', true), '') <> '1' THEN
    {UPSERT.format(now=PG_NOW_US, greatest="greatest")};
    PERFORM set_config('alerts.newsroom_bumped', '1', true);
  END IF;
  RETURN NULL;
END $$
"""


def create_sqlite_triggers(table: str) -> None:
    upsert = UPSERT.format(now=SQLITE_NOW_US, greatest="max")
    for event in ("insert", "update", "delete"):
        op.execute(
            f"CREATE TRIGGER newsroom_version_{table}_{event} AFTER {event.upper()} ON {table} "
            f"BEGIN {upsert}; END"
        )


def upgrade() -> None:
    op.execute(
        "CREATE TABLE newsroom_version (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "version BIGINT NOT NULL)"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(UPSERT.format(now=PG_NOW_US, greatest="greatest"))
        op.execute(PG_FUNCTION)
        for table in TABLES:
            op.execute(
                f"CREATE CONSTRAINT TRIGGER newsroom_version_{table} "
                f"AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                "EXECUTE FUNCTION newsroom_version_bump()"
            )
            op.execute(
                f"CREATE TRIGGER newsroom_version_{table}_truncate AFTER TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION newsroom_version_bump()"
            )
    else:
        op.execute(UPSERT.format(now=SQLITE_NOW_US, greatest="max"))
        for table in TABLES:
            create_sqlite_triggers(table)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS newsroom_version_{table} ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS newsroom_version_{table}_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS newsroom_version_bump()")
    else:
        for table in TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS newsroom_version_{table}_{event}")
    op.execute("DROP TABLE IF EXISTS newsroom_version")
