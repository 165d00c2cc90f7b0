"""The staff compose form, read into the draft shape the API takes.

The page is a plain multipart form (it works without JavaScript); this module
turns its flat fields into ``ItemDraft`` data: the lead photo, documents,
notes and contacts as ``items.rich_fields`` shapes, regions expanded into their
countries (items name countries only). A photo or document chosen in the form
is stored first, through the same ``media.store.add_media`` as ``POST
/api/media``; its id then travels in a hidden field, so the next submit does
not send the file again. A refused file leaves nothing stored and names the
field it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from alerts.core.models import Media
from alerts.core.settings import Settings
from alerts.core.taxonomy import regions
from alerts.items.drafts import ItemDraft
from alerts.media.refusal import MediaRefused
from alerts.media.store import add_media, looks_like_image, public_url, variant_names
from alerts.web import state

LISTS = ("countries", "topics", "regions", "attachment_id", "attachment_title", "attachment_remove")
FILES = ("photo", "document")
# Where each part of the draft is typed on the page: errors link to that field.
_FIELD_IDS = {
    "title": "title",
    "summary": "summary",
    "body": "body",
    "url": "url",
    "kind": "kind",
    "campaign": "campaign",
    "countries": "countries",
    "topics": "topics",
    "notes": "notes",
    "contacts": "contacts",
    "attachments": "document",
}
_IMAGE_FIELD_IDS = {"alt": "image_alt", "caption": "image_caption", "credit": "image_credit"}


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


@dataclass
class RawCompose:
    """What the browser sent, before anything is checked or stored."""

    values: dict[str, str]
    lists: dict[str, list[str]]
    files: dict[str, Upload]
    too_big: list[str] = field(default_factory=list)

    def text(self, name: str) -> str:
        return self.values.get(name, "")


@dataclass(frozen=True)
class FieldError:
    """A problem, and the id of the field it is about ("" when it is about the whole item)."""

    field: str
    message: str


@dataclass
class Composed:
    fields: dict[str, Any]
    errors: list[FieldError]
    stored: list[str] = field(default_factory=list)  # media ids stored by this submit


async def read_compose(request: Request) -> RawCompose:
    """The form as sent (a FastAPI dependency: the handlers that use it stay synchronous)."""
    limit = state.runtime(request).settings.media_max_bytes
    form = await request.form(max_files=len(FILES), max_fields=2000)
    values: dict[str, str] = {}
    lists: dict[str, list[str]] = {name: [] for name in LISTS}
    files: dict[str, Upload] = {}
    too_big: list[str] = []
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if name not in FILES or not value.filename:
                continue  # an empty file input: nothing chosen
            data = await value.read(limit + 1)
            if len(data) > limit:
                too_big.append(name)
            else:
                files[name] = Upload(value.filename, data)
        elif name in LISTS:
            lists[name].append(value)
        else:
            values[name] = value
    return RawCompose(values, lists, files, too_big)


def store_uploads(session: Session, settings: Settings, raw: RawCompose) -> list[FieldError]:
    """Store the chosen photo and document (not committed); their ids go into ``raw``."""
    limit = f"The file is over the limit of {settings.media_max_bytes // 1_000_000} MB."
    errors = [FieldError(name, limit) for name in raw.too_big]
    assert settings.media_dir is not None  # set at start-up
    for name, upload in raw.files.items():
        image = looks_like_image(upload.data, upload.filename)
        if name == "photo" and not image:
            errors.append(FieldError(name, "The photo must be a JPEG, PNG, GIF or WebP image."))
            continue
        if name == "document" and image:
            errors.append(FieldError(name, "That is an image: choose it as the photo instead."))
            continue
        try:
            media = add_media(
                session, settings.media_dir, upload.filename, upload.data, settings.media_max_bytes
            )
        except MediaRefused as exc:
            errors.append(FieldError(name, str(exc)))
            continue
        if name == "photo":
            raw.values["image_media_id"] = media.id
            raw.values.pop("image_remove", None)
        else:
            title = raw.text("document_title").strip() or upload.filename
            raw.lists["attachment_id"].append(media.id)
            raw.lists["attachment_title"].append(title[:200])
            raw.values["document_title"] = ""
    return errors


_CONTACT_PARTS = ("name", "role", "email", "phone", "languages", "timezone")


def _contacts(text: str) -> list[dict[str, Any]] | None:
    """One contact a line, "name; role; email; phone; languages; time zone" (languages
    comma-separated; the last parts may be left out); nothing typed: the newsroom's."""
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(";")]
        if not any(parts):
            continue
        parts += [""] * (len(_CONTACT_PARTS) - len(parts))
        row: dict[str, Any] = dict(zip(_CONTACT_PARTS, parts[:6], strict=True))
        row["languages"] = [code.strip() for code in row["languages"].split(",") if code.strip()]
        rows.append(row)
    return rows or None


def contact_line(contact: dict[str, Any]) -> str:
    """A stored contact as the line that reads back into the same contact."""
    parts = [str(contact.get(name) or "") for name in _CONTACT_PARTS[:4]]
    parts += [", ".join(contact.get("languages") or []), str(contact.get("timezone") or "")]
    return "; ".join(parts).rstrip("; ")


def _countries(raw: RawCompose) -> list[str]:
    """The countries chosen, and those of each region chosen (items name countries only)."""
    chosen = [c for c in raw.lists["countries"] if c.strip()]
    known = regions()
    for slug in raw.lists["regions"]:
        if slug in known:
            chosen.extend(sorted(known[slug][1]))
    return sorted(set(chosen))


def draft_fields(raw: RawCompose) -> dict[str, Any]:
    """The form in the shape ``drafts.parse_draft`` (and the API) takes."""
    image = None
    if raw.text("image_media_id") and not raw.text("image_remove"):
        image = {
            "media_id": raw.text("image_media_id"),
            "alt": raw.text("image_alt"),
            "caption": raw.text("image_caption"),
            "credit": raw.text("image_credit"),
        }
    removed = set(raw.lists["attachment_remove"])
    attachments = [
        {"media_id": media_id, "title": title}
        for media_id, title in zip(
            raw.lists["attachment_id"], raw.lists["attachment_title"], strict=False
        )
        if media_id not in removed
    ]
    notes = raw.text("notes").strip()
    return {
        "title": raw.text("title"),
        "summary": raw.text("summary"),
        "body": raw.text("body"),
        "url": raw.text("url") or None,
        "kind": raw.text("kind") or "press_release",
        "language": raw.text("language") or "en",
        "campaign": raw.text("campaign") or None,
        "countries": _countries(raw),
        "topics": raw.lists["topics"],
        "image": image,
        "attachments": attachments,
        "notes": notes or None,
        "contacts": _contacts(raw.text("contacts")),
    }


def field_id(loc: tuple[int | str, ...] | list[str]) -> str:
    """The page's field for a draft location (``image.alt`` → ``image_alt``)."""
    parts = [str(p) for p in loc]
    if not parts:
        return ""
    if parts[0] == "image":
        return _IMAGE_FIELD_IDS.get(parts[1] if len(parts) > 1 else "", "photo")
    return _FIELD_IDS.get(parts[0], "")


_MESSAGES = {
    "image_alt": "Describe the photo in the alt text: it is read aloud to readers who cannot "
    "see it, and shown when images are off.",
    "title": "Give the item a title.",
}


def check(fields: dict[str, Any]) -> list[FieldError]:
    """Each field's problem, in words staff can act on (nothing is stored here)."""
    if fields["image"] is not None and not str(fields["image"]["alt"]).strip():
        alt_missing = [FieldError("image_alt", _MESSAGES["image_alt"])]
    else:
        alt_missing = []
    try:
        ItemDraft.model_validate(fields)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            where = field_id(err["loc"])
            if where == "image_alt" and alt_missing:
                continue
            message = _MESSAGES.get(where) if err["type"] == "string_too_short" else None
            if message is None:
                path = ".".join(str(p) for p in err["loc"][1:])
                message = f"{err['msg']}" + (f" ({path})" if path else "")
            errors.append(FieldError(where, message))
        return alt_missing + errors
    return alt_missing


def compose(session: Session, settings: Settings, raw: RawCompose) -> Composed:
    """Store what was uploaded, then the draft fields and every problem found in them."""
    before = {raw.text("image_media_id"), *raw.lists["attachment_id"]}
    upload_errors = store_uploads(session, settings, raw)
    fields = draft_fields(raw)
    stored = sorted({raw.text("image_media_id"), *raw.lists["attachment_id"]} - before - {""})
    return Composed(fields, upload_errors + check(fields), stored)


def rich_view(session: Session, settings: Settings, fields: dict[str, Any]) -> dict[str, Any]:
    """The photo (with its thumbnail), documents, notes and contacts as the page shows them."""
    image = fields.get("image")
    attachments = list(fields.get("attachments") or [])
    ids = [a["media_id"] for a in attachments] + ([image["media_id"]] if image else [])
    media = (
        {m.id: m for m in session.scalars(select(Media).where(Media.id.in_(ids)))} if ids else {}
    )
    base = settings.media_base_url
    photo = None
    if image:
        found = media.get(image["media_id"])
        thumb = (
            public_url(base, found, variant_names(found)["email"])
            if found is not None and found.kind == "image"
            else ""
        )
        photo = dict(image) | {"thumb": thumb}
    documents = []
    for ref in attachments:
        found = media.get(ref["media_id"])
        documents.append(
            dict(ref)
            | {
                "url": public_url(base, found) if found is not None else "",
                "label": found.label if found is not None else "",
            }
        )
    contacts = fields.get("contacts") or []
    return {
        "photo": photo,
        "documents": documents,
        "notes": fields.get("notes") or "",
        "contacts": "\n".join(contact_line(c) for c in contacts),
    }
