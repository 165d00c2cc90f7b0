"""Running the Alembic migrations from the CLI, the demo and the tests; what they share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command, op
from alembic.config import Config


def migrations_dir() -> Path:
    here = Path(__file__).resolve().parent.parent  # the alerts package
    for candidate in (here / "migrations", here.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("the migrations are missing from this installation")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # Alembic's ini interpolation treats % specially (URL-encoded passwords).
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


@contextmanager
def sqlite_keys_off(table: str) -> Iterator[None]:
    """For a migration that copies ``table`` on SQLite (a batch ALTER): foreign keys off.

    The copy drops the old table; with foreign keys on, that drop first deletes every
    row, and what points at them (``bounce_events.delivery_id``, ON DELETE SET NULL)
    would lose its link. The pragma only works outside a transaction: if one is open
    it is refused rather than lose that link. On PostgreSQL, nothing.
    """
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    op.execute("PRAGMA foreign_keys=OFF")
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(f"could not turn SQLite's foreign keys off to copy {table}")
    try:
        yield
    finally:
        op.execute("PRAGMA foreign_keys=ON")
    broken = bind.exec_driver_sql(f"PRAGMA foreign_key_check({table})").first()
    if broken is not None:
        raise RuntimeError(f"{table}: a row breaks a foreign key after the copy: {broken}")
