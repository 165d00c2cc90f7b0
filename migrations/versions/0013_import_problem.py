"""items.import_problem: why a feed entry was left a draft (its lead photo could not be had)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 04:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: adding it rewrites nothing on either backend.
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("import_problem", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("import_problem")
