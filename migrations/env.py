"""Alembic environment: the URL comes from the caller (``alerts db upgrade``) or settings."""

from __future__ import annotations

import sys

from alembic import context
from sqlalchemy import Connection

import alerts
from alerts.core import models
from alerts.core.db import make_engine
from alerts.core.models import Base
from alerts.newsroom.search import is_search_object

# The migrations already written name the schema's types as ``alerts.models.X``
# (the module's place before the package regroup) and stay untouched; the same
# module answers to that name too.
sys.modules.setdefault("alerts.models", models)
alerts.models = models  # type: ignore[attr-defined]

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from alerts.core.settings import load_settings

    return load_settings().database_url


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
        # The search index (0010) lives outside the models: autogenerate leaves it be.
        include_name=lambda name, type_, parents: not is_search_object(name, type_, parents),
    )


if context.is_offline_mode():
    _configure(url=_url())
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
    else:
        engine = make_engine(_url())
        with engine.connect() as conn:
            _configure(connection=conn)
            with context.begin_transaction():
                context.run_migrations()
        engine.dispose()
