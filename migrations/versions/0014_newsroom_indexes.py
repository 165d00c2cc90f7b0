"""newsroom indexes: the newest visible items and the items of a country or topic

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 04:20:00.000000

Measured with bench/newsroom.py (docs/performance.md): without them every
/news page and feed sorted all 20,000 items to show the newest 20 or 50, and a
country or topic filter read the whole of item_countries and item_topics.
``ix_items_newest`` leads with the status, so that SQLite without statistics
prefers it to ``ix_items_status`` (it then also gives the order), and holds the
kind, so counting the visible items reads the index alone.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_items_newest", "items", ["status", "published_at", "id", "kind"])
    op.create_index("ix_item_countries_country", "item_countries", ["country", "item_id"])
    op.create_index("ix_item_topics_topic", "item_topics", ["topic", "item_id"])


def downgrade() -> None:
    op.drop_index("ix_item_topics_topic", table_name="item_topics")
    op.drop_index("ix_item_countries_country", table_name="item_countries")
    op.drop_index("ix_items_newest", table_name="items")
