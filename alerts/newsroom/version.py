"""The newsroom's version: a number the database moves on every write to what the
public newsroom shows (migration 0018). Equal numbers mean equal pages, so a page
rendered at one version may be served again while it holds."""

from __future__ import annotations

from sqlalchemy import Engine, text

VERSION_TABLE = "newsroom_version"  # outside the models: only the database writes it
VERSION = text(f"SELECT version FROM {VERSION_TABLE} WHERE id = 1")


def current_version(engine: Engine) -> int | None:
    """None when the row is missing (nothing may then be taken as unchanged).

    Read outside a transaction: one statement, no BEGIN or ROLLBACK around it. Read
    it *before* the data a page is rendered from: a write committed in between is
    then in the page but not in the number, so that page is only ever served under
    a number that is already out of date, never the other way round.
    """
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        value = connection.execute(VERSION).scalar()
    return None if value is None else int(value)
