"""deliveries: no per-row foreign key check on item_id, no index of pending rows by journalist

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 15:00:00.000000

A fan-out writes a million delivery rows. The foreign key on ``deliveries.item_id``
checked each one (a ``SELECT … FOR KEY SHARE`` of the item, the same item every
time): 3.7 µs a row, about a fifth of a slice's insert. Only our code writes
deliveries, in two places (``delivery/matching.py`` through ``delivery/fanout.py``,
and ``digests/planning.py``), and both now lock the items they write rows for
``FOR KEY SHARE`` first, once per statement: an item cannot be deleted under them,
and one deleted before is not found, so no row is written for it.

Items, though, may be deleted by any writer (a CMS shares the database), so what
``ON DELETE CASCADE`` did stays in the database: a trigger deletes an item's
deliveries with it. A delete waits for a fan-out holding the item's lock, then its
trigger (a new snapshot per statement) sees and deletes the rows that fan-out wrote.

``ix_deliveries_journalist_pending`` (0017) goes: every fan-out row entered it,
about a fifth of a bare insert, for the one-click unsubscribe's cancel of pending
rows. Pending alert rows are now cancelled by the claim that takes them, which
checks the journalist in the statement that moves them to ``sending``
(``delivery/store.py``), so nothing is sent after an unsubscribe; an unsubscribe
still cancels the journalist's pending digests, found by journalist as before.

A later migration that rebuilds ``items`` on SQLite (a batch ALTER copies the
table) drops its triggers: it must run ``create_sqlite_triggers`` again;
``tests/test_delivery_integrity.py`` checks that head has it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from alerts.core.migrate import sqlite_keys_off

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK_ITEM = "fk_deliveries_item_id_items"
PENDING = sa.text("status = 'pending'")

PG_TRIGGERS = (
    """CREATE FUNCTION items_delete_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM deliveries WHERE item_id = OLD.id;
  RETURN NULL;
END $$""",
    "CREATE TRIGGER items_delete_deliveries AFTER DELETE ON items "
    "FOR EACH ROW EXECUTE FUNCTION items_delete_deliveries()",
)
PG_DROP = (
    "DROP TRIGGER IF EXISTS items_delete_deliveries ON items",
    "DROP FUNCTION IF EXISTS items_delete_deliveries()",
)
SQLITE_TRIGGERS = (
    "CREATE TRIGGER items_delete_deliveries AFTER DELETE ON items "
    "BEGIN DELETE FROM deliveries WHERE item_id = OLD.id; END",
)
SQLITE_DROP = ("DROP TRIGGER IF EXISTS items_delete_deliveries",)


def create_sqlite_triggers() -> None:
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    op.drop_index("ix_deliveries_journalist_pending", table_name="deliveries")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(FK_ITEM, "deliveries", type_="foreignkey")
        for statement in PG_TRIGGERS:
            op.execute(statement)
        return
    with sqlite_keys_off("deliveries"), op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(FK_ITEM, type_="foreignkey")
    create_sqlite_triggers()


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in PG_DROP if postgres else SQLITE_DROP:
        op.execute(statement)
    with sqlite_keys_off("deliveries"):
        # None should exist (every writer locks its items); the key could not be made if
        # one did.
        op.execute(
            "DELETE FROM deliveries WHERE NOT EXISTS "
            "(SELECT 1 FROM items WHERE items.id = deliveries.item_id)"
        )
        with op.batch_alter_table("deliveries", schema=None) as batch_op:
            batch_op.create_foreign_key(FK_ITEM, "items", ["item_id"], ["id"], ondelete="CASCADE")
    op.create_index(
        "ix_deliveries_journalist_pending",
        "deliveries",
        ["journalist_id"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
