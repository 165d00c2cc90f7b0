"""``alerts db …``: the database schema."""

from __future__ import annotations

import typer

from alerts.cli.common import console, fail
from alerts.core.settings import SettingsError, load_settings

app = typer.Typer(help="The database schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """Create or update the tables (Alembic migrations)."""
    from alerts.core.migrate import upgrade

    try:
        settings = load_settings()
    except SettingsError as exc:
        fail(f"configuration: {exc}", 2)
    upgrade(settings.database_url)
    console.print("database is up to date")
