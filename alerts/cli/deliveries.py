"""``alerts deliveries …``: the delivery record."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError

from alerts.cli.common import celery_app, console, fail, schema_hint
from alerts.core.models import utcnow

app = typer.Typer(help="The delivery record.", no_args_is_help=True)


@app.command("retry")
def deliveries_retry(
    item: Annotated[int | None, typer.Option(help="Only this item's deliveries.")] = None,
    status: Annotated[str, typer.Option(help="Which deliveries: only 'failed' is retried.")] = (
        "failed"
    ),
    since: Annotated[
        str | None, typer.Option(help="Only those created since (ISO date or date-time, UTC).")
    ] = None,
) -> None:
    """Queue failed deliveries again (suppressed or unsubscribed journalists stay out)."""
    from datetime import UTC, datetime

    from alerts.delivery.recovery import retry_failed

    if status != "failed":
        fail("only failed deliveries can be retried (--status failed)", 2)
    if item is None and since is None:
        fail("give --item ID or --since DATE, so a retry is never everything by accident", 2)
    when = None
    if since is not None:
        try:
            when = datetime.fromisoformat(since)
        except ValueError:
            fail(f"--since: not a date or date-time: {since!r}", 2)
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
    celery = celery_app()
    runtime = celery.runtime
    try:
        with runtime.sessions() as session:
            ids = retry_failed(session, item, utcnow(), when)
            session.commit()
    except (OperationalError, ProgrammingError) as exc:
        schema_hint(exc)
    celery.enqueue_batches(ids)
    console.print(f"{len(ids)} failed deliveries queued again")
