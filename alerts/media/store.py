"""Storing an upload: checked, cleaned, written to the media folder, then recorded.

Files are written into a private folder first and moved into place in one rename,
and the row is added only after that: a refused or interrupted upload leaves no
file an item could point at, and no row without its files.
"""

from __future__ import annotations

import re
import secrets
import shutil
from pathlib import Path, PurePath

from sqlalchemy.orm import Session

from alerts.core.models import Media, utcnow
from alerts.media.documents import identify
from alerts.media.images import clean_image
from alerts.media.refusal import MediaRefused

_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg", ".svgz"}
_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def looks_like_image(data: bytes, filename: str) -> bool:
    """Whether the upload is meant as an image (then Pillow, not the document check, decides)."""
    webp = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    head = data[:256].lstrip().lower()
    svg = head.startswith((b"<svg", b"<?xml")) and b"<svg" in data[:4096].lower()
    suffix = PurePath(filename).suffix.lower()
    return data.startswith(_IMAGE_MAGIC) or webp or svg or suffix in _IMAGE_SUFFIXES


def _safe_name(filename: str, suffix: str) -> str:
    stem = _UNSAFE.sub("-", PurePath(filename).stem).strip("-.")[:80] or "document"
    return f"{stem}{suffix}"


def add_media(session: Session, root: Path, filename: str, data: bytes, max_bytes: int) -> Media:
    """The upload stored and recorded (not committed), or ``MediaRefused`` with nothing left."""
    if len(data) > max_bytes:
        raise MediaRefused(f"The file is over the limit of {max_bytes // 1_000_000} MB.")
    if not data:
        raise MediaRefused("The file is empty.")
    media_id = secrets.token_urlsafe(16)
    files: dict[str, bytes] = {}
    if looks_like_image(data, filename):
        image = clean_image(data)
        for name, variant in image.variants.items():
            files[f"{name}{_EXTENSIONS[variant.content_type]}"] = variant.data
        web = image.variants["web"]
        media = Media(
            id=media_id,
            kind="image",
            content_type=web.content_type,
            label="JPEG" if web.content_type == "image/jpeg" else "PNG",
            filename=f"web{_EXTENSIONS[web.content_type]}",
            size=len(web.data),
            width=web.width,
            height=web.height,
        )
    else:
        kind = identify(data, filename)
        stored = _safe_name(filename, kind.extensions[0])
        files[stored] = data
        media = Media(
            id=media_id,
            kind="document",
            content_type=kind.content_type,
            label=kind.label,
            filename=stored,
            size=len(data),
        )
    media.created_at = utcnow()
    _write(root, media_id, files)
    session.add(media)
    return media


def _write(root: Path, media_id: str, files: dict[str, bytes]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    incoming = root / f".incoming-{media_id}"
    incoming.mkdir()
    try:
        for name, data in files.items():
            (incoming / name).write_bytes(data)
        incoming.rename(root / media_id)  # in place all at once, or not at all
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise


def media_file(root: Path, media_id: str, name: str) -> Path | None:
    """The stored file for a public URL's last two parts, or None (no path tricks)."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{10,40}", media_id) or not re.fullmatch(
        r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}", name
    ):
        return None
    path = root / media_id / name
    return path if path.is_file() else None


def public_url(base_url: str, media: Media, name: str | None = None) -> str:
    """Where readers fetch the file: the app's /media, or the configured CDN."""
    return f"{base_url.rstrip('/')}/{media.id}/{name or media.filename}"


def variant_names(media: Media) -> dict[str, str]:
    """An image's files by variant ("email", "email2x", "web"); a document's one file."""
    if media.kind != "image":
        return {"file": media.filename}
    suffix = PurePath(media.filename).suffix
    return {name: f"{name}{suffix}" for name in ("email", "email2x", "web")}
