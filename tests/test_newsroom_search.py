"""The search index of migration 0010 follows every write to items, whoever writes.

Written here in plain SQL, as another application sharing the database would:
the index must follow inserts, edits and deletes without the project's code.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

from alerts.core.db import make_engine
from alerts.core.migrate import alembic_config, upgrade
from alerts.core.models import Item
from alerts.newsroom.search import matching, words
from tests.conftest import PG_ADMIN_URL, PG_HOST


@pytest.fixture(params=["embedded", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database of its own (not the pipeline's): a test here migrates it down and up."""
    name = f"alerts_search_{uuid.uuid4().hex[:8]}"
    if request.param == "postgres":
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://{PG_HOST}/{name}"
    else:
        url = f"sqlite:///{tmp_path / 'search.db'}"
    upgrade(url)
    built = make_engine(url)
    try:
        yield built
    finally:
        built.dispose()
        if request.param == "postgres":
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _found(engine: Engine, query: str) -> list[str]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(Item.title).where(matching(session, words(query))).order_by(Item.title)
            )
        )


def _insert(engine: Engine, title: str, summary: str = "", body: str = "") -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                text(
                    "INSERT INTO items (kind, title, summary, body, language, status, created_at,"
                    " updated_at) VALUES ('news', :title, :summary, :body, 'en', 'draft',"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"
                ),
                {"title": title, "summary": summary, "body": body},
            ).scalar_one()
        )


def test_the_index_follows_inserts_edits_and_deletes(engine: Engine) -> None:
    first = _insert(engine, "Floods in the delta", "Rescue teams", "Boats **arrive** late")
    _insert(engine, "Drought in the north")
    assert _found(engine, "delta") == ["Floods in the delta"]
    assert _found(engine, "rescue") == ["Floods in the delta"]
    assert _found(engine, "ARRIVE") == ["Floods in the delta"]
    assert _found(engine, "in the") == ["Drought in the north", "Floods in the delta"]
    with engine.begin() as conn:
        conn.execute(text("UPDATE items SET title = 'Storms at sea' WHERE id = :id"), {"id": first})
    assert _found(engine, "delta") == []
    assert _found(engine, "storms") == ["Storms at sea"]
    assert _found(engine, "rescue") == ["Storms at sea"]  # the other columns stay indexed
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM items WHERE id = :id"), {"id": first})
    assert _found(engine, "storms") == []
    assert _found(engine, "drought") == ["Drought in the north"]


def test_head_has_the_index(engine: Engine) -> None:
    """A later migration that rebuilds ``items`` on SQLite drops its triggers: this says so."""
    if engine.dialect.name == "postgresql":
        assert "search_vector" in {c["name"] for c in inspect(engine).get_columns("items")}
        with engine.connect() as conn:
            definition = conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_items_search_vector'")
            ).scalar_one()
        assert "USING gin (search_vector)" in definition
    else:
        with engine.connect() as conn:
            triggers = set(
                conn.execute(
                    text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                ).scalars()
            )
        assert {"items_fts_insert", "items_fts_update", "items_fts_delete"} <= triggers


def test_downgrade_and_upgrade_again_keep_existing_items_searchable(engine: Engine) -> None:
    from alembic import command

    _insert(engine, "Kept across migrations")
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    command.downgrade(config, "-1")
    command.upgrade(config, "head")
    assert _found(engine, "kept") == ["Kept across migrations"]  # the index was rebuilt
