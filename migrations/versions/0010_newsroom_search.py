"""newsroom search: full-text index over items' title, summary and body

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 00:30:00.000000

PostgreSQL: a generated ``tsvector`` column with a GIN index. SQLite: an FTS5
table over ``items`` (external content) kept in step by triggers. Both live in
the database itself, so every writer keeps the index current: the CLI, the API,
the feed poller and a CMS writing straight into the table alike.

The ``simple`` configuration (no stemming, no stop words) because items come in
several languages and one column serves them all.

A later migration that rebuilds ``items`` on SQLite (a batch ALTER copies the
table) drops its triggers: it must run ``create_sqlite_search`` again.
``tests/test_newsroom_search.py`` checks that head has them.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_VECTOR = (
    "to_tsvector('simple'::regconfig, "
    "coalesce(title, '') || ' ' || coalesce(summary, '') || ' ' || coalesce(body, ''))"
)

SQLITE_SEARCH = (
    # remove_diacritics 2: "Mexico" finds "México".
    "CREATE VIRTUAL TABLE items_fts USING fts5(title, summary, body, content='items', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN "
    "INSERT INTO items_fts(rowid, title, summary, body) "
    "VALUES (new.id, new.title, new.summary, new.body); END",
    "CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN "
    "INSERT INTO items_fts(items_fts, rowid, title, summary, body) "
    "VALUES ('delete', old.id, old.title, old.summary, old.body); END",
    "CREATE TRIGGER items_fts_update AFTER UPDATE OF title, summary, body ON items BEGIN "
    "INSERT INTO items_fts(items_fts, rowid, title, summary, body) "
    "VALUES ('delete', old.id, old.title, old.summary, old.body); "
    "INSERT INTO items_fts(rowid, title, summary, body) "
    "VALUES (new.id, new.title, new.summary, new.body); END",
    # The items already stored.
    "INSERT INTO items_fts(items_fts) VALUES ('rebuild')",
)


def create_sqlite_search() -> None:
    for statement in SQLITE_SEARCH:
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"ALTER TABLE items ADD COLUMN search_vector tsvector "
            f"GENERATED ALWAYS AS ({PG_VECTOR}) STORED"
        )
        op.execute("CREATE INDEX ix_items_search_vector ON items USING gin (search_vector)")
    else:
        create_sqlite_search()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_items_search_vector")
        op.execute("ALTER TABLE items DROP COLUMN IF EXISTS search_vector")
    else:
        for name in ("items_fts_insert", "items_fts_delete", "items_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS items_fts")
