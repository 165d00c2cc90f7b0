"""rich items: lead photo, documents, notes to editors, media contacts; newsroom defaults

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import alerts.models

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable columns on items: adding them rewrites nothing on either backend, and
    # the delivery tables are left alone.
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("image", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("attachments", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("notes", sa.Text(), nullable=True))
        batch.add_column(sa.Column("contacts", sa.JSON(), nullable=True))
    op.create_table(
        "newsroom_defaults",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("contacts", sa.JSON(), nullable=False),
        sa.Column("updated_at", alerts.models.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_newsroom_defaults")),
    )


def downgrade() -> None:
    op.drop_table("newsroom_defaults")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("contacts")
        batch.drop_column("notes")
        batch.drop_column("attachments")
        batch.drop_column("image")
