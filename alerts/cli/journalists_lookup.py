"""``alerts journalists list`` and ``show``: the read side of the journalists group.

The queries are ``alerts.audience.listing``; this module only checks the flags and
prints a table (or ``--json``). ``alerts.cli.journalists`` registers both commands.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import OperationalError, ProgrammingError

from alerts.audience.listing import (
    BadFilter,
    checked_filter,
    coverage,
    find_journalist,
    list_journalists,
    record_of,
)
from alerts.audience.subscriptions import InvalidAddress, normalise_email
from alerts.cli.common import celery_app, console, fail, schema_hint
from alerts.cli.output import cell, more_line, print_json, when

Repeatable = list[str] | None


def list_command(
    status: Annotated[
        Repeatable,
        typer.Option(
            metavar="STATUS", help="pending, active, unsubscribed or suppressed; repeatable."
        ),
    ] = None,
    country: Annotated[
        Repeatable,
        typer.Option(
            metavar="COUNTRY",
            help="ISO 3166-1 alpha-2 code or region (any subscription covering it); repeatable.",
        ),
    ] = None,
    topic: Annotated[
        Repeatable,
        typer.Option(
            metavar="TOPIC", help="Topic code (any subscription covering it); repeatable."
        ),
    ] = None,
    cadence: Annotated[
        Repeatable, typer.Option(metavar="CADENCE", help="immediate, daily or weekly; repeatable.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON.")] = False,
) -> None:
    """Journalists by address; --country, --topic and --cadence hold on one subscription."""
    runtime = celery_app().runtime
    try:
        wanted = checked_filter(
            runtime.taxonomy, status or [], cadence or [], country or [], topic or []
        )
    except BadFilter as exc:
        fail(escape(str(exc)), 2)
    try:
        with runtime.sessions() as session:
            page = list_journalists(session, wanted, limit)
    except (OperationalError, ProgrammingError) as exc:
        schema_hint(exc)
    if as_json:
        print_json({"total": page.total, "shown": len(page.rows), "journalists": page.rows})
        return
    if not page.rows:
        console.print("no journalists match", markup=False)
        return
    table = Table()
    for name in ("email", "name", "outlet", "language", "status", "cadence", "countries"):
        table.add_column(name, overflow="fold")
    table.add_column("topics", overflow="fold")
    for row in page.rows:
        table.add_row(
            cell(row["email"]),
            cell(row["name"]),
            cell(row["outlet"]),
            cell(row["language"]),
            cell(row["status"]) + (" (verified)" if row["verified"] else ""),
            cell(", ".join(row["cadences"]) or "—"),
            cell(coverage(row["countries"], row["any_country"])),
            cell(coverage(row["topics"], row["any_topic"])),
        )
    console.print(table)
    more = more_line(len(page.rows), page.total, "journalist(s)")
    if more:
        console.print(more, markup=False, highlight=False)


def show_command(
    email: Annotated[str, typer.Argument(help="The journalist's address.")],
    deliveries: Annotated[int, typer.Option(min=0, help="How many of the last deliveries.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
) -> None:
    """One journalist: subscriptions, status history, bounces, last deliveries."""
    try:
        address = normalise_email(email)
    except InvalidAddress as exc:
        fail(escape(str(exc)), 2)
    runtime = celery_app().runtime
    try:
        with runtime.sessions() as session:
            person = find_journalist(session, address)
            if person is None:
                fail(escape(f"no journalist with the address {address}"))
            record = record_of(session, person, deliveries)
    except (OperationalError, ProgrammingError) as exc:
        schema_hint(exc)
    if as_json:
        print_json(record)
        return
    console.print(_view(record))


def _view(record: dict[str, Any]) -> Group:
    head = Table.grid(padding=(0, 2))
    head.add_column(no_wrap=True)
    head.add_column(overflow="fold")
    head.add_row("email", cell(record["email"]))
    head.add_row("name", cell(record["name"]))
    head.add_row("outlet", cell(record["outlet"]))
    head.add_row("language", cell(record["language"]))
    head.add_row("timezone", cell(record["timezone"]))
    head.add_row("status", cell(record["status"]))
    history = record["history"]
    for label, key in (
        ("created", "created_at"),
        ("confirmation sent", "confirmation_sent_at"),
        ("confirmed", "confirmed_at"),
        ("unsubscribed", "unsubscribed_at"),
        ("erased", "erased_at"),
    ):
        if history[key] is not None:
            head.add_row(label, when(history[key]))
    if history["verified_at"] is not None:
        by = f" by {history['verified_by']}" if history["verified_by"] else ""
        head.add_row("verified press", cell(f"{when(history['verified_at'])}{by}"))
    suppression = record["suppression"]
    if suppression is not None:
        head.add_row(
            "suppressed", cell(f"{when(suppression['created_at'])}: {suppression['reason']}")
        )
    for event in record["unsubscribe_events"]:
        head.add_row("unsubscribe", cell(f"{when(event['created_at'])} ({event['method']})"))
    for event in record["bounce_events"]:
        code = f" {event['status']}" if event["status"] else ""
        detail = f": {event['detail']}" if event["detail"] else ""
        head.add_row("bounce", cell(f"{when(event['created_at'])} {event['kind']}{code}{detail}"))

    subscriptions = Table(title="Subscriptions")
    for name in ("id", "cadence", "countries", "topics", "since"):
        subscriptions.add_column(name, overflow="fold")
    for sub in record["subscriptions"]:
        subscriptions.add_row(
            str(sub["id"]),
            cell(sub["cadence"]),
            cell(", ".join(sub["countries"]) or "any"),
            cell(", ".join(sub["topics"]) or "any"),
            when(sub["created_at"]),
        )

    shown = len(record["deliveries"])
    deliveries = Table(title=f"Last deliveries ({shown} of {record['deliveries_total']})")
    for name in ("item", "title", "status", "attempts", "created", "sent", "last reply"):
        deliveries.add_column(name, overflow="fold")
    for row in record["deliveries"]:
        deliveries.add_row(
            str(row["item_id"]),
            cell(row["title"]),
            cell(row["status"]) + (" (digest)" if row["in_digest"] else ""),
            str(row["attempts"]),
            when(row["created_at"]),
            when(row["sent_at"]),
            cell(row["last_reply"]),
        )
    parts: list[RenderableType] = [head]
    parts.append(subscriptions if record["subscriptions"] else "no subscriptions")
    parts.append(deliveries if shown else "no deliveries yet")
    return Group(*parts)
