"""GET /media/{id}/{name}: stored photos and documents, cached for a year.

A stored file never changes (a new upload gets a new id), so browsers, mail
clients' image proxies and any CDN in front may keep it as long as they like.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, Response

from alerts.core.models import Media
from alerts.media.store import media_file
from alerts.web.state import runtime as _runtime

router = APIRouter(include_in_schema=False)

_IMAGE_TYPES = {".jpg": "image/jpeg", ".png": "image/png"}


@router.get("/media/{media_id}/{name}")
def media(request: Request, media_id: str, name: str) -> Response:
    rt = _runtime(request)
    root = rt.settings.media_dir
    path = media_file(root, media_id, name) if root is not None else None
    if path is None:
        raise HTTPException(404, "No such file.")
    with rt.sessions() as session:
        row = session.get(Media, media_id)
    if row is None:  # files of an upload whose record was never written
        raise HTTPException(404, "No such file.")
    content_type = _IMAGE_TYPES.get(path.suffix, "") if row.kind == "image" else row.content_type
    if not content_type:
        raise HTTPException(404, "No such file.")
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
    }
    if row.kind == "document" and content_type != "application/pdf":
        headers["Content-Disposition"] = f'attachment; filename="{row.filename}"'
    return FileResponse(path, media_type=content_type, headers=headers)
