"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from alerts.core.db import make_engine
from alerts.core.migrate import alembic_config, upgrade
from alerts.core.models import Base
from alerts.newsroom.search import is_search_object
from alerts.newsroom.version import VERSION_TABLE
from tests.conftest import PG_ADMIN_URL, PG_HOST


def _diff(url: str) -> list[object]:
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        # The newsroom's search index (0010) and version (0018) are outside the models
        # on purpose: the database keeps them, no code writes them.
        opts = {
            "compare_type": True,
            "include_name": lambda name, type_, parents: (
                not (
                    is_search_object(name, type_, parents)
                    or (type_ == "table" and name == VERSION_TABLE)
                )
            ),
        }
        context = MigrationContext.configure(conn, opts=opts)
        diff = list(compare_metadata(context, Base.metadata))
    engine.dispose()
    return diff


def test_sqlite_schema_matches_models(tmp_path: Path) -> None:
    assert _diff(f"sqlite:///{tmp_path / 'm.db'}") == []


def test_postgres_schema_matches_models(postgres_url: str) -> None:
    assert _diff(postgres_url) == []


def _down_and_up_0019(url: str) -> None:
    """0019 and 0020 both ways with rows in place: the deliveries' copies on SQLite keep
    every row, the bounces' links to them and theirs to a digest, and the foreign keys
    come back on the way down."""
    config = alembic_config(url)
    command.upgrade(config, "0018")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO items (id, kind, title, summary, body, language, status, created_at,"
                " updated_at) VALUES (1, 'press_release', 't', '', '', 'en', 'published',"
                " '2026-01-01', '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO journalists (id, email, name, outlet, language, status, created_at)"
                " VALUES (1, 'a@example.net', '', '', 'en', 'active', '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO deliveries (id, item_id, journalist_id, status, attempts, created_at)"
                " VALUES (7, 1, 1, 'sent', 1, '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO bounce_events (delivery_id, journalist_id, kind, created_at)"
                " VALUES (7, 1, 'hard', '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO digests (id, journalist_id, cadence, period, since, cutoff, status,"
                " items, attempts, created_at) VALUES (3, 1, 'daily', '2026-01-02',"
                " '2026-01-01', '2026-01-02', 'pending', 1, 0, '2026-01-02')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO items (id, kind, title, summary, body, language, status, created_at,"
                " updated_at) VALUES (2, 'press_release', 'u', '', '', 'en', 'published',"
                " '2026-01-01', '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO deliveries (id, item_id, journalist_id, status, attempts, created_at,"
                " digest_id) VALUES (8, 2, 1, 'pending', 0, '2026-01-02', 3)"
            )
        )
    engine.dispose()
    for step in ("up", "down", "up"):
        (command.upgrade if step == "up" else command.downgrade)(
            config, "head" if step == "up" else "0018"
        )
        engine = make_engine(url)
        with engine.connect() as conn:
            assert conn.execute(
                text("SELECT id, item_id, digest_id FROM deliveries ORDER BY id")
            ).all() == [(7, 1, None), (8, 2, 3)]
            assert conn.execute(text("SELECT delivery_id FROM bounce_events")).all() == [(7,)]
        engine.dispose()
    assert _diff(url) == []


def test_0019_down_and_up_on_sqlite(tmp_path: Path) -> None:
    _down_and_up_0019(f"sqlite:///{tmp_path / 'm19.db'}")


def test_0019_down_and_up_on_postgres(tmp_path: Path) -> None:
    name = f"alerts_m19_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        _down_and_up_0019(f"postgresql+psycopg://{PG_HOST}/{name}")
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
