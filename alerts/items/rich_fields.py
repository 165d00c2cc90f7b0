"""The rich parts of a release: a lead photo, documents, notes to editors, media contacts.

The shapes are the same on every route (staff API, ``alerts publish --file``, the
stored item): files are named by the id the media store gave them, so an item
only ever points at a photo already cleaned of its metadata, or at a document
already recognised by its content. ``check_media`` makes sure each id names a
stored file of the right kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.core.models import Item, Media

_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{3,38}[0-9]$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")
MediaId = Field(min_length=10, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")


class StrictPart(BaseModel):
    # Unknown keys are errors here too: a misspelt "caption" must not vanish.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ImageRef(StrictPart):
    """The lead photo: alt text is required (read aloud, and shown when images are off)."""

    media_id: str = MediaId
    alt: str = Field(min_length=1, max_length=300)
    caption: str = Field(default="", max_length=500)
    credit: str = Field(default="", max_length=200)


class AttachmentRef(StrictPart):
    """A document linked from the email (never attached to it)."""

    media_id: str = MediaId
    title: str = Field(min_length=1, max_length=200)


class Contact(StrictPart):
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=320)
    phone: str = Field(default="", max_length=40)
    languages: list[str] = Field(default_factory=list, max_length=10)
    timezone: str = Field(default="", max_length=64)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if value and not _EMAIL.match(value):
            raise ValueError("not an email address")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        if value and not _PHONE.match(value):
            raise ValueError("a phone number has digits, spaces, + ( ) . - only")
        return value

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        for code in value:
            if not _LANGUAGE.match(code):
                raise ValueError(f"{code[:20]!r} is not a language code (en, es, pt-BR)")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if value and value not in _zones():
            raise ValueError(f"{value[:64]!r} is not an IANA time zone (Europe/Madrid)")
        return value


_ZONES: set[str] = set()


def _zones() -> set[str]:
    if not _ZONES:  # read from the system's tz database once, when first needed
        _ZONES.update(available_timezones())
    return _ZONES


class RichFields(StrictPart):
    """The rich fields as one checked value (an item's, or staff's edit of them)."""

    image: ImageRef | None = None
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=20)
    notes: str | None = Field(default=None, max_length=20_000)
    contacts: list[Contact] | None = Field(default=None, max_length=20)


@dataclass(frozen=True)
class MediaProblem:
    """An id that names no stored file, or one of the wrong kind; ``field`` says which."""

    field: str
    message: str


def check_media(session: Session, rich: RichFields) -> MediaProblem | None:
    """The first media id that does not name a stored file of the kind its place needs."""
    wanted: list[tuple[str, str, str]] = []  # (field, media id, kind)
    if rich.image is not None:
        wanted.append(("image.media_id", rich.image.media_id, "image"))
    for index, attachment in enumerate(rich.attachments):
        wanted.append((f"attachments.{index}.media_id", attachment.media_id, "document"))
    if not wanted:
        return None
    ids = {media_id for _, media_id, _ in wanted}
    rows = session.execute(select(Media.id, Media.kind).where(Media.id.in_(ids))).all()
    kinds = {media_id: kind for media_id, kind in rows}
    for field, media_id, kind in wanted:
        found = kinds.get(media_id)
        if found is None:
            return MediaProblem(field, f"no stored file has the id {media_id!r}")
        if found != kind:
            what = "an image" if kind == "image" else "a document"
            return MediaProblem(field, f"{media_id!r} is {_article(found)}, not {what}")
    return None


def _article(kind: str) -> str:
    return "an image" if kind == "image" else "a document"


def apply(item: Item, rich: RichFields) -> None:
    """The checked fields onto the item, as the JSON the columns hold."""
    item.image = rich.image.model_dump() if rich.image is not None else None
    item.attachments = [a.model_dump() for a in rich.attachments] or None
    item.notes = rich.notes
    item.contacts = [c.model_dump() for c in rich.contacts] if rich.contacts is not None else None


def of_item(item: Item) -> dict[str, Any]:
    """The item's rich fields in the shape they were given (for edits and the API)."""
    return {
        "image": item.image,
        "attachments": list(item.attachments or []),
        "notes": item.notes,
        "contacts": item.contacts,
    }
