"""``alerts publish``: publish an item (or a file of them) from the command line."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError

from alerts.cli.common import celery_app, console, fail, schema_hint
from alerts.cli.output import print_json
from alerts.core.models import Media, utcnow
from alerts.items.drafts import InvalidItem, create_item, parse_draft
from alerts.items.embargoes import embargo
from alerts.items.lifecycle import create_and_publish
from alerts.items.listing import fields_of
from alerts.media.local_files import discard, store_paths, with_placeholders
from alerts.media.refusal import MediaRefused


def publish(
    title: Annotated[str | None, typer.Option(help="Headline; becomes the subject.")] = None,
    summary: Annotated[str, typer.Option(help="One-paragraph standfirst.")] = "",
    body: Annotated[str, typer.Option(help="Full text; blank lines separate paragraphs.")] = "",
    url: Annotated[str | None, typer.Option(help="Link to the item on the website.")] = None,
    kind: Annotated[str, typer.Option(help="press_release, report, statement or news.")] = (
        "press_release"
    ),
    country: Annotated[list[str] | None, typer.Option(help="ISO 3166-1 alpha-2; repeatable.")] = (
        None
    ),
    topic: Annotated[list[str] | None, typer.Option(help="Topic code; repeatable.")] = None,
    external_id: Annotated[
        str | None, typer.Option(help="Your id; publishing twice is a no-op.")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            help="JSON items in the seed's shape; a photo or document may be given by "
            "its path (relative to the file) in place of media_id; "
            '"translations": {"es": {"title": ..., "summary": ..., "body": ...}} per item.'
        ),
    ] = None,
    embargo_until: Annotated[
        datetime | None,
        typer.Option(
            help="Under embargo until this time (ISO 8601 with a UTC offset): verified "
            "press get it now, everyone else then.",
            formats=["%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S%z"],
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the items as JSON, not only their ids.")
    ] = False,
) -> None:
    """Publish an item now (or every item in --file); prints the item ids."""
    from alerts.dev.seed import drafts_from_json

    if file is not None and title is not None:
        fail("give either --file or --title, not both", 2)
    if embargo_until is not None and file is not None:
        fail("--embargo-until applies to one item: use --title", 2)
    data: Any = None
    try:
        if file is not None:
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                fail(f"cannot read {file}: {exc}", 2)
            # Checked whole before any photo or document it names is stored.
            drafts = drafts_from_json(_with_placeholders(data))
        elif title is not None:
            drafts = [
                parse_draft(
                    {
                        "title": title,
                        "summary": summary,
                        "body": body,
                        "url": url,
                        "kind": kind,
                        "countries": country or [],
                        "topics": topic or [],
                        "external_id": external_id,
                    }
                )
            ]
        else:
            fail("give --title (and the other fields) or --file", 2)
    except ValueError as exc:
        fail(str(exc), 2)
    runtime = celery_app().runtime
    settings = runtime.settings
    assert settings.media_dir is not None  # set at start-up
    stored: list[Media] = []
    try:
        with runtime.sessions() as session:
            if file is not None and (entries := _entries(data)):
                # The files first; the items then point at what was stored.
                stored = store_paths(
                    session, settings.media_dir, file.parent, entries, settings.media_max_bytes
                )
                drafts = drafts_from_json(data)
            if embargo_until is not None:
                item = create_item(session, runtime.taxonomy, drafts[0])
                items = [embargo(session, item, embargo_until, utcnow())]
            else:
                items = create_and_publish(session, runtime.taxonomy, drafts)
            session.commit()
            stored = []  # committed: the files are the rows' now
            rows = [
                fields_of(item)
                | {"translations": sorted(t.language for t in item.translation_rows)}
                for item in items
            ]
    except (InvalidItem, MediaRefused, ValueError) as exc:
        fail(str(exc), 2)
    except (OperationalError, ProgrammingError) as exc:
        schema_hint(exc)
    finally:
        discard(settings.media_dir, stored)  # nothing stored stays behind a refusal
    if as_json:
        print_json({"items": rows})
        return
    for item in items:
        console.print(item.id)


def _entries(data: Any) -> list[Any]:
    """The items of a --file's JSON (a list, or an object with an "items" list)."""
    items = data.get("items") if isinstance(data, dict) else data
    return items if isinstance(items, list) else []


def _with_placeholders(data: Any) -> Any:
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        return data | {"items": with_placeholders(data["items"])}
    return with_placeholders(data) if isinstance(data, list) else data
