"""Local files named by an items file (``alerts publish --file``), stored all or nothing.

An item in the file may name its photo and documents by ``path`` (relative to the
file) instead of ``media_id``. Each is checked and stored as an upload would be,
and the entry is rewritten to carry the stored id. If any one is refused, every
file already stored for the run is removed again, and the caller writes nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from alerts.core.models import Media
from alerts.media.refusal import MediaRefused
from alerts.media.store import add_media

# Stands in for an id while an entry's shape is checked, before any file is stored.
PLACEHOLDER_ID = "local-file-not-yet-stored"


def _refs(entries: list[Any]) -> Iterator[tuple[int, str, dict[str, Any], str]]:
    """(item number, field, the reference object, the kind it needs) for each path given."""
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            continue
        image = entry.get("image")
        if isinstance(image, dict) and "path" in image:
            yield number, "image", image, "image"
        attachments = entry.get("attachments")
        for index, ref in enumerate(attachments if isinstance(attachments, list) else []):
            if isinstance(ref, dict) and "path" in ref:
                yield number, f"attachments.{index}", ref, "document"


def with_placeholders(entries: list[Any]) -> list[Any]:
    """A copy of the entries with every ``path`` replaced by a placeholder id, so their
    shape (alt text, titles, unknown keys) is checked before anything is stored."""
    copies = [dict(e) if isinstance(e, dict) else e for e in entries]
    for entry in copies:
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("image"), dict):
            entry["image"] = _placeholder(entry["image"])
        if isinstance(entry.get("attachments"), list):
            entry["attachments"] = [
                _placeholder(r) if isinstance(r, dict) else r for r in entry["attachments"]
            ]
    return copies


def _placeholder(ref: dict[str, Any]) -> dict[str, Any]:
    if "path" not in ref:
        return ref
    out = {k: v for k, v in ref.items() if k != "path"}
    if "media_id" in out:
        raise ValueError("give either path or media_id, not both")
    return out | {"media_id": PLACEHOLDER_ID}


def store_paths(
    session: Session, root: Path, base_dir: Path, entries: list[Any], max_bytes: int
) -> list[Media]:
    """Store every file the entries name by ``path`` and put its id in their place.

    Returns the media added to the session (not committed); on a refusal raises
    ``MediaRefused`` naming the item, the field and the file, with nothing left.
    """
    refs = list(_refs(entries))
    for number, field, ref, _ in refs:  # every file found before any is stored
        path = base_dir / str(ref["path"])
        if not path.is_file():
            raise MediaRefused(f"item {number}: {field}.path: no such file: {ref['path']}")
    stored: list[Media] = []
    try:
        for number, field, ref, kind in refs:
            path = base_dir / str(ref["path"])
            try:
                if path.stat().st_size > max_bytes:
                    raise MediaRefused(
                        f"The file is over the limit of {max_bytes // 1_000_000} MB."
                    )
                media = add_media(session, root, path.name, path.read_bytes(), max_bytes)
            except MediaRefused as exc:
                raise MediaRefused(f"item {number}: {field}.path {ref['path']}: {exc}") from exc
            stored.append(media)
            if media.kind != kind:
                raise MediaRefused(
                    f"item {number}: {field}.path {ref['path']}: this is "
                    f"{'an image' if media.kind == 'image' else 'a document'}, "
                    f"not {'an image' if kind == 'image' else 'a document'}"
                )
            del ref["path"]
            ref["media_id"] = media.id
    except BaseException:
        discard(root, stored)
        raise
    return stored


def discard(root: Path, stored: list[Media]) -> None:
    """Remove the files of media stored in a run that is being abandoned."""
    for media in stored:
        shutil.rmtree(root / media.id, ignore_errors=True)
