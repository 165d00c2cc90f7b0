"""duty heartbeats and per-tick duty runs (beat on every worker, one run per tick)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import alerts.models

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "duties",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("registered_at", alerts.models.UTCDateTime(), nullable=False),
        sa.Column("last_started_at", alerts.models.UTCDateTime(), nullable=True),
        sa.Column("last_finished_at", alerts.models.UTCDateTime(), nullable=True),
        sa.Column("last_success_at", alerts.models.UTCDateTime(), nullable=True),
        sa.Column("last_result", sa.String(length=1000), nullable=True),
        sa.Column("last_host", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_duties")),
    )
    op.create_table(
        "duty_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("duty", sa.String(length=64), nullable=False),
        sa.Column("tick", sa.BigInteger(), nullable=True),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("started_at", alerts.models.UTCDateTime(), nullable=False),
        sa.Column("finished_at", alerts.models.UTCDateTime(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("result", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_runs")),
        sa.UniqueConstraint("duty", "tick", name="uq_duty_runs_duty_tick"),
    )


def downgrade() -> None:
    op.drop_table("duty_runs")
    op.drop_table("duties")
