"""``alerts items …``: the items on record, and how far each went out.

Publishing stays ``alerts publish``; this group reads. The queries are
``alerts.items.listing`` (the items) and ``alerts.delivery.item_report``
(deliveries, bounces, reach).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import OperationalError, ProgrammingError

from alerts.cli.common import celery_app, console, fail, schema_hint
from alerts.cli.output import cell, more_line, print_json, when
from alerts.core.models import Item
from alerts.delivery.item_report import progress_of, reach_of
from alerts.items.listing import BadFilter, checked_filter, fields_of, list_items

app = typer.Typer(help="Items: list them, show one and how far it went out.", no_args_is_help=True)

Repeatable = list[str] | None
PROGRESS = ("sent", "failed", "pending", "cancelled", "bounced", "complaints")


@app.command("list")
def list_command(
    status: Annotated[
        Repeatable,
        typer.Option(
            metavar="STATUS",
            help="draft, scheduled, embargoed, published or withdrawn; repeatable.",
        ),
    ] = None,
    kind: Annotated[
        Repeatable,
        typer.Option(metavar="KIND", help="press_release, report, statement, news…; repeatable."),
    ] = None,
    country: Annotated[
        Repeatable,
        typer.Option(metavar="COUNTRY", help="ISO 3166-1 alpha-2 code or region; repeatable."),
    ] = None,
    topic: Annotated[
        Repeatable, typer.Option(metavar="TOPIC", help="Topic code; repeatable.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON.")] = False,
) -> None:
    """Items, newest first, with their deliveries sent out of all created."""
    runtime = celery_app().runtime
    try:
        wanted = checked_filter(
            runtime.taxonomy, status or [], kind or [], country or [], topic or []
        )
    except BadFilter as exc:
        fail(escape(str(exc)), 2)
    try:
        with runtime.sessions() as session:
            page = list_items(session, wanted, limit)
            progress = progress_of(session, [row["id"] for row in page.rows])
    except (OperationalError, ProgrammingError) as exc:
        schema_hint(exc)
    rows = [row | {"progress": progress[row["id"]]} for row in page.rows]
    if as_json:
        print_json({"total": page.total, "shown": len(rows), "items": rows})
        return
    if not rows:
        console.print("no items match", markup=False)
        return
    table = Table()
    table.add_column("id", no_wrap=True, justify="right")
    for name in ("status", "kind", "title", "countries", "topics", "when"):
        table.add_column(name, overflow="fold")
    table.add_column("sent", no_wrap=True, justify="right")
    table.add_column("failed", no_wrap=True, justify="right")
    for row in rows:
        counts = row["progress"]
        table.add_row(
            str(row["id"]),
            cell(row["status"]),
            cell(row["kind"]),
            cell(row["title"]),
            cell(", ".join(row["countries"]) or "—"),
            cell(", ".join(row["topics"]) or "—"),
            _when(row),
            f"{counts['sent']}/{counts['total']}",
            str(counts["failed"]),
        )
    console.print(table)
    more = more_line(len(rows), page.total, "item(s)")
    if more:
        console.print(more, markup=False, highlight=False)


def _when(row: dict[str, Any]) -> str:
    """The moment that matters for the item's status."""
    if row["published_at"] is not None:
        return f"published {when(row['published_at'])}"
    if row["embargo_until"] is not None:
        return f"embargo until {when(row['embargo_until'])}"
    if row["publish_at"] is not None:
        return f"scheduled {when(row['publish_at'])}"
    return f"created {when(row['created_at'])}"


@app.command("show")
def show_command(
    item_id: Annotated[int, typer.Argument(metavar="ID", help="The item's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print it as JSON.")] = False,
) -> None:
    """One item: status, kind, countries and topics, times, reach and progress."""
    runtime = celery_app().runtime
    try:
        with runtime.sessions() as session:
            item = session.get(Item, item_id)
            if item is None:
                fail(f"no item {item_id}")
            record = fields_of(item) | {
                "summary": item.summary,
                "translations": sorted(t.language for t in item.translation_rows),
                "reach": reach_of(session, item),
                "progress": progress_of(session, [item.id])[item.id],
            }
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
    head.add_row("item", str(record["id"]))
    head.add_row("title", cell(record["title"]))
    head.add_row("status", cell(record["status"]))
    head.add_row("kind", cell(record["kind"]))
    head.add_row("language", cell(record["language"]))
    head.add_row("countries", cell(", ".join(record["countries"]) or "—"))
    head.add_row("topics", cell(", ".join(record["topics"]) or "—"))
    for label, key in (
        ("url", "url"),
        ("external id", "external_id"),
        ("import problem", "import_problem"),
    ):
        if record[key]:
            head.add_row(label, cell(record[key]))
    if record["corrects_id"] is not None:
        head.add_row("corrects item", str(record["corrects_id"]))
    for label, key in (
        ("created", "created_at"),
        ("publish at", "publish_at"),
        ("embargo until", "embargo_until"),
        ("published", "published_at"),
    ):
        if record[key] is not None:
            head.add_row(label, when(record[key]))
    reach = record["reach"]
    head.add_row("matches now", f"{reach['matched']} journalist(s) (immediate subscriptions)")
    fanned = f", fanned out {when(reach['fanned_out_at'])}" if reach["fanned_out_at"] else ""
    head.add_row("deliveries", f"{reach['deliveries']}{fanned}")

    counts = record["progress"]
    progress = Table(*PROGRESS, title="Progress")
    progress.add_row(*(str(counts[name]) for name in PROGRESS))
    return Group(head, progress)
