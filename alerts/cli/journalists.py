"""``alerts journalists …``: journalists and their subscriptions."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError

from alerts.cli import journalists_lookup
from alerts.cli.common import celery_app, console, errors, fail, schema_hint
from alerts.cli.output import print_json
from alerts.core.models import utcnow

app = typer.Typer(help="Journalists and their subscriptions.", no_args_is_help=True)
app.command("list")(journalists_lookup.list_command)
app.command("show")(journalists_lookup.show_command)


def _verification(email: str, by: str | None) -> None:
    from sqlalchemy import select

    from alerts.audience import membership
    from alerts.audience.subscriptions import InvalidAddress, normalise_email
    from alerts.core.models import Journalist
    from alerts.items.embargoes import embargoed_item_ids

    try:
        address = normalise_email(email)
    except InvalidAddress as exc:
        fail(str(exc), 2)
    celery = celery_app()
    try:
        with celery.runtime.sessions() as session:
            journalist = session.scalar(select(Journalist).where(Journalist.email == address))
            if journalist is None:
                fail(f"no journalist {address}")
            if by is None:
                membership.unverify(journalist)
            else:
                membership.verify(journalist, by, utcnow())
            session.commit()
            owed = embargoed_item_ids(session) if by is not None else []
    except (OperationalError, ProgrammingError) as exc:
        schema_hint(exc)
    for item_id in owed:
        celery.enqueue_fan_out(item_id)  # what is under embargo now and matches them
    console.print(f"{address}: {'verified press' if by else 'no longer verified press'}")


@app.command("verify")
def journalists_verify(
    email: Annotated[str, typer.Argument(help="The journalist's address.")],
    by: Annotated[str, typer.Option(help="Who verified them (kept on record).")],
) -> None:
    """Mark a journalist verified press: embargoed items reach them before they lift."""
    _verification(email, by)


@app.command("unverify")
def journalists_unverify(email: Annotated[str, typer.Argument(help="The address.")]) -> None:
    """No longer verified press: embargoed items not yet sent to them are not sent."""
    _verification(email, None)


@app.command("import")
def journalists_import(
    file: Annotated[Path, typer.Argument(help="CSV: email,name,outlet,countries,topics,cadence")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the counts and the rows skipped as JSON.")
    ] = False,
) -> None:
    """Import journalists (active at once) and their subscriptions; all rows or none."""
    from alerts.audience.csv_import import import_journalists
    from alerts.audience.csv_rows import ImportFailed

    runtime = celery_app().runtime
    try:
        source = file.open("rb")
    except OSError as exc:
        fail(f"cannot read {file}: {exc}", 2)
    try:
        with source, runtime.sessions() as session:
            summary = import_journalists(
                session,
                source,
                runtime.taxonomy,
                utcnow(),
                runtime.address_hasher,
                runtime.settings.reader_language_list,
            )
            session.commit()
    except ImportFailed as exc:
        for problem in exc.problems:
            errors.print(f"{file}: {problem}", highlight=False)
        if exc.total > len(exc.problems):
            errors.print(f"… and {exc.total - len(exc.problems)} more", highlight=False)
        fail(f"nothing imported: {exc.bad_rows} bad row(s), {exc.total} problem(s)", 2)
    except OSError as exc:
        fail(f"cannot read {file}: {exc}", 2)
    except (OperationalError, ProgrammingError) as exc:
        schema_hint(exc)
    if as_json:
        print_json(asdict(summary))
        return
    for line in summary.skipped:
        errors.print(f"skipped {line}", highlight=False)
    console.print(
        f"{summary.journalists_created} journalist(s) added, {summary.journalists_updated} "
        f"updated, {summary.subscriptions_added} subscription(s) added"
    )
