"""What every command group shares: the consoles, failing with a message, the Celery app.

The root app registers the command groups, so the groups take these from here
rather than from the root: the dependency points one way.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from alerts.core.settings import SettingsError, load_settings
from alerts.worker.app import AlertsCelery, create_celery

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def celery_app() -> AlertsCelery:
    try:
        return create_celery(load_settings())
    except SettingsError as exc:
        fail(f"configuration: {exc}", 2)


def schema_hint(exc: Exception) -> NoReturn:
    fail(f"the database is not ready ({str(exc).splitlines()[0]}); run `alerts db upgrade`")
