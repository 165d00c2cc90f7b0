"""linked translations: an item's words in other languages, searched like the original

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 04:30:00.000000

PostgreSQL: the translations get a generated ``tsvector`` with a GIN index, like
items (0010). Both go through ``alerts_fold``: ``unaccent`` when the extension can
be created (so "Mexico" finds "México", as SQLite's FTS5 already does), the text as
it is otherwise. The function is IMMUTABLE so generated columns may call it.
SQLite: an FTS5 table over the translations, kept in step by triggers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import alerts.core.models

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOLD_UNACCENT = (
    "CREATE OR REPLACE FUNCTION alerts_fold(text) RETURNS text "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT "
    "AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$"
)
FOLD_PLAIN = (
    "CREATE OR REPLACE FUNCTION alerts_fold(text) RETURNS text "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$ SELECT $1 $$"
)


def pg_vector(*columns: str) -> str:
    words = " || ' ' || ".join(f"coalesce({c}, '')" for c in columns)
    return f"to_tsvector('simple'::regconfig, alerts_fold({words}))"


SQLITE_SEARCH = (
    "CREATE VIRTUAL TABLE items_fts_translations USING fts5(title, summary, body, "
    "content='item_translations', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER items_fts_translations_insert AFTER INSERT ON item_translations BEGIN "
    "INSERT INTO items_fts_translations(rowid, title, summary, body) "
    "VALUES (new.id, new.title, new.summary, new.body); END",
    "CREATE TRIGGER items_fts_translations_delete AFTER DELETE ON item_translations BEGIN "
    "INSERT INTO items_fts_translations(items_fts_translations, rowid, title, summary, body) "
    "VALUES ('delete', old.id, old.title, old.summary, old.body); END",
    "CREATE TRIGGER items_fts_translations_update AFTER UPDATE OF title, summary, body "
    "ON item_translations BEGIN "
    "INSERT INTO items_fts_translations(items_fts_translations, rowid, title, summary, body) "
    "VALUES ('delete', old.id, old.title, old.summary, old.body); "
    "INSERT INTO items_fts_translations(rowid, title, summary, body) "
    "VALUES (new.id, new.title, new.summary, new.body); END",
)


def _unaccent_available() -> bool:
    """Whether the extension is there or can be made (it needs its files installed)."""
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'unaccent'")).scalar():
        return True
    if not bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'")
    ).scalar():
        return False
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public"))
    except sa.exc.DBAPIError:
        return False  # not allowed to (no superuser nor trusted extension)
    return True


def upgrade() -> None:
    op.create_table(
        "item_translations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("image_alt", sa.String(length=300), nullable=True),
        sa.Column("image_caption", sa.String(length=500), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("document_titles", sa.JSON(), nullable=True),
        sa.Column("created_at", alerts.core.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", alerts.core.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name=op.f("fk_item_translations_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_translations")),
        sa.UniqueConstraint("item_id", "language", name=op.f("uq_item_translations_item_id")),
    )
    op.create_index(
        op.f("ix_item_translations_item_id"), "item_translations", ["item_id"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FOLD_UNACCENT if _unaccent_available() else FOLD_PLAIN)
        # The items' own column again, folded the same way as the query will be.
        op.execute("DROP INDEX IF EXISTS ix_items_search_vector")
        op.execute("ALTER TABLE items DROP COLUMN IF EXISTS search_vector")
        op.execute(
            "ALTER TABLE items ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
            f"({pg_vector('title', 'summary', 'body')}) STORED"
        )
        op.execute("CREATE INDEX ix_items_search_vector ON items USING gin (search_vector)")
        op.execute(
            "ALTER TABLE item_translations ADD COLUMN search_vector tsvector GENERATED ALWAYS "
            f"AS ({pg_vector('title', 'summary', 'body')}) STORED"
        )
        op.execute(
            "CREATE INDEX ix_item_translations_search_vector ON item_translations "
            "USING gin (search_vector)"
        )
    else:
        for statement in SQLITE_SEARCH:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_items_search_vector")
        op.execute("ALTER TABLE items DROP COLUMN IF EXISTS search_vector")
        op.execute(
            "ALTER TABLE items ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
            "(to_tsvector('simple'::regconfig, coalesce(title, '') || ' ' || "
            "coalesce(summary, '') || ' ' || coalesce(body, ''))) STORED"
        )
        op.execute("CREATE INDEX ix_items_search_vector ON items USING gin (search_vector)")
    else:
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS items_fts_translations_{name}")
        op.execute("DROP TABLE IF EXISTS items_fts_translations")
    op.drop_index(op.f("ix_item_translations_item_id"), table_name="item_translations")
    op.drop_table("item_translations")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS alerts_fold(text)")
