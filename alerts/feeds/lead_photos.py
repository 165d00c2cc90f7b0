"""Feed entries' lead photos: downloaded through the address guard, then stored cleaned.

The photo's URL comes from the feed, so it is as untrusted as the feed itself: it
goes through the poll's own guarded client (public addresses only, every hop,
redirects included), with a size limit (``ALERTS_MEDIA_MAX_BYTES``) and a
deadline for the whole download (``ALERTS_FEED_IMAGE_TIMEOUT_SECONDS``), so a
server dripping bytes cannot hold a poll. Downloads happen with no session open;
storing (Pillow's check, EXIF and every other metadata block dropped) happens in
the poll's transaction, so an item never points at a photo that was not kept,
and a photo is never kept for an item that was not stored.

Any failure leaves the entry a draft (never published) with the reason in the
poll's result and on the item (``Item.import_problem``), for staff to fix the
photo by hand.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from alerts.core.models import Media
from alerts.core.settings import Settings
from alerts.feeds.enclosures import EntryImage
from alerts.feeds.guard import AddressRefused
from alerts.items.drafts import ItemDraft
from alerts.items.rich_fields import ImageRef
from alerts.media.refusal import MediaRefused
from alerts.media.store import add_media

# Any name with an image suffix sends the bytes down the image path of the media
# store, so Pillow (not the document check) decides: an HTML page or a PDF served
# as the photo is refused, never stored as a document.
STORED_NAME = "lead-photo.jpg"
ACCEPT = "image/jpeg, image/png, image/gif, image/webp"


@dataclass(frozen=True)
class LeadPhotos:
    """Where photos are stored and how much a download may take."""

    root: Path
    max_bytes: int
    timeout: float

    @classmethod
    def of(cls, settings: Settings) -> LeadPhotos:
        assert settings.media_dir is not None  # set at start-up
        return cls(
            settings.media_dir, settings.media_max_bytes, settings.feed_image_timeout_seconds
        )


class PhotoFailed(Exception):
    """The photo could not be had; ``str(error)`` is the reason staff read."""


def download(client: httpx.Client, url: str, photos: LeadPhotos) -> bytes:
    """The photo's bytes, or PhotoFailed saying why not."""
    deadline = time.monotonic() + photos.timeout
    limit_mb = f"{photos.max_bytes / 1_000_000:g} MB"
    try:
        with client.stream(
            "GET", url, headers={"Accept": ACCEPT}, timeout=photos.timeout
        ) as response:
            if not response.is_success:
                raise PhotoFailed(f"HTTP {response.status_code} {response.reason_phrase}")
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type.startswith("image/svg"):
                raise PhotoFailed("an SVG image, which is not accepted")
            if content_type.startswith("text/"):
                raise PhotoFailed(f"not an image ({content_type})")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > photos.max_bytes:
                raise PhotoFailed(f"larger than the limit of {limit_mb}")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > photos.max_bytes:
                    raise PhotoFailed(f"larger than the limit of {limit_mb}")
                if time.monotonic() > deadline:
                    raise PhotoFailed(f"timed out after {photos.timeout:g} s")
                chunks.append(chunk)
            return b"".join(chunks)
    except AddressRefused as exc:  # before TransportError, which it is
        raise PhotoFailed(f"address refused: {exc}") from exc
    except httpx.TimeoutException as exc:
        raise PhotoFailed(f"timed out after {photos.timeout:g} s") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise PhotoFailed(f"{type(exc).__name__}: {exc}") from exc


def download_all(
    client: httpx.Client, images: dict[str, EntryImage], photos: LeadPhotos
) -> dict[str, bytes | str]:
    """Each entry key's photo bytes, or the reason it has none."""
    got: dict[str, bytes | str] = {}
    for key, image in images.items():
        try:
            got[key] = download(client, image.url, photos)
        except PhotoFailed as exc:
            got[key] = str(exc)
    return got


@dataclass(frozen=True)
class StoredPhoto:
    ref: ImageRef
    media: Media


def store(
    session: Session, photos: LeadPhotos, image: EntryImage, downloaded: bytes | str | None
) -> StoredPhoto | str:
    """The photo stored and recorded in the session (not committed), or why not."""
    if downloaded is None:
        return "not downloaded"
    if isinstance(downloaded, str):
        return downloaded
    try:
        media = add_media(session, photos.root, STORED_NAME, downloaded, photos.max_bytes)
    except MediaRefused as exc:
        return str(exc).rstrip(".")
    ref = ImageRef(media_id=media.id, alt=image.alt, caption=image.caption, credit=image.credit)
    return StoredPhoto(ref, media)


def attach(
    session: Session,
    photos: LeadPhotos,
    image: EntryImage,
    downloaded: bytes | str | None,
    draft: ItemDraft,
    stored: list[str] | None,
) -> tuple[ItemDraft, StoredPhoto | str]:
    """The draft with its photo stored (its id noted in ``stored``), or as it was and why."""
    photo = store(session, photos, image, downloaded)
    if isinstance(photo, str):
        return draft, photo
    if stored is not None:
        stored.append(photo.media.id)
    return draft.model_copy(update={"image": photo.ref}), photo


def unstore(session: Session, photos: LeadPhotos, stored: StoredPhoto) -> None:
    """Take back a photo whose item was not stored: no row, no files."""
    if inspect(stored.media).persistent:  # already flushed: its INSERT is in the transaction
        session.delete(stored.media)
    else:
        session.expunge(stored.media)
    discard(photos, [stored.media.id])


def discard(photos: LeadPhotos, media_ids: list[str]) -> None:
    """Remove the files of photos stored in a transaction that did not commit."""
    for media_id in media_ids:
        shutil.rmtree(photos.root / media_id, ignore_errors=True)
