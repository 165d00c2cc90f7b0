"""journalists.next_due_at: digest planning reads only the journalists whose time has come

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

from alerts.core.models import DUE_AT_ONCE, utcnow
from alerts.digests.planning import schedule_all

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE, not a batch: SQLite's batch copy drops and recreates the table,
    # and dropping journalists cascades to their subscriptions (foreign keys are on).
    # Every existing row starts as "look at once" …
    op.add_column(
        "journalists",
        sa.Column(
            "next_due_at",
            sa.DateTime(),
            server_default=sa.text(f"'{DUE_AT_ONCE}'"),
            nullable=True,
        ),
    )
    op.create_index(op.f("ix_journalists_next_due_at"), "journalists", ["next_due_at"])
    # … then is given its real time, as the planner would: a digest already due and not
    # yet recorded stays "at once" (the first tick plans it), others get their next
    # cutoff, and journalists with no digest none. The same code as the planner's, so
    # the two cannot disagree about DST.
    with Session(bind=op.get_bind()) as session:
        schedule_all(session, utcnow())
        session.flush()


def downgrade() -> None:
    op.drop_index(op.f("ix_journalists_next_due_at"), table_name="journalists")
    # Not a batch either (see above); SQLite has dropped columns in place since 3.35.
    op.execute(sa.text("ALTER TABLE journalists DROP COLUMN next_due_at"))
