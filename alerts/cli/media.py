"""``alerts media add FILE``: store a photo or a document, as POST /api/media does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from alerts.cli.common import celery_app, fail
from alerts.core.models import Media
from alerts.media.refusal import MediaRefused
from alerts.media.store import add_media, public_url

app = typer.Typer(help="Photos and documents for releases.", no_args_is_help=True)


def media_json(base_url: str, row: Media) -> dict[str, object]:
    """The same shape as POST /api/media answers."""
    return {
        "id": row.id,
        "url": public_url(base_url, row),
        "type": row.content_type,
        "size": row.size,
        "width": row.width,
        "height": row.height,
    }


@app.command("add")
def add(
    file: Annotated[Path, typer.Argument(help="A JPEG, PNG, GIF or WebP photo, or a document.")],
) -> None:
    """Store FILE (photos are cleaned of all metadata and resized) and print its id and URL."""
    runtime = celery_app().runtime
    settings = runtime.settings
    if not file.is_file():
        fail(f"No such file: {file}")
    if file.stat().st_size > settings.media_max_bytes:
        fail(f"The file is over the limit of {settings.media_max_bytes // 1_000_000} MB.")
    assert settings.media_dir is not None  # set at start-up
    with runtime.sessions() as session:
        try:
            row = add_media(
                session, settings.media_dir, file.name, file.read_bytes(), settings.media_max_bytes
            )
        except MediaRefused as exc:
            fail(str(exc))
        session.commit()
        typer.echo(json.dumps(media_json(settings.media_base_url, row)))
