"""What every command group shares: the consoles, failing with a message, the Celery app.

The root app registers the command groups, so the groups take these from here
rather than from the root: the dependency points one way.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console, ConsoleDimensions

from alerts.core.settings import SettingsError, load_settings
from alerts.worker.app import AlertsCelery, create_celery

# Width when the output is a pipe or a file: Rich would pick 80 columns and fold or
# ellipsise table cells (titles, Maildir paths) that a script or a log then reads cut.
UNBOUNDED_WIDTH = 10_000


class CliConsole(Console):
    """A Console that never narrows its output to 80 columns when it is not a terminal.

    The width is decided at each print, because the stream may be swapped (tests,
    redirections); an explicit COLUMNS still wins.
    """

    @property
    def size(self) -> ConsoleDimensions:
        dimensions = super().size
        if self.is_terminal or self._width is not None:
            return dimensions
        return ConsoleDimensions(UNBOUNDED_WIDTH, dimensions.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


console = CliConsole()
errors = CliConsole(stderr=True)


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
