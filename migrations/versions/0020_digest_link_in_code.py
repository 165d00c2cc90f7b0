"""deliveries: no per-row foreign key check on digest_id; a trigger unlinks deleted digests

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 10:00:00.000000

Digest planning reserves each digest's items as delivery rows in the statement that
writes the digests (``digests/planning.py``): 4,000 rows per chunk of 2,000, and the
foreign key on ``deliveries.digest_id`` checked each one against a digest that the
same statement had just written, 26 ms of a chunk's 160 (``EXPLAIN ANALYZE``). Only
the planner writes a ``digest_id`` (the fan-out writes none), always a digest of its
own transaction, so the check can never fail.

What ``ON DELETE SET NULL`` did stays in the database, for any writer (the
retention duty deletes old digests): a trigger unlinks a deleted digest's rows.

A later migration that rebuilds ``digests`` on SQLite (a batch ALTER copies the
table) drops its triggers: it must run ``create_sqlite_triggers`` again;
``tests/test_delivery_integrity.py`` checks that head has it.
"""

from collections.abc import Sequence

from alembic import op

from alerts.core.migrate import sqlite_keys_off

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK_DIGEST = "fk_deliveries_digest_id_digests"

# One statement per delete, however many digests it removes (retention removes many).
PG_TRIGGERS = (
    """CREATE FUNCTION digests_unlink_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE deliveries SET digest_id = NULL WHERE digest_id IN (SELECT id FROM gone);
  RETURN NULL;
END $$""",
    "CREATE TRIGGER digests_unlink_deliveries AFTER DELETE ON digests "
    "REFERENCING OLD TABLE AS gone "
    "FOR EACH STATEMENT EXECUTE FUNCTION digests_unlink_deliveries()",
)
PG_DROP = (
    "DROP TRIGGER IF EXISTS digests_unlink_deliveries ON digests",
    "DROP FUNCTION IF EXISTS digests_unlink_deliveries()",
)
SQLITE_TRIGGERS = (
    "CREATE TRIGGER digests_unlink_deliveries AFTER DELETE ON digests "
    "BEGIN UPDATE deliveries SET digest_id = NULL WHERE digest_id = OLD.id; END",
)
SQLITE_DROP = ("DROP TRIGGER IF EXISTS digests_unlink_deliveries",)
# 0019's trigger on items names deliveries: SQLite refuses to rename the copy into
# place while it is there, so it is made again after the copy.
SQLITE_ITEMS_TRIGGER = (
    "CREATE TRIGGER items_delete_deliveries AFTER DELETE ON items "
    "BEGIN DELETE FROM deliveries WHERE item_id = OLD.id; END"
)


def create_sqlite_triggers() -> None:
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(FK_DIGEST, "deliveries", type_="foreignkey")
        for statement in PG_TRIGGERS:
            op.execute(statement)
        return
    op.execute("DROP TRIGGER items_delete_deliveries")
    with sqlite_keys_off("deliveries"), op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(FK_DIGEST, type_="foreignkey")
    op.execute(SQLITE_ITEMS_TRIGGER)
    create_sqlite_triggers()


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in PG_DROP if postgres else SQLITE_DROP:
        op.execute(statement)
    with sqlite_keys_off("deliveries"):
        # None should exist (the trigger unlinks them); the key could not be made if one did.
        op.execute(
            "UPDATE deliveries SET digest_id = NULL WHERE digest_id IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM digests WHERE digests.id = deliveries.digest_id)"
        )
        if not postgres:
            op.execute("DROP TRIGGER items_delete_deliveries")
        with op.batch_alter_table("deliveries", schema=None) as batch_op:
            batch_op.create_foreign_key(
                FK_DIGEST, "digests", ["digest_id"], ["id"], ondelete="SET NULL"
            )
    if not postgres:
        op.execute(SQLITE_ITEMS_TRIGGER)
