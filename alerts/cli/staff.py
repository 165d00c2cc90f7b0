"""``alerts staff …``: staff API keys."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError

from alerts.cli.common import celery_app, console, errors, fail, schema_hint
from alerts.cli.output import print_json
from alerts.core.models import utcnow

app = typer.Typer(help="Staff API keys.", no_args_is_help=True)


@app.command("add-key")
def staff_add_key(
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
    role: Annotated[str, typer.Option(help="publisher, operator or admin.")],
) -> None:
    """Create a staff API key; it is printed once and only its hash is kept."""
    from alerts.staff.keys import create_key

    runtime = celery_app().runtime
    try:
        with runtime.sessions() as session:
            row, key = create_key(session, name, role, utcnow())
            session.commit()
            key_id = row.id
    except ValueError as exc:
        fail(str(exc), 2)
    except (OperationalError, ProgrammingError) as exc:
        schema_hint(exc)
    errors.print(f"key {key_id} ({role}) for {name}; store it now, it is not shown again:")
    console.print(key, highlight=False)


@app.command("revoke-key")
def staff_revoke_key(
    key: Annotated[str, typer.Argument(help="The key's id or its prefix (nra_…).")],
) -> None:
    """Revoke a staff API key at once."""
    from alerts.staff.keys import UnknownKey, revoke_key

    runtime = celery_app().runtime
    try:
        with runtime.sessions() as session:
            row = revoke_key(session, key, utcnow())
            session.commit()
            console.print(f"revoked key {row.id} ({row.name}, {row.role})")
    except UnknownKey as exc:
        fail(str(exc), 2)


@app.command("list-keys")
def staff_list_keys(
    as_json: Annotated[bool, typer.Option("--json", help="Print the keys as JSON.")] = False,
) -> None:
    """The staff keys (never the keys themselves)."""
    from rich.table import Table
    from sqlalchemy import select

    from alerts.core.models import ApiKey

    runtime = celery_app().runtime
    table = Table("id", "name", "role", "prefix", "created", "last used", "revoked")
    with runtime.sessions() as session:
        rows = list(session.scalars(select(ApiKey).order_by(ApiKey.id)))
        if as_json:
            keys = [
                {
                    "id": row.id,
                    "name": row.name,
                    "role": row.role,
                    "prefix": row.prefix,
                    "created_at": row.created_at,
                    "last_used_at": row.last_used_at,
                    "revoked_at": row.revoked_at,
                }
                for row in rows
            ]
            print_json(keys)
            return
        for row in rows:
            table.add_row(
                str(row.id),
                row.name,
                row.role,
                row.prefix,
                f"{row.created_at:%Y-%m-%d}",
                f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "",
                f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "",
            )
    console.print(table)
