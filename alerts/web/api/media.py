"""POST /api/media: a photo or a document uploaded (multipart), checked, cleaned, stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, HTTPException, UploadFile
from sqlalchemy.orm import Session

from alerts.core.runtime import Runtime
from alerts.media.refusal import MediaRefused
from alerts.media.store import add_media, public_url
from alerts.web.api.deps import Staff, require, runtime, session

router = APIRouter(prefix="/media", tags=["media"])

Db = Annotated[Session, Depends(session)]
Rt = Annotated[Runtime, Depends(runtime)]
Writer = Annotated[Staff, Depends(require("items:write"))]


@router.post("", status_code=201)
async def upload(
    file: Annotated[UploadFile, File()], db: Db, rt: Rt, _: Writer
) -> dict[str, object]:
    """Store the file; photos lose all metadata and are resized. Refusals are 422, with why."""
    settings = rt.settings
    assert settings.media_dir is not None  # set at start-up
    # python-multipart has spooled the part to a temporary file as it arrived; the
    # body limit (ALERTS_MEDIA_MAX_BYTES) has already cut off anything larger.
    data = await file.read(settings.media_max_bytes + 1)
    if len(data) > settings.media_max_bytes:
        raise HTTPException(
            413, f"The file is over the limit of {settings.media_max_bytes // 1_000_000} MB."
        )
    try:
        row = add_media(
            db, settings.media_dir, file.filename or "upload", data, settings.media_max_bytes
        )
    except MediaRefused as exc:
        raise HTTPException(422, str(exc)) from exc
    db.commit()
    return {
        "id": row.id,
        "url": public_url(settings.media_base_url, row),
        "type": row.content_type,
        "size": row.size,
        "width": row.width,
        "height": row.height,
    }
