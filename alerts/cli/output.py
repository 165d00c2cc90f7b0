"""What listing commands print: plain JSON for scripts, table cells that keep their text.

JSON goes out with ``print``, not Rich: Rich would wrap long strings at the console
width and colour the keys, and a script then reads broken JSON. Times are ISO 8601
in UTC whatever zone the value carries.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rich.markup import escape


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


def print_json(data: Any) -> None:
    print(json.dumps(data, default=_plain, indent=2))


def cell(value: object) -> str:
    """User text in a table cell: a title like "[Update] …" is text, not Rich markup."""
    return escape("" if value is None else str(value))


def when(moment: datetime | None, empty: str = "") -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment is not None else empty


def more_line(shown: int, total: int, what: str) -> str | None:
    """The line under a list cut at --limit, or None when everything was shown."""
    if total <= shown:
        return None
    return f"… {total - shown} more {what} (raise --limit or narrow the filters)"
